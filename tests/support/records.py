"""Resources for the records tests: JP Core style patients and their 医事 records."""

from __future__ import annotations

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.classes import service as classes
from tests.factories import ADMIN

REP = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
MRN = "urn:oid:1.2.392.100495.20.3.51.11318814"


def patient(family="山田", given="太郎", kana=("ヤマダ", "タロウ"), mrn="00001", birth="1970-01-02",
            gender="male", security=None) -> dict:
    r = {"resourceType": "Patient",
         "identifier": [{"system": MRN, "value": mrn}],
         "name": [{"use": "official", "family": family, "given": [given],
                   "extension": [{"url": REP, "valueCode": "IDE"}]},
                  {"use": "official", "family": kana[0], "given": [kana[1]],
                   "extension": [{"url": REP, "valueCode": "SYL"}]}],
         "gender": gender, "birthDate": birth}
    if security:
        r["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                   "code": security}]}
    return r


def encounter(pid: str, start="2026-04-01T09:00:00+09:00") -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"}, "period": {"start": start}}


def coverage(pid: str) -> dict:
    return {"resourceType": "Coverage", "status": "active", "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [{"display": "全国健康保険協会"}], "period": {"start": "2026-01-01"}}


def charge(pid: str, when="2026-04-01", code="111000110", display="初診料") -> dict:
    return {"resourceType": "ChargeItem", "status": "billable",
            "code": {"coding": [{"system": "urn:oid:1.2.392.100495.20.2.71", "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{pid}"}, "occurrenceDateTime": when}


def invoice(pid: str, when="2026-04-01") -> dict:
    return {"resourceType": "Invoice", "status": "issued", "subject": {"reference": f"Patient/{pid}"},
            "date": when}


def document(pid: str, data_b64: str | None = None, when="2026-04-01T10:00:00+09:00") -> dict:
    att = {"contentType": "application/pdf", "title": "紹介状"}
    if data_b64 is not None:
        att["data"] = data_b64
    return {"resourceType": "DocumentReference", "status": "current",
            "subject": {"reference": f"Patient/{pid}"}, "date": when, "content": [{"attachment": att}]}


def user_subject(user, clearance="N") -> Subject:
    return Subject(id=user.id, name=user.username, roles=frozenset(Role(r) for r in user.roles),
                   clearance=clearance)


def seed_classes(kura) -> None:
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)


FHIR = "application/fhir+json"


def post(client, rtype: str, body: dict, **headers):
    return client.post(f"/fhir/{rtype}", json=body, headers={"Content-Type": FHIR, **headers})


def put(client, rtype: str, id: str, body: dict, **headers):
    return client.put(f"/fhir/{rtype}/{id}", json=body, headers={"Content-Type": FHIR, **headers})
