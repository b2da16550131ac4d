"""In the browser: 2FA login and logout (R2), forced password change (R6), the language switch."""

import pytest

from tests.browser.conftest import sign_in
from kura.ledger.tags import LedgerTag
from tests.factories import make_user
from tests.web.ui import entries

pytestmark = pytest.mark.browser


def test_r2_login_with_password_and_code_then_logout(page, server, clock):
    user = make_user(server.kura, "yamada", ("physician",))
    page.goto("/")
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "ログイン"
    page.screenshot(path="/tmp/kura-login.png", full_page=True)
    # a wrong code gets the one generic message
    clock.advance(seconds=30)
    page.fill("#username", "yamada")
    page.fill("#password", user.password)
    page.fill("#otp", "000000")
    page.click("form[action='/login'] button[type=submit]")
    assert "正しくありません" in page.locator(".msg.error").inner_text()
    sign_in(page, user, clock)
    assert "yamada" in page.locator(".who").inner_text()
    assert page.locator("#idle-notice").is_hidden()
    page.screenshot(path="/tmp/kura-home.png", full_page=True)
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")
    assert "ログアウトしました" in page.locator(".msg.info").inner_text()
    page.goto("/account")
    page.wait_for_url("**/login?next=%2Faccount*")


def test_r6_forced_password_change_at_first_login(page, server, clock):
    user = make_user(server.kura, "nakamura", ("nurse",), must_change=True)
    sign_in(page, user, clock, expect_path="/account/password")
    assert "管理者が設定した" in page.locator(".msg.info").inner_text()
    assert "8 文字以上" in page.locator(".rules").inner_text()
    page.fill("#old", user.password)
    page.fill("#new", "Hanami-2026-ward")
    page.fill("#confirm", "Hanami-2026-ward")
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_url("**/account?done=password")
    assert "パスワードを変更しました" in page.locator(".msg.ok").inner_text()
    page.goto("/")
    assert page.locator("h1").inner_text().startswith("ようこそ")


def test_language_switch(page, server, clock):
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "ja"
    page.click("a[lang=en]")
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("a[lang=ja]")
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "ログイン"


def test_r20_idle_countdown_warns_then_signs_out(page, server, clock):
    user = make_user(server.kura, "hasegawa", ("clerk",))
    page.clock.install()
    sign_in(page, user, clock)
    notice = page.locator("#idle-notice")
    assert notice.is_hidden()
    page.clock.run_for("13:30")  # 15 minutes idle (the default); the warning shows 2 minutes before
    assert notice.is_visible()
    assert ":" in notice.locator(".countdown").inner_text()
    page.click("#idle-stay")  # asks the server, which refreshes the session
    page.wait_for_function("() => document.getElementById('idle-notice').hidden")
    clock.advance(seconds=16 * 60)  # the server's clock: now idle past the limit
    page.clock.run_for("15:10")
    page.wait_for_url("**/login?timeout=1*")
    assert "操作がなかったため" in page.locator(".msg.info").inner_text()
    assert entries(server.kura, LedgerTag.AuthSessionTimedOut)[0].actor_name == "hasegawa"  # R22
