"""The demo's equipment inventory and software review: an overdue inspection, an open
follow-up, a retired server linked to its disposal, the running build approved (R66, R83)."""

from __future__ import annotations

from kura.demo import registers as demo
from kura.disposal.retention import today
from kura.registers import equipment, inventory, software
from tests.factories import ADMIN, make_user, subject


def test_demo_seeds_the_inventory_and_approves_the_running_build(kura):
    ops = make_user(kura, "ops", ("operations",))
    admin = make_user(kura, "admin", ("admin",))
    with kura.unit_of_work(subject(ops), "HOPERAT") as ctx:
        entry = equipment.record(ctx, item_kind="device", description="旧画像サーバー (PACS) ディスク 8 台",
                                 serial="PACS-OLD-01", method="contractor", performed_by="日本データ消去株式会社",
                                 performed_on="2026-10-01")
    with kura.unit_of_work(subject(admin), "HOPERAT") as ctx:
        equipment.approve(ctx, entry.id)
    assert demo.seed(kura) == {"equipment": 7}
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        day = today(ctx)
        assert [e.asset_no for e in inventory.overdue(ctx, day)] == ["SV-002"]
        assert [e.asset_no for _, e in inventory.open_follow_ups(ctx)] == ["NW-001"]
        retired = {e.asset_no: e for e in inventory.list_items(ctx)}["SV-000"]
        assert (retired.state, retired.disposal_id) == ("retired", entry.id)
        approval = software.running_status(ctx)[2]
        assert approval is not None and approval.decided_by_name == "ops"
