"""The capability statement is public and names no patient; free-text headers are ASCII, with
Japanese text percent-encoded as UTF-8 (issue 10, FHIR)."""

from __future__ import annotations

from urllib.parse import quote

from kura.audit import service as audit
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.support.records import FHIR, patient, post, put, seed_classes


def test_metadata_is_public_and_reveals_no_patient(server, as_role):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    created = post(clerk, "Patient", patient(family="秘密川", mrn="SECRET-4711"))
    assert created.status_code == 201
    with server.client() as anonymous:
        r = anonymous.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR)
    assert r.json()["resourceType"] == "CapabilityStatement"
    # the same document for everyone, and nothing of the patient in it
    assert clerk.get("/fhir/metadata").content == r.content
    for secret in ("秘密川", "SECRET-4711", created.json()["id"]):
        assert secret not in r.text
    # the documented form of Japanese text in headers
    assert "percent-encoded" in r.text
    # …while everything else under /fhir still needs a session
    with server.client() as anonymous:
        assert anonymous.get("/fhir/Patient").status_code == 401


def _reason_of(kura, pid):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(tag=str(LedgerTag.RecordsRecordUpdated)), limit=10)
    return [r.reason for r in rows if r.target_id == pid]


def test_percent_encoded_reason_is_taken_and_raw_non_ascii_is_400(server, as_role):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    pid = post(clerk, "Patient", patient()).json()["id"]
    assert clerk.post(f"/fhir/Patient/{pid}/$confirm").status_code == 200
    body = {**patient(family="山中"), "id": pid}
    # raw UTF-8 bytes in the header: refused with a clear message, nothing changed
    raw = clerk.put(f"/fhir/Patient/{pid}", json=body,
                    headers={"Content-Type": FHIR, "X-Kura-Reason": "姓の誤記訂正".encode()})
    assert raw.status_code == 400 and raw.json()["resourceType"] == "OperationOutcome"
    assert "percent-encoded" in raw.json()["issue"][0]["diagnostics"]
    assert clerk.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"
    # percent-encoded UTF-8 that is not UTF-8: refused too
    bad = put(clerk, "Patient", pid, body, **{"X-Kura-Reason": "%E8%A8"})
    assert bad.status_code == 400
    ok = put(clerk, "Patient", pid, body, **{"X-Kura-Reason": quote("姓の誤記訂正")})
    assert ok.status_code == 200, ok.text
    assert "姓の誤記訂正" in " ".join(r or "" for r in _reason_of(server.kura, pid))


def test_raw_non_ascii_break_glass_and_on_behalf_headers_are_400(server, as_role):
    seed_classes(server.kura)
    doc = as_role("physician")
    r = doc.get("/fhir/Patient", headers={"X-Kura-Break-Glass": "心停止".encode()})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    r = post(doc, "Patient", patient(), **{"X-Kura-On-Behalf-Of": "山田".encode()})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
