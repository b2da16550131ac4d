"""In the browser: the operations manager sees an overdue inspection on the equipment list and
the operations page, presses ヘルプ in the header and lands on that screen's manual page, then
opens the printable manual (R81, R83)."""

import pytest

from kura.registers import inventory
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject

pytestmark = pytest.mark.browser


def test_r83_overdue_inspection_and_the_help_from_the_equipment_list(page, server, clock):
    ops = make_user(server.kura, "unyo-help", ("operations",))
    with server.kura.unit_of_work(subject(ops), "HOPERAT") as ctx:
        inventory.add(ctx, asset_no="SV-001", kind="server", name="画像サーバー 1号機 (PowerEdge R650)",
                      location="本館 3F サーバー室", responsible="情報システム課 山田", serial="JP-7Q2X9",
                      installed_on="2025-04-01", interval_days=180)
        inventory.add(ctx, asset_no="NW-001", kind="network", name="コアスイッチ", location="本館 3F サーバー室",
                      responsible="情報システム課 山田", serial="SW-1", installed_on=clock.now().date().isoformat(),
                      interval_days=365)
    sign_in(page, ops, clock)
    page.click("nav.main >> text=台帳")
    page.click("nav.tabs >> text=機器台帳")
    page.wait_for_url("**/registers/inventory")
    row = page.locator("#item-SV-001")
    assert "期限超過" in row.inner_text() and "サーバー" in row.inner_text()
    assert "期限超過" not in page.locator("#item-NW-001").inner_text()
    assert "SV-001" in page.locator("p.msg.error").first.inner_text()
    page.screenshot(path="/tmp/kura-inventory.png", full_page=True)
    page.click("header >> text=ヘルプ")
    page.wait_for_url("**/help/equipment")
    assert page.locator("article.help h1").inner_text() == "機器台帳・点検・ソフトウェア審査"
    page.screenshot(path="/tmp/kura-help-equipment.png", full_page=True)
    page.click("text=このページをまとめて印刷 (操作マニュアル)")
    page.wait_for_url("**/help/manual")
    assert page.locator("h1").first.inner_text() == "kura 操作マニュアル"
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()  # the manual prints without the menu
    page.screenshot(path="/tmp/kura-manual-print.png", full_page=False)
    page.emulate_media(media="screen")
    page.goto("/ops")
    assert "SV-001" in page.inner_text("main") and "承認されていません" in page.inner_text("main")
    page.screenshot(path="/tmp/kura-ops-warnings.png", full_page=False)
