"""My account: re-enrolment of the second factor with a QR code (R2), voluntary password change,
and the HTML error pages."""

import re

from kura.identity import totp
from kura.ledger.tags import LedgerTag
from tests.factories import make_user
from tests.web.ui import browser, entries, form_login, page_as


def test_r2_reenrol_totp_with_qr_then_sign_in_with_the_new_secret(server, clock):
    user = make_user(server.kura, "ogawa", ("technologist",))
    with browser(server) as c:
        form_login(server, clock, user, c)
        assert "認証アプリを再登録" in c.get("/account").text
        page = c.post("/account/totp")
        assert page.status_code == 200 and 'src="data:image/png;base64,' in page.text
        secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)
        wrong = c.post("/account/totp/confirm", data={"secret": secret, "code": "000000"})
        assert wrong.status_code == 400 and "一致しません" in wrong.text
        clock.advance(seconds=30)
        ok = c.post("/account/totp/confirm", data={"secret": secret, "code": totp.code_at(secret, clock.now())})
        assert ok.status_code == 303 and ok.headers["location"] == "/account?done=totp"
    assert entries(server.kura, LedgerTag.AuthTotpEnrolled)[0].actor_name == "ogawa"
    user.secret = secret
    with browser(server) as c:
        form_login(server, clock, user, c)  # the new secret is the one in force


def test_voluntary_password_change_checks_the_old_password(server, clock):
    with page_as(server, clock, "clerk") as c:
        r = c.post("/account/password", data={"old": "not-my-password", "new": "Kawa-Nagare-31", "confirm": "Kawa-Nagare-31"})
        assert r.status_code == 400 and "現在のパスワードが正しくありません" in r.text
        r = c.post("/account/password", data={"old": c.user.password, "new": "Kawa-Nagare-31", "confirm": "Kawa-Nagare-32"})
        assert r.status_code == 400 and "同じではありません" in r.text
        r = c.post("/account/password", data={"old": c.user.password, "new": "Kawa-Nagare-31", "confirm": "Kawa-Nagare-31"})
        assert r.status_code == 303


def test_html_error_pages_and_json_for_the_api(server, clock):
    with page_as(server, clock, "clerk") as c:
        missing = c.get("/no-such-page")
        assert missing.status_code == 404 and "見つかりません" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
        api = c.get("/api/no-such-thing")
        assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
        bad = c.get("/audit/alerts", params={"view": "<script>"})
        assert bad.status_code in (400, 403) and "<script>" not in bad.text
    with server.client() as anonymous:
        assert anonymous.get("/admin/users").status_code == 401  # not a browser: no redirect


def test_pages_have_no_inline_script_or_style(server, clock):
    with page_as(server, clock, "admin") as c:
        for path in ("/", "/admin/users", "/admin/users/new", "/admin/permissions", "/account"):
            html = c.get(path).text
            assert "<script>" not in html and "<style" not in html and " style=" not in html, path
            assert 'src="/static/kura.js"' in html
