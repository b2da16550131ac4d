"""Reads verify over the wire (issue 7 §3; R37): an altered or relabelled record is refused
with a 500 OperationOutcome and a security alert, never served."""

from __future__ import annotations

from sqlalchemy import select, text

from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from tests.support.records import patient, post, seed_classes


def _alerts(kura) -> list[LedgerEntry]:
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.RecordsRecordTampered))))


def _outcome(r) -> str:
    assert r.status_code == 500 and r.json()["resourceType"] == "OperationOutcome", r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "exception"
    return issue["diagnostics"]


def test_r37_altered_content_is_refused_on_read_and_everything(server, as_role):
    seed_classes(server.kura)
    clerk, doc = as_role("clerk"), as_role("physician")
    pid = post(clerk, "Patient", patient()).json()["id"]
    assert doc.get(f"/fhir/Patient/{pid}").status_code == 200
    with server.kura.engine.begin() as conn:
        content = conn.execute(text("SELECT v.content FROM record_version v JOIN record r ON r.pk = v.record_pk "
                                    "WHERE r.logical_id = :id"), {"id": pid}).scalar()
        altered = content[:40] + bytes([content[40] ^ 0x20]) + content[41:]
        conn.execute(text("UPDATE record_version SET content = :c WHERE record_pk = "
                          "(SELECT pk FROM record WHERE logical_id = :id)"), {"c": altered, "id": pid})
    assert "改ざん" in _outcome(doc.get(f"/fhir/Patient/{pid}"))
    assert "integrity" in _outcome(doc.get(f"/fhir/Patient/{pid}/$everything"))
    assert "山田" not in doc.get(f"/fhir/Patient/{pid}").text
    alerts = _alerts(server.kura)
    assert len(alerts) == 3 and all(a.alert and a.patient_id == pid for a in alerts)  # one per refused read


def test_r14_r37_a_lowered_label_is_refused_not_served(server, as_role):
    seed_classes(server.kura)
    clerk, doc = as_role("clerk", clearance="R"), as_role("physician")
    pid = post(clerk, "Patient", patient(security="R")).json()["id"]
    assert doc.get(f"/fhir/Patient/{pid}").status_code == 403
    with server.kura.engine.begin() as conn:
        conn.execute(text("UPDATE record SET confidentiality = 'N' WHERE logical_id = :id"), {"id": pid})
    r = doc.get(f"/fhir/Patient/{pid}")
    assert "label" in _outcome(r) or "integrity" in _outcome(r)
    assert len(_alerts(server.kura)) == 1
