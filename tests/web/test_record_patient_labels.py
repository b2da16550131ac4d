"""A restricted patient's records are restricted (issue 7 §1, R14, R18): a record's effective
label is the highest of its own, its class's and its patient's, on every path — FHIR search,
read, history, $everything, the patient page — and a change of the Patient's label covers the
patient's existing records at once, without writing new versions of them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.ledger.tags import LedgerTag
from kura.records import service as records
from kura.records import integrity
from kura.records.models import Record, RecordVersion

from tests.factories import ADMIN
from tests.support.records import charge, document, encounter, patient, seed_classes
from tests.web.ui import entries, page_as, text_of

STAFF_R = Subject(id=None, name="staff-r", roles=frozenset({Role.clerk, Role.physician}), clearance="R")
BG = {"X-Kura-Break-Glass": "%E6%80%A5%E5%A4%89"}  # 急変
TYPES = ("Encounter", "ChargeItem", "DocumentReference")


def register(kura, *, security=None, mrn="L100") -> tuple[str, dict[str, str]]:
    """A patient and an encounter, a charge and a document of theirs (each labelled N itself)."""
    with kura.unit_of_work(STAFF_R, "TREAT") as ctx:
        pid = records.create(ctx, patient(mrn=mrn, security=security)).id
        ids = {"Encounter": records.create(ctx, encounter(pid)).id,
               "ChargeItem": records.create(ctx, charge(pid)).id,
               "DocumentReference": records.create(ctx, document(pid)).id}
    return pid, ids


def relabel(kura, pid: str, label: str, mrn="L100") -> None:
    with kura.unit_of_work(STAFF_R, "TREAT") as ctx:
        records.update(ctx, "Patient", pid, {**patient(mrn=mrn, security=label), "id": pid})


def found(c, rtype: str, pid: str) -> list[str]:
    r = c.get(f"/fhir/{rtype}", params={"patient": pid})
    assert r.status_code == 200, r.text
    return [e["resource"]["id"] for e in r.json().get("entry") or []
            if e.get("search", {}).get("mode", "match") == "match"]


def sees(c, pid: str, ids: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for rtype, id in ids.items():
        out[f"{rtype} search"] = len(found(c, rtype, pid))
        out[f"{rtype} read"] = c.get(f"/fhir/{rtype}/{id}").status_code
        out[f"{rtype} history"] = c.get(f"/fhir/{rtype}/{id}/_history").status_code
    return out


HIDDEN = {**{f"{t} search": 0 for t in TYPES}, **{f"{t} read": 403 for t in TYPES},
          **{f"{t} history": 403 for t in TYPES}}
SHOWN = {**{f"{t} search": 1 for t in TYPES}, **{f"{t} read": 200 for t in TYPES},
         **{f"{t} history": 200 for t in TYPES}}


@pytest.fixture
def restricted(server):
    seed_classes(server.kura)
    return register(server.kura, security="R")


def test_r14_nurse_n_cannot_list_or_read_records_of_a_restricted_patient(server, as_role, restricted):
    pid, ids = restricted
    nurse = as_role("nurse", clearance="N")
    assert sees(nurse, pid, ids) == HIDDEN
    r = nurse.get(f"/fhir/Encounter/{ids['Encounter']}")
    assert r.json()["resourceType"] == "OperationOutcome"
    assert any("X-Kura-Break-Glass" in i.get("diagnostics", "") for i in r.json()["issue"])  # the hint
    assert nurse.get(f"/fhir/Patient/{pid}/$everything").status_code == 403
    hist = nurse.get("/fhir/Encounter/_history").json()  # type history leaves it out
    assert ids["Encounter"] not in str(hist)


def test_r14_physician_with_clearance_r_sees_them_with_the_effective_label(server, as_role, restricted):
    pid, ids = restricted
    doctor = as_role("physician", clearance="R")
    assert sees(doctor, pid, ids) == SHOWN
    everything = doctor.get(f"/fhir/Patient/{pid}/$everything").json()
    kinds = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert kinds == ["ChargeItem", "DocumentReference", "Encounter", "Patient"]
    doctor_n = as_role("physician", clearance="N")
    assert sees(doctor_n, pid, ids) == HIDDEN  # the role alone is not enough


def test_r14_raising_the_patients_label_hides_existing_records_at_once_and_lowering_shows_them(server, as_role):
    seed_classes(server.kura)
    pid, ids = register(server.kura)  # N
    nurse = as_role("nurse", clearance="N")
    assert sees(nurse, pid, ids) == SHOWN
    with server.kura.sessions() as s:
        before = s.scalar(select(func.count()).select_from(RecordVersion))
    relabel(server.kura, pid, "R")
    assert sees(nurse, pid, ids) == HIDDEN
    with server.kura.sessions() as s:  # the Patient's new version and its Provenance, nothing else
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == before + 2
    (entry,) = [e for e in entries(server.kura, LedgerTag.RecordsRecordUpdated) if e.target_id == pid]
    # three records, their Provenance, and the Provenance of the Patient's two versions
    assert json.loads(entry.detail)["records_relabelled"] == 8
    relabel(server.kura, pid, "N")
    assert sees(nurse, pid, ids) == SHOWN


def test_r18_break_glass_opens_a_restricted_patients_record_and_is_alerted(server, as_role, restricted):
    pid, ids = restricted
    nurse = as_role("nurse", clearance="N")
    assert nurse.get(f"/fhir/Encounter/{ids['Encounter']}", headers=BG).status_code == 200
    glass = nurse.get(f"/fhir/Patient/{pid}/$everything", headers=BG)
    assert glass.status_code == 200 and len(glass.json()["entry"]) == 4
    alerts = entries(server.kura, LedgerTag.AccessBreakGlassStarted, actor=nurse.user.username)
    assert alerts and all(a.alert for a in alerts)
    clerk = as_role("clerk", clearance="N")  # not a clinical role: no break-glass
    assert clerk.get(f"/fhir/Encounter/{ids['Encounter']}", headers=BG).status_code == 403


def test_r14_patient_page_hides_a_restricted_patients_records(server, clock, restricted):
    pid, ids = restricted
    with page_as(server, clock, "nurse", clearance="N") as c:
        page = c.get(f"/patients/{pid}")
        assert page.status_code == 403 and "山田" not in text_of(page.text)
        assert c.get(f"/records/Encounter/{ids['Encounter']}").status_code == 403
    with page_as(server, clock, "physician", clearance="R", name="ishi-r") as c:
        page = c.get(f"/patients/{pid}")
        assert page.status_code == 200 and "初診料" in text_of(page.text)


def test_r14_a_patients_label_lowered_by_hand_in_the_database_is_reported_by_verify_deep(server, restricted):
    pid, ids = restricted
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert list(integrity.deep_check(ctx)) == []
    with server.kura.sessions() as s:
        s.execute(update(Record).where(Record.logical_id == ids["Encounter"]).values(patient_confidentiality="N"))
        s.commit()
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        problems = list(integrity.deep_check(ctx))
    assert any(ids["Encounter"] in p and "patient's label" in p for p in problems)
