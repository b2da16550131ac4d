"""Who may do what to which record over /fhir: the role × resource × action matrix, written
out below as data (every refusal included) — not recomputed from ROLE_GRANTS, so a change of
the grants or of the classes' scopes that changes what a role can do fails here until this
table is changed with it — clearance against labels, and break-glass."""

from __future__ import annotations

import uuid

import pytest

from kura.access.actions import Action
from kura.access.roles import RECORD_TYPES, Role
from kura.audit import service as audit
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.support.records import (charge, coverage, document, encounter, invoice, patient, post, put,
                                        seed_classes)

USER_ROLES = [Role.admin, Role.operations, Role.auditor, Role.physician, Role.technologist, Role.clerk, Role.nurse]

# What each role may do to each type under the seeded management classes: C create, R read,
# S search, U update, F confirm (確定); "-" refused (403).
TYPES = ("Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference")
MATRIX = """
admin          -----  -----  -----  -----  -----  -----
operations     -----  -----  -----  -----  -----  -----
auditor        -----  -----  -----  -----  -----  -----
physician      -RS--  -RS--  CRSUF  -RS--  -RS--  CRSUF
technologist   -RS--  -----  -----  -----  -----  -----
clerk          CRSUF  CRSUF  CRSUF  CRSUF  CRSUF  -RS--
nurse          -RS--  -RS--  -RS--  -RS--  -RS--  -RS--
"""
LETTERS = {Action.RecordsRecordCreate: "C", Action.RecordsRecordRead: "R", Action.RecordsRecordSearch: "S",
           Action.RecordsRecordUpdate: "U", Action.RecordsRecordConfirm: "F"}
EXPECTED = {(row.split()[0], rtype): cell for row in MATRIX.strip().splitlines()
            for rtype, cell in zip(TYPES, row.split()[1:])}


def _grants(role: Role, action: Action, rtype: str) -> bool:
    return LETTERS[action] in EXPECTED[(str(role), rtype)]


def test_the_matrix_covers_every_role_and_type():
    assert set(TYPES) == set(RECORD_TYPES)
    assert {role for role, _ in EXPECTED} == {str(r) for r in USER_ROLES}


def _body(rtype: str, pid: str) -> dict:
    # a new identifier each time: a Patient identifier belongs to one Patient (409 otherwise)
    return {"Patient": lambda: patient(mrn="m-" + uuid.uuid4().hex[:8]), "Coverage": lambda: coverage(pid),
            "Encounter": lambda: encounter(pid), "ChargeItem": lambda: charge(pid),
            "Invoice": lambda: invoice(pid), "DocumentReference": lambda: document(pid)}[rtype]()


@pytest.fixture
def world(server, as_role):
    seed_classes(server.kura)
    clerk, doc = as_role("clerk", name="seedclerk"), as_role("physician", name="seeddoc")
    pid = post(clerk, "Patient", patient()).json()["id"]

    def writer(rtype):
        return doc if rtype == "DocumentReference" else clerk

    def fresh(rtype):
        r = post(writer(rtype), rtype, _body(rtype, pid))
        assert r.status_code == 201, r.text
        return r.json()

    return pid, fresh


@pytest.mark.parametrize("role", USER_ROLES, ids=str)
def test_r13_role_resource_action_matrix(role, world, as_role):
    pid, fresh = world
    me = as_role(str(role))
    for rtype in RECORD_TYPES:
        existing = fresh(rtype)
        rid = existing["id"]
        outcomes = {
            Action.RecordsRecordCreate: post(me, rtype, _body(rtype, pid)).status_code,
            Action.RecordsRecordRead: me.get(f"/fhir/{rtype}/{rid}").status_code,
            Action.RecordsRecordSearch: me.get(f"/fhir/{rtype}", params={"_id": rid}).status_code,
            Action.RecordsRecordUpdate: put(me, rtype, rid, existing).status_code,
            Action.RecordsRecordConfirm: me.post(f"/fhir/{rtype}/{fresh(rtype)['id']}/$confirm").status_code,
        }
        for action, status in outcomes.items():
            expected = {True: (200, 201), False: (403,)}[_grants(role, action, rtype)]
            assert status in expected, f"{role} {action} {rtype}: {status}"


def test_named_refusals(world, as_role):
    pid, fresh = world
    clerk, nurse, doc = as_role("clerk"), as_role("nurse"), as_role("physician")
    assert post(clerk, "DocumentReference", document(pid)).status_code == 403
    for rtype in RECORD_TYPES:
        assert post(nurse, rtype, _body(rtype, pid)).status_code == 403
    assert post(doc, "ChargeItem", charge(pid)).status_code == 403
    # R17: neither the system administrator nor operations may read stored records
    for role in ("admin", "operations"):
        c = as_role(role)
        assert c.get(f"/fhir/Patient/{pid}").status_code == 403
        assert c.get("/fhir/Patient").status_code == 403
        assert c.get(f"/fhir/Patient/{pid}/$everything").status_code == 403


