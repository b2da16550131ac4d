"""機器台帳 (§7; R83) and ソフトウェア審査 (§9; R65, R66) over the real wire: who may keep and
read them, the overdue inspection on the operations and start pages, the unapproved build's
warning, in Japanese words rather than codes."""

from __future__ import annotations

import datetime as dt
import re

from kura.ledger.tags import LedgerTag
from kura.registers import software
from tests.factories import ADMIN
from tests.web.ui import browser, entries, page_as, text_of

ITEM = {"asset_no": "SV-101", "kind": "server", "name": "画像サーバー 1号機", "location": "本館 3F サーバー室",
        "responsible": "情報システム課 山田", "serial": "JP-7Q2X9", "installed_on": "2026-01-05", "state": "active",
        "interval_days": "30"}


def test_r83_inventory_screens_refuse_without_the_role(server, clock):
    with browser(server) as c:
        assert c.get("/registers/inventory").status_code == 303
    with page_as(server, clock, "clerk", name="iji-inv") as clerk:
        assert clerk.get("/registers/inventory").status_code == 403
        assert clerk.post("/registers/inventory", data=ITEM).status_code == 403
        assert clerk.get("/registers/software").status_code == 403
    with page_as(server, clock, "auditor", name="kansa-inv") as auditor:
        assert auditor.get("/registers/inventory").status_code == 200  # reads …
        assert auditor.post("/registers/inventory", data=ITEM).status_code == 403  # … never keeps
    assert entries(server.kura, LedgerTag.RegisterDeviceAdded) == []
    assert any(e.reason and "register:equipment:manage" in e.reason
               for e in entries(server.kura, LedgerTag.AccessRequestDenied))


def test_r83_overdue_inspection_on_the_inventory_operations_and_start_pages(server, clock):
    with page_as(server, clock, "operations", name="unyou-inv") as ops:
        bad = ops.post("/registers/inventory", data={**ITEM, "serial": ""})
        assert bad.status_code == 400 and "入力してください: シリアル番号" in bad.text
        r = ops.post("/registers/inventory", data=ITEM)
        assert r.status_code == 303, r.text
        url = r.headers["location"].split("?")[0]
        assert ops.post("/registers/inventory", data=ITEM).status_code == 409  # the asset number is taken
        listing = text_of(ops.get("/registers/inventory").text)
        # installed 2026-01-05, every 30 days: due 2026-02-04, long before the test clock's today
        assert "点検期限切れ" in listing and "2026-02-04" in listing and "サーバー" in listing
        assert "稼働中" in listing and "server" not in listing and "active" not in listing  # words, not codes
        assert "点検期限切れ" in ops.get("/ops").text and "SV-101" in ops.get("/ops").text
        assert "SV-101" in ops.get("/").text
        today = clock.now().astimezone(dt.timezone(dt.timedelta(hours=9))).date().isoformat()
        bad = ops.post(f"{url}/inspections", data={"inspected_on": today, "inspector": "山田",
                                                   "result": "findings", "findings": "ファン異音"})
        assert bad.status_code == 400 and "必要な対応" in bad.text
        r = ops.post(f"{url}/inspections", data={"inspected_on": today, "inspector": "山田", "result": "findings",
                                                 "findings": "ファン異音", "follow_up": "保守業者に部品交換を依頼"})
        assert r.status_code == 303
        page = ops.get(url).text
        assert "ファン異音" in page and "指摘あり" in page
        assert "点検期限切れ" not in ops.get("/ops").text and "対応未完了" in ops.get("/ops").text
        iid = re.search(r"/inspections/([0-9a-f-]{36})/close", page).group(1)
        assert ops.post(f"{url}/inspections/{iid}/close", data={"note": ""}).status_code == 400
        assert ops.post(f"{url}/inspections/{iid}/close", data={"note": "ファン交換済み"}).status_code == 303
        assert "対応未完了" not in ops.get("/ops").text
    with page_as(server, clock, "admin", name="kanri-inv") as admin:  # the administrator keeps it too
        r = admin.post(url, data={**ITEM, "location": "別館 1F 電算室"})
        assert r.status_code == 303 and "別館 1F 電算室" in admin.get(url).text
        assert admin.post(url, data={**ITEM, "state": "retired"}).status_code == 400  # no disposal entry
    assert [e.actor_name for e in entries(server.kura, LedgerTag.RegisterInspectionRecorded)] == ["unyou-inv"]
    assert [e.actor_name for e in entries(server.kura, LedgerTag.RegisterDeviceChanged)] == ["kanri-inv"]
    assert len(entries(server.kura, LedgerTag.RegisterInspectionClosed)) == 1


def test_r66_unapproved_build_warns_until_the_operations_manager_approves_it(server, clock):
    with page_as(server, clock, "operations", name="unyou-sw") as ops:
        assert "承認されていません" in ops.get("/ops").text
        assert ops.post("/registers/software").status_code == 303
        page = ops.get("/registers/software").text
        assert "審査待ち" in page and "承認されていません" in ops.get("/ops").text
        rid = re.search(r'id="review-([0-9a-f-]{36})"', page).group(1)
        sbom = ops.get(f"/registers/software/{rid}/sbom")
        assert sbom.status_code == 200 and sbom.json()["bomFormat"] == "CycloneDX"
    with page_as(server, clock, "admin", name="kanri-sw") as admin:
        assert admin.post(f"/registers/software/{rid}/approve", data={"comment": "x"}).status_code == 403
        assert admin.post("/registers/software").status_code == 403
    with page_as(server, clock, "operations", name="unyou-sw2") as ops2:
        r = ops2.post(f"/registers/software/{rid}/refuse", data={"comment": ""})
        assert r.status_code == 400 and "理由を入力" in r.text
        r = ops2.post(f"/registers/software/{rid}/approve", data={"comment": "リリースノートと試験記録を確認"})
        assert r.status_code == 303
        assert "承認されていません" not in ops2.get("/ops").text
        page = text_of(ops2.get("/registers/software").text)
        assert "承認済" in page and "unyou-sw2" in page
        assert ops2.post(f"/registers/software/{rid}/approve").status_code == 409
    approved = entries(server.kura, LedgerTag.RegisterSoftwareApproved)
    assert [e.actor_name for e in approved] == ["unyou-sw2"]
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert software.running_status(ctx)[2].decided_by_name == "unyou-sw2"
