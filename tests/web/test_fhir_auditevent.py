"""FHIR AuditEvent search by time (kura.audit.fhir): ge/lt bounds in FHIR date syntax, and the
refusal of a malformed date (R25: reading the trail is the audit manager's)."""

from __future__ import annotations


def test_r25_auditevent_search_by_date_bounds(as_role, clock):
    auditor = as_role("auditor")
    today = clock.now().date()
    assert auditor.get("/fhir/AuditEvent", params={"date": f"ge{today}"}).json()["total"] > 0
    old = auditor.get("/fhir/AuditEvent", params=[("date", "ge2000-01-01"), ("date", "lt2000-01-02")]).json()
    assert old["total"] == 0 and old["entry"] == []
    bad = auditor.get("/fhir/AuditEvent", params={"date": "gesoon"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert as_role("physician").get("/fhir/AuditEvent").status_code == 403