def test_r14_restricted_records_are_403_on_read_and_absent_from_search(world, as_role):
    pid, _ = world
    clerk_v = as_role("clerk", clearance="V")
    secret = post(clerk_v, "Patient", patient(family="秘密", kana=("ヒミツ", "ハナコ"), mrn="s1", security="R")).json()
    enc = encounter(secret["id"])
    enc["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}
    enc_id = post(clerk_v, "Encounter", enc).json()["id"]
    doc_n, doc_r = as_role("physician"), as_role("physician", clearance="R")
    denied = doc_n.get(f"/fhir/Patient/{secret['id']}")
    assert denied.status_code == 403 and denied.json()["resourceType"] == "OperationOutcome"
    assert doc_n.get("/fhir/Patient", params={"name": "ヒミツ"}).json()["total"] == 0
    assert doc_n.get("/fhir/Patient").json()["total"] == 1
    assert doc_r.get(f"/fhir/Patient/{secret['id']}").status_code == 200
    assert doc_r.get("/fhir/Patient", params={"name": "ひみつ"}).json()["total"] == 1
    # $everything leaves out what is beyond clearance (the V encounter for an R physician)
    everything = doc_r.get(f"/fhir/Patient/{secret['id']}/$everything").json()
    assert [e["resource"]["resourceType"] for e in everything["entry"]] == ["Patient"]
    assert doc_r.get(f"/fhir/Encounter/{enc_id}").status_code == 403
    # the label reads back in meta.security
    assert secret["meta"]["security"][0]["code"] == "R"


def _alerts(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(tag=str(LedgerTag.AccessBreakGlassStarted)), limit=100)
    return rows


@pytest.mark.parametrize("role", ["physician", "nurse"])
def test_r18_break_glass_for_clinicians_leaves_an_alert(role, world, as_role, server):
    clerk_v = as_role("clerk", clearance="V")
    vip = post(clerk_v, "Patient", patient(mrn="vip", security="V")).json()["id"]
    me = as_role(role)
    first = me.get(f"/fhir/Patient/{vip}")
    assert first.status_code == 403
    # the OperationOutcome tells the clinician that break-glass exists (README)
    assert any("X-Kura-Break-Glass" in i.get("diagnostics", "") for i in first.json()["issue"])
    glass = me.get(f"/fhir/Patient/{vip}", headers={"X-Kura-Break-Glass": "emergency: unconscious patient"})
    assert glass.status_code == 200
    alerts = _alerts(server.kura)
    assert alerts and alerts[0].patient_id == vip and alerts[0].alert and alerts[0].actor_name == me.user.username
    assert "unconscious" in alerts[0].reason


def test_r18_break_glass_is_refused_to_non_clinical_roles(world, as_role, server):
    clerk_v = as_role("clerk", clearance="V")
    vip = post(clerk_v, "Patient", patient(mrn="vip2", security="V")).json()["id"]
    clerk = as_role("clerk")
    r = clerk.get(f"/fhir/Patient/{vip}", headers={"X-Kura-Break-Glass": "curious"})
    assert r.status_code == 403
    assert not _alerts(server.kura)


def test_r18_everything_with_break_glass_includes_restricted_records_and_alerts(world, as_role, server):
    clerk_v = as_role("clerk", clearance="V")
    pid = post(clerk_v, "Patient", patient(mrn="bg1")).json()["id"]
    enc = encounter(pid)
    enc["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}
    assert post(clerk_v, "Encounter", enc).status_code == 201
    nurse = as_role("nurse")
    plain = nurse.get(f"/fhir/Patient/{pid}/$everything").json()
    assert [e["resource"]["resourceType"] for e in plain["entry"]] == ["Patient"]
    assert not _alerts(server.kura)
    glass = nurse.get(f"/fhir/Patient/{pid}/$everything", headers={"X-Kura-Break-Glass": "ER admission"}).json()
    assert [e["resource"]["resourceType"] for e in glass["entry"]] == ["Patient", "Encounter"]
    assert len(_alerts(server.kura)) == 1
    # a search never reaches past clearance, break-glass or not
    searched = nurse.get("/fhir/Encounter", params={"patient": pid}, headers={"X-Kura-Break-Glass": "ER"}).json()
    assert searched["total"] == 0
