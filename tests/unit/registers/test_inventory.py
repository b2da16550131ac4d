"""機器台帳 and 点検 (regulation §7; R83): the inventory, its inspection schedule and log, the
overdue list, retiring through the disposal register, every step ledgered, refusals."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Conflict, Denied, Invalid, NotFound
from kura.ledger.tags import LedgerTag
from kura.registers import equipment, inventory
from tests.web.ui import entries

OPS = Subject(id="ops-1", name="unyou", roles=frozenset({Role.operations}), clearance="N")
ADMIN = Subject(id="adm-1", name="kanri", roles=frozenset({Role.admin}), clearance="N")
AUDITOR = Subject(id="aud-1", name="kansa", roles=frozenset({Role.auditor}), clearance="N")
CLERK = Subject(id="clk-1", name="iji", roles=frozenset({Role.clerk}), clearance="N")

SERVER = dict(asset_no="SV-001", kind="server", name="画像サーバー 1号機", location="本館 3F サーバー室",
              responsible="情報システム課 山田", serial="JP-7Q2X9", installed_on="2026-04-01", interval_days=90)


def _add(kura, **kw):
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        return inventory.add(ctx, **{**SERVER, **kw}).id


def test_r83_inventory_item_is_added_changed_and_ledgered(kura):
    eid = _add(kura)
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        e = inventory.get(ctx, eid)
        assert (e.state, e.next_due) == ("active", "2026-06-30")  # 90 days after installation
        inventory.change(ctx, eid, location="別館 1F 電算室", responsible="情報システム課 佐藤")
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        assert [x.location for x in inventory.list_items(ctx)] == ["別館 1F 電算室"]
    added = entries(kura, LedgerTag.RegisterDeviceAdded)
    changed = entries(kura, LedgerTag.RegisterDeviceChanged)
    assert added[0].actor_name == "unyou" and added[0].target_id == eid
    assert json.loads(changed[0].detail)["changed"]["location"] == ["本館 3F サーバー室", "別館 1F 電算室"]


def test_r83_inventory_refusals(kura):
    with kura.unit_of_work(CLERK, "HOPERAT") as ctx, pytest.raises(Denied):
        inventory.add(ctx, **SERVER)
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx, pytest.raises(Denied):
        inventory.add(ctx, **SERVER)  # the auditor reads the inventory, never keeps it
    with kura.unit_of_work(CLERK, "HOPERAT") as ctx, pytest.raises(Denied):
        inventory.list_items(ctx)
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        for bad in ({"serial": " "}, {"kind": "toaster"}, {"installed_on": "2026-13-01"}, {"interval_days": "-1"},
                    {"state": "lost"}, {"state": "retired"}):
            with pytest.raises(Invalid):
                inventory.add(ctx, **{**SERVER, **bad})
        with pytest.raises(NotFound):
            inventory.add(ctx, **{**SERVER, "state": "retired", "disposal_id": "no-such-entry"})
    eid = _add(kura)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx, pytest.raises(Conflict):
        inventory.add(ctx, **{**SERVER, "serial": "other"})  # the asset number is taken
    with kura.unit_of_work(OPS, "HOPERAT") as ctx, pytest.raises(Invalid):
        inventory.change(ctx, eid, state="retired")  # retiring needs the disposal entry
    assert len(entries(kura, LedgerTag.RegisterDeviceAdded)) == 1


def test_r83_inspection_schedule_overdue_findings_and_follow_up(kura, clock):
    eid = _add(kura)
    other = _add(kura, asset_no="NW-001", kind="network", name="コアスイッチ", serial="SW-1", interval_days=365)
    _add(kura, asset_no="PC-009", kind="terminal", name="受付端末", serial="PC-9", interval_days=0)  # no schedule
    day = dt.date(2026, 7, 15)
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        assert [e.asset_no for e in inventory.overdue(ctx, day)] == ["SV-001"]  # due 2026-06-30
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        with pytest.raises(Invalid):
            inventory.inspect(ctx, eid, inspected_on="2026-07-10", inspector="山田", result="findings",
                              findings="UPS バッテリー劣化")  # findings without the follow-up
        with pytest.raises(Invalid):
            inventory.inspect(ctx, eid, inspected_on="2099-01-01", inspector="山田", result="ok")
        i = inventory.inspect(ctx, eid, inspected_on="2026-07-10", inspector="山田", result="findings",
                              findings="UPS バッテリー劣化", follow_up="バッテリー交換を手配")
        iid = i.id
        assert inventory.get(ctx, eid).next_due == "2026-10-08"  # 90 days after the inspection
        assert inventory.overdue(ctx, day) == []
        assert [x.id for x, _ in inventory.open_follow_ups(ctx)] == [iid]
        # the longest overdue first: the server (2026-10-08), then the switch's yearly one (2027-04-01)
        assert [e.id for e in inventory.overdue(ctx, dt.date(2027, 4, 2))] == [eid, other]
    with kura.unit_of_work(CLERK, "HOPERAT") as ctx, pytest.raises(Denied):
        inventory.close_follow_up(ctx, iid, note="交換済み")
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        with pytest.raises(Invalid):
            inventory.close_follow_up(ctx, iid, note="")
        inventory.close_follow_up(ctx, iid, note="2026-07-20 バッテリー交換済み")
        assert inventory.open_follow_ups(ctx) == []
        with pytest.raises(Conflict):
            inventory.close_follow_up(ctx, iid, note="again")
    rec = entries(kura, LedgerTag.RegisterInspectionRecorded)[0]
    assert rec.actor_name == "unyou" and json.loads(rec.detail)["result"] == "findings"
    assert len(entries(kura, LedgerTag.RegisterInspectionClosed)) == 1


def test_r79_r83_retired_item_links_its_disposal_entry_and_leaves_the_schedule(kura):
    eid = _add(kura)
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        d = equipment.record(ctx, item_kind="device", description="画像サーバー 1号機", serial="JP-7Q2X9",
                             method="contractor", performed_by="日本データ消去株式会社", performed_on="2026-11-20")
        e = inventory.change(ctx, eid, state="retired", disposal_id=d.id)
        assert (e.state, e.next_due, e.disposal_id) == ("retired", None, d.id)
        with pytest.raises(Invalid):
            inventory.inspect(ctx, eid, inspected_on="2026-11-21", inspector="山田", result="ok")
        assert inventory.overdue(ctx, dt.date(2030, 1, 1)) == []
        assert [x.asset_no for x in inventory.list_items(ctx, include_retired=False)] == []
