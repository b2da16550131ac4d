"""A Patient identifier (system + value) belongs to one Patient, held by the database so that
concurrent requests cannot break it; conditional create stays safe under concurrency (issue 10)."""

from __future__ import annotations

import threading

from tests.support.records import FHIR, MRN, patient, post, put, seed_classes


def _clerk(server, as_role):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    # the clerk's first write makes their Practitioner; done here, so the concurrent writes
    # below race for the identifier alone
    assert post(clerk, "Patient", patient(mrn="0001-warm-up")).status_code == 201
    return clerk


def test_duplicate_identifier_is_409_and_nothing_is_stored(server, as_role):
    clerk = _clerk(server, as_role)
    first = post(clerk, "Patient", patient(mrn="0042"))
    assert first.status_code == 201
    for twin in (patient(family="別人", mrn="0042"), patient(family="別人", mrn="００４２")):  # normalised alike
        r = post(clerk, "Patient", twin)
        assert r.status_code == 409 and r.json()["resourceType"] == "OperationOutcome", r.text
    assert clerk.get("/fhir/Patient", params={"identifier": "0042"}).json()["total"] == 1
    # the same value under another system is another identifier
    other = patient(mrn="0042")
    other["identifier"] = [{"system": "urn:oid:1.2.392.100495.20.3.51.1999999999", "value": "0042"}]
    assert post(clerk, "Patient", other).status_code == 201
    # a Patient keeps its own identifier through an update, but cannot take another's
    second = post(clerk, "Patient", patient(mrn="0043")).json()["id"]
    assert put(clerk, "Patient", second, {**patient(mrn="0043", given="次郎"), "id": second}).status_code == 200
    taken = put(clerk, "Patient", second, {**patient(mrn="0042"), "id": second})
    assert taken.status_code == 409
    assert clerk.get(f"/fhir/Patient/{second}").json()["meta"]["versionId"] == "2"
    # once the first lets it go, it is free
    pid = first.json()["id"]
    assert put(clerk, "Patient", pid, {**patient(mrn="0044"), "id": pid}).status_code == 200
    assert put(clerk, "Patient", second, {**patient(mrn="0042"), "id": second}).status_code == 200


def test_transaction_with_the_same_identifier_twice_stores_nothing(server, as_role):
    clerk = _clerk(server, as_role)
    entry = {"request": {"method": "POST", "url": "Patient"}, "resource": patient(mrn="0050")}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    r = clerk.post("/fhir", json=bundle, headers={"Content-Type": FHIR})
    assert r.status_code == 409, r.text
    assert clerk.get("/fhir/Patient", params={"identifier": "0050"}).json()["total"] == 0


def _at_once(n, call):
    """Run call(i) in n threads released together; the responses in order."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i):
        barrier.wait()
        out[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_concurrent_conditional_creates_make_one_patient(server, as_role):
    clerk = _clerk(server, as_role)
    token = clerk.headers["Authorization"]

    def create(i):
        with server.client(headers={"Authorization": token}) as c:
            return post(c, "Patient", patient(mrn="0777"), **{"If-None-Exist": f"identifier={MRN}|0777"})

    answers = _at_once(8, create)
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 7 + [201], [(r.status_code, r.text[:200]) for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert clerk.get("/fhir/Patient", params={"identifier": "0777"}).json()["total"] == 1


def test_concurrent_plain_creates_make_one_patient(server, as_role):
    clerk = _clerk(server, as_role)
    token = clerk.headers["Authorization"]

    def create(i):
        with server.client(headers={"Authorization": token}) as c:
            return post(c, "Patient", patient(mrn="0888", given=f"太郎{i}"))

    answers = _at_once(8, create)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 7, [(r.status_code, r.text[:200]) for r in answers]
    assert all("identifier" in r.text for r in answers if r.status_code == 409)
    assert clerk.get("/fhir/Patient", params={"identifier": "0888"}).json()["total"] == 1
