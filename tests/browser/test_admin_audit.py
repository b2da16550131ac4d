"""In the browser: the administrator adds a user, who then signs in with the secret shown once
(R6: and must change the password); the audit manager finds that login in the ledger browser,
and signs off a break-glass alert (R18, R25)."""

import pytest

from kura.identity import totp
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.web.breakglass import break_glass

pytestmark = pytest.mark.browser


def test_admin_adds_a_user_who_signs_in_with_the_shown_secret(page, server, clock):
    admin = make_user(server.kura, "sysadmin", ("admin",))
    sign_in(page, admin, clock)
    page.click("nav.main >> text=利用者")
    page.wait_for_url("**/admin/users")
    page.click("text=利用者を追加")
    page.fill("#username", "matsumoto")
    page.fill("#display_name", "松本 恵")
    page.fill("#department", "看護部")
    page.check("input[name=roles][value=nurse]")
    page.check("input[name=clearance][value=R]")
    page.fill("#password", "Initial-Pass-5521")
    page.click("form[action='/admin/users'] button[type=submit]")
    page.wait_for_selector(".qr img")
    assert page.locator(".qr img").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator(".qr img").evaluate("img => img.naturalWidth") > 100  # the CSP let it render
    secret = page.locator(".qr .secret").inner_text().strip()
    page.screenshot(path="/tmp/kura-admin-secret.png", full_page=True)
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")

    # The new user, on the same PC: password + a code from the secret just shown.
    clock.advance(seconds=30)
    page.fill("#username", "matsumoto")
    page.fill("#password", "Initial-Pass-5521")
    page.fill("#otp", totp.code_at(secret, clock.now()))
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/account/password")
    page.fill("#old", "Initial-Pass-5521")
    page.fill("#new", "Matsu-Sakura-77")
    page.fill("#confirm", "Matsu-Sakura-77")
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_url("**/account?done=password")
    assert "看護師" in page.locator("dl.facts").inner_text()


def test_audit_manager_finds_the_login_and_signs_off_break_glass(page, server, clock):
    clerk = make_user(server.kura, "takahashi", ("clerk",))
    sign_in(page, clerk, clock)
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")
    seq = break_glass(server.kura, patient="P-0099", reason="意識不明で搬送、アレルギー歴の確認")

    auditor = make_user(server.kura, "kansa", ("auditor",))
    sign_in(page, auditor, clock)
    page.click("nav.main >> text=監査ログ")
    page.wait_for_url("**/audit")
    page.fill("input[name=user]", "takahashi")
    page.select_option("select[name=kind]", "login")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/audit?user=takahashi*")
    rows = page.locator("table.ledger tbody tr")
    assert rows.count() == 2  # the login and the logout, newest first
    assert "ログアウト" in rows.first.inner_text() and "ログイン" in rows.last.inner_text()
    assert "auth:" not in page.locator("table.ledger").inner_text()
    rows.last.locator("td.c-event a").click()
    page.wait_for_url("**/audit/entries/*")
    assert "エントリのハッシュ" in page.locator("main").inner_text()
    page.screenshot(path="/tmp/kura-audit.png", full_page=True)

    page.click("nav.main >> text=アラート")
    page.wait_for_url("**/audit/alerts")
    card = page.locator(f"#alert-{seq}")
    assert "意識不明で搬送" in card.inner_text() and "P-0099" in card.inner_text()
    assert "access:breakglass" not in card.inner_text() and "緊急アクセス開始" in card.inner_text()
    card.locator("textarea").fill("救急搬送記録と照合、正当な利用")
    page.screenshot(path="/tmp/kura-alerts.png", full_page=True)
    card.locator("button[type=submit]").click()
    page.wait_for_url("**/audit/alerts?done=1")
    assert page.locator(f"#alert-{seq}").count() == 0
    page.click(".tabs a[href*=signed]")
    page.wait_for_url("**/audit/alerts?view=signed")
    assert "救急搬送記録と照合" in page.locator(f"#alert-{seq}").inner_text()
