"""The registers over the real wire: equipment and media disposal with a second person's
approval (R79), incidents with the PPC deadlines and the affected patients from the ledger
(R75), the emergency switch (R74), the print and export register (R69, R72)."""

from __future__ import annotations

import datetime as dt


from kura.identity import emergency
from kura.ledger.tags import LedgerTag
from kura.registers import incidents
from tests.factories import ADMIN
from tests.unit.disposal.helpers import make_patient, seed_classes
from tests.web.ui import entries, page_as, text_of


def test_r79_equipment_disposal_needs_a_second_persons_approval(server, clock):
    with page_as(server, clock, "operations", name="unyou1") as ops:
        bad = ops.post("/registers/equipment", data={"item_kind": "medium", "description": "", "serial": "X",
                                                     "method": "physical", "performed_by": "x", "performed_on": "2026-11-01"})
        assert bad.status_code == 400
        r = ops.post("/registers/equipment", data={
            "item_kind": "medium", "description": "バックアップ用 LTO-7 テープ", "serial": "LTO7-00042",
            "method": "physical", "performed_by": "日本データ消去株式会社", "performed_on": "2026-11-20",
            "certificate_ref": "証明書 No. 2026-1120-07"})
        assert r.status_code == 303
        page = ops.get("/registers/equipment")
        assert "LTO7-00042" in page.text and "物理的破壊" in page.text and "承認待ち" in page.text
        entry = entries(server.kura, LedgerTag.RegisterEquipmentRecorded)[0].target_id
        assert ops.post(f"/registers/equipment/{entry}/approve").status_code == 403
    with page_as(server, clock, "admin", name="kanri2") as admin:
        assert admin.post(f"/registers/equipment/{entry}/approve").status_code == 303
        assert "kanri2" in admin.get("/registers/equipment").text
        assert admin.post(f"/registers/equipment/{entry}/approve").status_code == 409
    with page_as(server, clock, "clerk", name="iji3") as clerk:
        assert clerk.get("/registers/equipment").status_code == 403
        assert clerk.post("/registers/equipment", data={"item_kind": "medium"}).status_code == 403
    assert entries(server.kura, LedgerTag.RegisterEquipmentApproved)[0].actor_name == "kanri2"


def test_r75_incident_deadlines_and_affected_patients_from_the_ledger(server, clock, as_role):
    seed_classes(server.kura)
    pid = make_patient(server.kura, last_visit="2026-04-01", mrn="20001")
    other = make_patient(server.kura, last_visit="2026-04-01", mrn="20002")
    doctor = as_role("physician", name="dr-leak")
    start = clock.now() - dt.timedelta(minutes=1)
    assert doctor.get(f"/fhir/Patient/{pid}").status_code == 200
    with page_as(server, clock, "operations", name="unyou2") as ops:
        found = (clock.now() - dt.timedelta(days=4)).astimezone(dt.timezone(dt.timedelta(hours=9)))
        r = ops.post("/registers/incidents", data={
            "kind": "leak", "title": "医師アカウントの不正利用の疑い", "reported_by": "情報システム課 佐藤",
            "discovered_at": found.strftime("%Y-%m-%dT%H:%M"), "malicious": "1", "subject_kind": "account",
            "subject_id": "dr-leak", "window_start": start.astimezone(found.tzinfo).strftime("%Y-%m-%dT%H:%M"),
            "window_end": ""})
        assert r.status_code == 303, r.text
        page = ops.get(r.headers["location"])
        text = text_of(page.text)
        assert pid in text and other not in text  # only the patient the account touched
        assert "速報" in text and "期限" in text
        due = (found.date() + dt.timedelta(days=5)).isoformat()
        final = (found.date() + dt.timedelta(days=60)).isoformat()
        assert due in text and final in text  # malicious: 確報 within 60 days
        listing = ops.get("/registers/incidents").text
        assert "速報" in listing and due in listing  # the reminder until filed
        assert due in ops.get("/").text  # also on the start page
        iid = r.headers["location"].rsplit("/", 1)[1].split("?")[0]
        assert ops.post(f"/registers/incidents/{iid}/report/preliminary").status_code == 303
        assert ops.post(f"/registers/incidents/{iid}/note", data={"text": "パスワードを再設定"}).status_code == 303
        assert ops.post(f"/registers/incidents/{iid}/close", data={"summary": "確報提出、再発防止策を実施"}).status_code == 303
        assert "終結" in ops.get(f"/registers/incidents/{iid}").text
        assert due not in ops.get("/").text
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        i = incidents.get(ctx, iid)
        assert [d.filed for d in incidents.deadlines(i, dt.date.today())] == [True, False]
        assert incidents.reminders(ctx, dt.date.today()) == []  # closed: no more reminders
    with page_as(server, clock, "clerk", name="iji4") as clerk:
        assert clerk.post("/registers/incidents", data={"kind": "loss", "title": "x"}).status_code == 403


def test_r74_emergency_switch_cuts_a_peer_an_account_and_api_clients(server, clock, as_role):
    victim = as_role("clerk", name="kirisute")
    assert victim.get("/api/session").status_code == 200
    with page_as(server, clock, "operations", name="unyou3") as ops:
        assert ops.post("/registers/emergency", data={"scope": "account", "target": "kirisute",
                                                      "reason": ""}).status_code == 400
        r = ops.post("/registers/emergency", data={"scope": "account", "target": "kirisute",
                                                   "reason": "パスワード漏えいの疑い"})
        assert r.status_code == 303
        assert victim.get("/api/session").status_code == 401  # sessions revoked at once
        assert ops.post("/registers/emergency", data={"scope": "all", "reason": "ランサムウェア感染の疑い"}).status_code == 303
        api = as_role("physician", name="api-user")  # signs in, but is refused while "all" is on
        r = api.get("/fhir/Patient")
        assert r.status_code == 403 and "emergency switch" in r.text
        with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
            assert emergency.blocks_peer(ctx, "ANYPEER")
            switches = emergency.list_switches(ctx)
        for s in switches:
            assert ops.post(f"/registers/emergency/{s.id}/lift", data={"reason": "復旧確認済み"}).status_code == 303
        assert api.get("/fhir/Patient").status_code == 200
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert emergency.blocks_peer(ctx, "ANYPEER") is None
    assert len(entries(server.kura, LedgerTag.OpsEmergencySwitched)) == 2
    assert all(e.alert for e in entries(server.kura, LedgerTag.OpsEmergencySwitched))
    with page_as(server, clock, "clerk", name="iji5") as clerk:
        assert clerk.post("/registers/emergency", data={"scope": "all", "reason": "x"}).status_code == 403


def test_r72_print_register_for_operations_and_auditor(server, clock, as_role):
    seed_classes(server.kura)
    pid = make_patient(server.kura, last_visit="2026-04-01", mrn="20003")
    doctor = as_role("physician", name="dr-print")
    assert doctor.get(f"/patients/{pid}/pdf").status_code == 200
    for role in ("operations", "auditor"):
        with page_as(server, clock, role, name=f"{role}-pr") as c:
            text = text_of(c.get("/registers/prints").text)
            assert "dr-print" in text and pid in text and "印刷 (記録)" in text
    with page_as(server, clock, "physician", name="dr-pr2") as c:
        assert c.get("/registers/prints").status_code == 403
