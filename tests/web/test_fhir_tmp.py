from tests.unit.records.helpers import *
def test_x(server, as_role):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    pid = post(clerk, "Patient", patient()).json()["id"]
    print(clerk.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).text)
