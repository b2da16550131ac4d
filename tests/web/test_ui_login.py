"""The login screen and the pages around it: 2FA form login (R2), one message for any wrong
part (R7), lockout (R22), forced password change (R6), logout, idle timeout (R20), language."""

from kura.ledger.tags import LedgerTag
from tests.factories import make_user
from tests.web.ui import browser, entries, form_login, text_of


def test_r2_form_login_with_code_then_home_and_logout(server, clock):
    user = make_user(server.kura, "sato", ("physician",))
    with browser(server) as c:
        page = c.get("/login")
        assert page.status_code == 200 and 'name="otp"' in page.text
        assert "ログイン" in page.text  # Japanese first
        form_login(server, clock, user, c)
        home = c.get("/")
        assert home.status_code == 200 and "sato" in home.text
        r = c.post("/logout")
        assert r.status_code == 303 and r.headers["location"] == "/login?bye=1"
        assert c.get("/").status_code == 303
    assert entries(server.kura, LedgerTag.AuthSessionEnded)[0].actor_name == "sato"


def test_r7_one_message_for_any_wrong_part(server, clock):
    user = make_user(server.kura, "ito", ("nurse",))
    clock.advance(seconds=30)
    attempts = [("nobody", user.password, user.code(clock)), ("ito", "wrong-password-1", user.code(clock)),
                ("ito", user.password, "000000")]
    bodies = set()
    with browser(server) as c:
        for name, password, otp in attempts:
            r = c.post("/login", data={"username": name, "password": password, "otp": otp})
            assert r.status_code == 401
            bodies.add(text_of(r.text).replace(name, ""))
    assert len(bodies) == 1
    assert "ユーザー名、パスワードまたは確認コードが正しくありません" in bodies.pop()


def test_r22_r7_locked_account_owner_gets_the_locked_message_and_whom_to_call(server, clock):
    import dataclasses

    server.kura.settings = dataclasses.replace(server.kura.settings, support_contact="医療情報部（内線 2345）")
    user = make_user(server.kura, "kimura", ("clerk",))
    with browser(server) as c:
        pages = [c.post("/login", data={"username": name, "password": "bad-password-x", "otp": "123456"})
                 for name in ("kimura", "kimurax") for _ in range(6)]
        # the attempts that lock and those after: the same page for the account and the unknown name
        assert [p.status_code for p in pages] == [401] * 12
        assert {text_of(p.text).replace("kimurax", "").replace("kimura", "") for p in pages} == \
            {text_of(pages[0].text).replace("kimura", "")}
        assert "ロック" not in pages[5].text
        # a wrong password still says only "wrong" …
        clock.advance(seconds=30)
        wrong = c.post("/login", data={"username": "kimura", "password": "bad-password-y", "otp": user.code(clock)})
        assert wrong.status_code == 401 and "ロック" not in wrong.text
        # … the right password and code tell the owner it is locked and whom to call
        right = c.post("/login", data={"username": "kimura", "password": user.password, "otp": user.code(clock)})
        assert right.status_code == 423
        text = text_of(right.text)
        assert "ロックされています" in text and "医療情報部（内線 2345）に連絡" in text
        assert c.get("/").status_code == 303  # and no session


def test_r6_forced_password_change_before_anything_else(server, clock):
    user = make_user(server.kura, "new-nurse", ("nurse",), must_change=True)
    clock.advance(seconds=30)
    with browser(server) as c:
        r = c.post("/login", data={"username": user.username, "password": user.password, "otp": user.code(clock)})
        assert r.headers["location"] == "/account/password"
        assert c.get("/").headers["location"] == "/account/password"
        assert c.get("/admin/users").headers["location"] == "/account/password"
        page = c.get("/account/password")
        assert "8 文字以上" in page.text  # the rules are explained
        bad = c.post("/account/password", data={"old": user.password, "new": "password", "confirm": "password"})
        assert bad.status_code == 400
        ok = c.post("/account/password", data={"old": user.password, "new": "k7-ward-Sakura", "confirm": "k7-ward-Sakura"})
        assert ok.status_code == 303
        assert c.get("/").status_code == 200
    assert entries(server.kura, LedgerTag.AuthPasswordChanged)[0].actor_name == "new-nurse"


def test_r20_idle_timeout_ends_the_session_and_says_why(server, clock):
    user = make_user(server.kura, "oda", ("clerk",))
    with browser(server) as c:
        form_login(server, clock, user, c)
        home = c.get("/")
        assert 'data-idle-seconds="900"' in home.text and 'id="idle-notice"' in home.text
        clock.advance(seconds=16 * 60)
        # what the page's countdown does at zero
        r = c.get("/login?timeout=1&next=/")
        assert r.status_code == 200 and "操作がなかったため" in r.text
        assert c.get("/").status_code == 303
    assert entries(server.kura, LedgerTag.AuthSessionTimedOut)[0].actor_name == "oda"


def test_anonymous_page_request_goes_to_login_with_next(server):
    with browser(server) as c:
        r = c.get("/audit?user=x")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faudit%3Fuser%3Dx"


def test_language_switch_sets_cookie_and_returns(server):
    with browser(server) as c:
        r = c.get("/lang/en", params={"next": "/login"})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert "Sign in" in c.get("/login").text
        assert c.get("/lang/ja", params={"next": "https://evil.example/"}).headers["location"] == "/"
        assert "ログイン" in c.get("/login").text


def test_login_redirect_never_leaves_the_site(server, clock):
    user = make_user(server.kura, "abe", ("clerk",))
    clock.advance(seconds=30)
    with browser(server) as c:
        r = c.post("/login", data={"username": "abe", "password": user.password, "otp": user.code(clock),
                                   "next": "//evil.example/x"})
        assert r.headers["location"] == "/"


def test_r7_a_reused_code_gets_its_own_message_only_with_the_right_password(server, clock):
    """Demo users signed in twice within 30 seconds and then locked themselves out on the
    generic message. A right code already used, with the right password, says so and is not
    counted towards the lockout; with a wrong password it is the one generic message (R7)."""
    user = make_user(server.kura, "ueda", ("clerk",))
    with browser(server) as c:
        form_login(server, clock, user, c)
        c.post("/logout")
        used = user.code(clock)
        for _ in range(server.kura.settings.lockout_failures + 1):
            r = c.post("/login", data={"username": "ueda", "password": user.password, "otp": used})
            assert r.status_code == 401 and "このコードはすでに使われました" in text_of(r.text)
        r = c.post("/login", data={"username": "ueda", "password": "wrong-password-1", "otp": used})
        assert r.status_code == 401 and "すでに使われました" not in text_of(r.text)
        clock.advance(seconds=30)
        r = c.post("/login", data={"username": "ueda", "password": user.password, "otp": user.code(clock)})
        assert r.status_code == 303  # not locked out
    assert any(e.reason == "code already used" for e in entries(server.kura, LedgerTag.AuthLoginFailed))
