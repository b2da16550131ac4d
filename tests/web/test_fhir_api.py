"""FHIR R4 at /fhir per the README: each interaction over the real wire."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from kura.audit import service as audit
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.support.records import (FHIR, charge, coverage, document, encounter, invoice, patient, post, put,
                                        seed_classes)


@pytest.fixture
def clerk(server, as_role):
    seed_classes(server.kura)
    return as_role("clerk")


def _tag(resource):
    return [t["code"] for t in resource["meta"]["tag"] if t["system"] == "urn:kura:status"]


def test_unauthenticated_is_401_with_operation_outcome(server):
    with server.client() as c:
        r = c.get("/fhir/Patient")
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"


def test_create_read_vread_update_confirm_history(clerk):
    r = post(clerk, "Patient", patient())
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith(FHIR) and r.headers["etag"] == 'W/"1"'
    pid = r.json()["id"]
    assert r.headers["location"].endswith(f"/fhir/Patient/{pid}/_history/1")
    assert _tag(r.json()) == ["draft"]
    got = clerk.get(f"/fhir/Patient/{pid}")
    assert got.status_code == 200 and got.content == r.content
    # draft may be updated without a reason
    body = {**patient(given="花子", gender="female"), "id": pid}
    u = put(clerk, "Patient", pid, body)
    assert u.status_code == 200 and u.json()["meta"]["versionId"] == "2"
    c = clerk.post(f"/fhir/Patient/{pid}/$confirm")
    assert c.status_code == 200 and _tag(c.json()) == ["confirmed"] and c.json()["meta"]["versionId"] == "3"
    h = clerk.get(f"/fhir/Patient/{pid}/_history").json()
    assert h["type"] == "history" and h["total"] == 3
    assert [e["resource"]["meta"]["versionId"] for e in h["entry"]] == ["3", "2", "1"]
    assert clerk.get(f"/fhir/Patient/{pid}/_history/1").content == r.content
    assert clerk.get(f"/fhir/Patient/{pid}/_history/9").status_code == 404
    th = clerk.get("/fhir/Patient/_history").json()
    assert th["total"] == 3


def test_r36_vread_of_confirmed_is_byte_identical_after_corrections(clerk, as_role):
    pid = post(clerk, "Patient", patient()).json()["id"]
    confirmed = clerk.post(f"/fhir/Patient/{pid}/$confirm")
    assert confirmed.status_code == 200
    body = {**patient(family="川田"), "id": pid}
    no_reason = put(clerk, "Patient", pid, body)
    assert no_reason.status_code == 400
    assert "X-Kura-Reason" in no_reason.json()["issue"][0]["diagnostics"]
    assert clerk.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"
    fixed = put(clerk, "Patient", pid, body, **{"X-Kura-Reason": quote("姓の誤記訂正")})
    assert fixed.status_code == 200 and _tag(fixed.json()) == ["draft"]
    again = clerk.get(f"/fhir/Patient/{pid}/_history/2")
    assert again.content == confirmed.content
    prov = as_role("physician").get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    reasons = [e["resource"].get("reason") for e in prov["entry"]]
    assert [{"text": "姓の誤記訂正"}] in reasons


def test_r42_provenance_for_every_create_update_confirm(clerk, as_role):
    pid = post(clerk, "Patient", patient()).json()["id"]
    put(clerk, "Patient", pid, {**patient(), "id": pid})
    clerk.post(f"/fhir/Patient/{pid}/$confirm")
    bundle = as_role("physician").get("/fhir/Provenance", params={"target": f"Patient/{pid}", "_count": "50"}).json()
    targets = sorted(e["resource"]["target"][0]["reference"] for e in bundle["entry"])
    assert targets == [f"Patient/{pid}/_history/{n}" for n in (1, 2, 3)]
    me = clerk.user.id
    for e in bundle["entry"]:
        assert e["resource"]["agent"][0]["who"]["reference"] == f"Practitioner/{me}"
    pract = clerk.get(f"/fhir/Practitioner/{me}")
    assert pract.status_code == 200 and pract.json()["identifier"][0]["value"] == clerk.user.username


def test_invalid_fhir_is_4xx_operation_outcome_and_stores_nothing(clerk):
    bad = {**patient(), "birthDate": "1970-02-30x", "unknownElement": 1}
    r = post(clerk, "Patient", bad)
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert r.json()["resourceType"] == "OperationOutcome" and "birthDate" in issue["diagnostics"]
    assert post(clerk, "Patient", {"resourceType": "Encounter"}).status_code == 400
    notjson = clerk.post("/fhir/Patient", content=b"{nope", headers={"Content-Type": FHIR})
    assert notjson.status_code == 400 and notjson.json()["resourceType"] == "OperationOutcome"
    assert clerk.post("/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/xml"}).status_code == 400
    assert clerk.get("/fhir/Patient").json()["total"] == 0
    assert clerk.get("/fhir/Patient/_history").json()["total"] == 0


def test_conditional_create_on_identifier(clerk):
    first = post(clerk, "Patient", patient(mrn="777"), **{"If-None-Exist": "identifier=777"})
    assert first.status_code == 201
    again = post(clerk, "Patient", patient(mrn="777"), **{"If-None-Exist": f"identifier={patient()['identifier'][0]['system']}|777"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert clerk.get("/fhir/Patient", params={"identifier": "777"}).json()["total"] == 1


def test_everything_and_metadata(clerk, as_role):
    pid = post(clerk, "Patient", patient()).json()["id"]
    for body in (coverage(pid), encounter(pid), charge(pid), invoice(pid)):
        assert post(clerk, body["resourceType"], body).status_code == 201, body
    doc = as_role("physician")
    assert post(doc, "DocumentReference", document(pid)).status_code == 201
    b = doc.get(f"/fhir/Patient/{pid}/$everything").json()
    assert b["type"] == "searchset" and b["total"] == 6
    assert [e["resource"]["resourceType"] for e in b["entry"]] == [
        "Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference"]
    meta = clerk.get("/fhir/metadata")
    assert meta.status_code == 200 and meta.json()["fhirVersion"] == "4.0.1"
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    CapabilityStatement.model_validate(meta.json())


def test_attachment_upload_and_authenticated_download(clerk, as_role):
    pid = post(clerk, "Patient", patient()).json()["id"]
    doc = as_role("physician")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    r = post(doc, "DocumentReference", document(pid, base64.b64encode(pdf).decode()))
    assert r.status_code == 201, r.text
    url = r.json()["content"][0]["attachment"]["url"]
    got = doc.get(f"/fhir/{url}")
    assert got.status_code == 200 and got.content == pdf and got.headers["content-type"] == "application/pdf"
    up = doc.post(f"/fhir/Binary?patient={pid}", content=b"scanned", headers={"Content-Type": "image/png"})
    assert up.status_code == 201
    d2 = document(pid)
    d2["content"][0]["attachment"]["url"] = f"Binary/{up.json()['id']}"
    assert post(doc, "DocumentReference", d2).status_code == 201
    assert clerk.get(f"/fhir/Binary/{up.json()['id']}").content == b"scanned"
    with doc.__class__(base_url=str(doc.base_url)) as anonymous:
        assert anonymous.get(f"/fhir/{url}").status_code == 401


def test_attachment_size_limit(server, clock, as_role):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    pid = post(clerk, "Patient", patient()).json()["id"]
    doc = as_role("physician")
    limit = server.kura.settings.attachment_max_bytes
    too_big = doc.post(f"/fhir/Binary?patient={pid}", content=b"x" * (limit + 1),
                       headers={"Content-Type": "application/pdf"})
    assert too_big.status_code in (400, 413)


def test_r23_every_interaction_is_a_ledger_entry_naming_the_patient(server, clerk):
    pid = post(clerk, "Patient", patient()).json()["id"]
    clerk.get(f"/fhir/Patient/{pid}")
    clerk.post(f"/fhir/Patient/{pid}/$confirm")
    clerk.get("/fhir/Patient", params={"name": "ヤマダ"})
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(patient_id=pid), limit=100)
    tags = {r.tag for r in rows}
    assert {LedgerTag.RecordsRecordCreated, LedgerTag.RecordsRecordRead, LedgerTag.RecordsRecordConfirmed,
            LedgerTag.RecordsRecordSearched} <= tags


def test_auditevent_is_read_only_for_the_audit_manager(clerk, as_role):
    pid = post(clerk, "Patient", patient()).json()["id"]
    auditor = as_role("auditor")
    b = auditor.get("/fhir/AuditEvent", params={"patient": pid})
    assert b.status_code == 200 and b.json()["total"] >= 1
    event = b.json()["entry"][0]["resource"]
    assert event["resourceType"] == "AuditEvent"
    assert {"reference": f"Patient/{pid}"} in [e["what"] for e in event["entity"]]
    one = auditor.get(f"/fhir/AuditEvent/{event['id']}")
    assert one.status_code == 200 and one.json()["id"] == event["id"]
    from fhir.resources.R4B.auditevent import AuditEvent
    AuditEvent.model_validate(one.json())
    assert clerk.get("/fhir/AuditEvent").status_code == 403
    assert as_role("physician").get(f"/fhir/AuditEvent/{event['id']}").status_code == 403
    assert auditor.post("/fhir/AuditEvent", json={}, headers={"Content-Type": FHIR}).status_code in (404, 405)
    assert auditor.get(f"/fhir/Patient/{pid}").status_code == 403
