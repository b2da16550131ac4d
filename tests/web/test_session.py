"""/api/session per the README: 2FA login, same 401 for every wrong part, lockout, logout,
forced password change, idle timeout — each leaving its ledger entry."""

import pytest

from kura.audit import service as audit
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user


def _entries(kura, tag):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(tag=str(tag)), limit=100)
    return rows


def test_r2_login_needs_password_and_code(server, clock):
    user = make_user(server.kura, "tanaka", ("clerk",))
    clock.advance(seconds=30)
    with server.client() as c:
        ok = c.post("/api/session", json={"username": "tanaka", "password": user.password, "otp": user.code(clock)})
        assert ok.status_code == 201
        assert set(ok.json()) == {"token", "expires_at", "must_change_password"}
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        c.cookies.clear()
        # the same code a second time is refused (no replay)
        again = c.post("/api/session", json={"username": "tanaka", "password": user.password, "otp": user.code(clock)})
        assert again.status_code == 401
    assert _entries(server.kura, LedgerTag.AuthLoginSucceeded)[0].actor_name == "tanaka"


def test_r7_same_401_for_unknown_user_wrong_password_wrong_code(server, clock):
    user = make_user(server.kura, "suzuki", ("nurse",))
    clock.advance(seconds=30)
    attempts = [
        {"username": "nobody", "password": user.password, "otp": user.code(clock)},
        {"username": "suzuki", "password": "wrong-password-1", "otp": user.code(clock)},
        {"username": "suzuki", "password": user.password, "otp": "000000"},
    ]
    bodies = set()
    with server.client() as c:
        for body in attempts:
            r = c.post("/api/session", json=body)
            assert r.status_code == 401
            bodies.add(r.text)
    assert len(bodies) == 1
    assert len(_entries(server.kura, LedgerTag.AuthLoginFailed)) == 3


def test_r22_lockout_after_five_failures_and_admin_unlock(server, clock):
    user = make_user(server.kura, "kato", ("clerk",))
    with server.client() as c:
        codes = [c.post("/api/session", json={"username": "kato", "password": "bad-password-x", "otp": "123456"}).status_code
                 for _ in range(5)]
        assert codes == [401, 401, 401, 401, 401]  # the attempt that locks answers as any failure (R7)
        clock.advance(seconds=30)
        c.cookies.clear()
        right = c.post("/api/session", json={"username": "kato", "password": user.password, "otp": user.code(clock)})
        assert right.status_code == 423  # only the owner, with the right password and code, learns of it
        assert "locked" in right.json()["detail"] and "system administrator" in right.json()["detail"]
    assert _entries(server.kura, LedgerTag.AuthAccountLocked)
    from kura.identity import service as identity
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        identity.unlock(ctx, username="kato")
    assert server.login(user, clock)


def test_lockout_expires_after_lockout_minutes(server, clock):
    user = make_user(server.kura, "endo", ("clerk",))
    with server.client() as c:
        for _ in range(5):
            c.post("/api/session", json={"username": "endo", "password": "bad-password-x", "otp": "123456"})
    clock.advance(minutes=16)
    assert server.login(user, clock)


def test_logout_kills_the_token(server, clock):
    user = make_user(server.kura, "ito", ("clerk",))
    token = server.login(user, clock)
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 200
        assert c.delete("/api/session").status_code == 204
        assert c.get("/api/session").status_code == 401
    assert _entries(server.kura, LedgerTag.AuthSessionEnded)


def test_r20_idle_timeout_ends_the_session(server, clock):
    user = make_user(server.kura, "mori", ("clerk",))
    token = server.login(user, clock)
    clock.advance(minutes=16)
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 401
    assert _entries(server.kura, LedgerTag.AuthSessionTimedOut)


def test_r6_admin_set_password_must_be_changed_first(server, clock):
    user = make_user(server.kura, "abe", ("clerk",), must_change=True)
    clock.advance(seconds=30)
    with server.client() as c:
        r = c.post("/api/session", json={"username": "abe", "password": user.password, "otp": user.code(clock)})
        assert r.status_code == 201 and r.json()["must_change_password"] is True
        token = r.json()["token"]
    with server.client(token) as c:
        assert c.get("/api/openapi.json").status_code == 200  # reachable while pending
        weak = c.post("/api/session/password", json={"old": user.password, "new": "password1"})
        assert weak.status_code == 400
        ok = c.post("/api/session/password", json={"old": user.password, "new": "a-much-better-pass-7"})
        assert ok.status_code == 204
        assert c.get("/api/session").json()["must_change_password"] is False


def test_password_change_revokes_other_sessions(server, clock):
    user = make_user(server.kura, "ueda", ("clerk",))
    first = server.login(user, clock)
    second = server.login(user, clock)
    with server.client(second) as c:
        assert c.post("/api/session/password", json={"old": user.password, "new": "brand-new-pass-99"}).status_code == 204
        assert c.get("/api/session").status_code == 200
    with server.client(first) as c:
        assert c.get("/api/session").status_code == 401


def test_r11_disable_revokes_sessions(server, clock):
    user = make_user(server.kura, "oda", ("clerk",))
    token = server.login(user, clock)
    from kura.identity import service as identity
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        identity.disable(ctx, username="oda")
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 401


@pytest.mark.parametrize("body", [
    "{not json", "[]", '{"username": 1, "password": 2, "otp": 3}',
    '{"username": "a", "password": "b", "otp": "c", "extra": 1}',
    '{"username": "x\' OR 1=1 --", "password": "p", "otp": "1"}',
])
def test_bad_input_is_a_clear_4xx(server, body):
    with server.client() as c:
        r = c.post("/api/session", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert "detail" in r.json()


def test_oversized_body_is_413(server):
    big = "x" * (server.kura.settings.json_max_bytes + 10)
    with server.client() as c:
        r = c.post("/api/session", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_nfkc_username_lookalikes(server, clock):
    user = make_user(server.kura, "yamada", ("clerk",))
    clock.advance(seconds=30)
    with server.client() as c:
        full_width = c.post("/api/session", json={"username": "ＹＡＭＡＤＡ", "password": user.password,
                                                  "otp": user.code(clock)})
        assert full_width.status_code == 201
        clock.advance(seconds=30)
        c.cookies.clear()
        cyrillic = c.post("/api/session", json={"username": "yаmada", "password": user.password,
                                                "otp": user.code(clock)})
        assert cyrillic.status_code == 401


def test_csrf_cookie_request_from_another_site_is_refused(server, clock):
    user = make_user(server.kura, "csrf", ("clerk",))
    clock.advance(seconds=30)
    with server.client() as c:
        r = c.post("/api/session", json={"username": "csrf", "password": user.password, "otp": user.code(clock)})
        assert r.status_code == 201  # the cookie is now in the jar
        evil = c.delete("/api/session", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert evil.status_code == 403
        bare = c.delete("/api/session")  # cookie without any browser provenance header
        assert bare.status_code == 403
        same = c.delete("/api/session", headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 204


def test_security_headers_on_every_response(server):
    with server.client() as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_r7_lockout_answers_alike_for_unknown_and_existing_names(server, clock):
    make_user(server.kura, "kondo", ("clerk",))
    answers = {}
    with server.client() as c:
        for name in ("kondo", "kondou"):  # an account, and a name that is none
            answers[name] = [(r.status_code, r.content) for r in
                             (c.post("/api/session", json={"username": name, "password": "bad-password-x",
                                                           "otp": "123456"}) for _ in range(7))]
    assert answers["kondo"] == answers["kondou"]
    assert {code for code, _ in answers["kondo"]} == {401}
    # the auditor still sees both lockouts, the unknown name marked as such
    locked = {e.target_id: e.reason for e in _entries(server.kura, LedgerTag.AuthAccountLocked)}
    assert set(locked) == {"kondo", "kondou"} and "no such account" in locked["kondou"]


def test_r7_unknown_name_lock_lasts_as_long_as_an_account_lock(server, clock):
    """After the lockout minutes both may fail five more times before locking again."""
    make_user(server.kura, "mori", ("clerk",))
    with server.client() as c:
        for name in ("mori", "morii"):
            for _ in range(5):
                c.post("/api/session", json={"username": name, "password": "bad-password-x", "otp": "123456"})
    clock.advance(minutes=16)
    with server.client() as c:
        for name in ("mori", "morii"):
            for _ in range(5):
                c.post("/api/session", json={"username": name, "password": "bad-password-x", "otp": "123456"})
    locked = [e.target_id for e in _entries(server.kura, LedgerTag.AuthAccountLocked)]
    assert sorted(locked) == ["mori", "mori", "morii", "morii"]


def test_session_check_takes_no_write_lock_and_refreshes_last_seen_lazily(server, clock):
    """Checking a session only reads: a request is answered while another unit of work holds
    the database's write lock (SQLite: BEGIN IMMEDIATE), and last-seen is written at most every
    few seconds — still in time for the idle timeout (R20)."""
    import threading

    from sqlalchemy import select

    from kura.identity.models import LoginSession

    user = make_user(server.kura, "okada", ("clerk",))
    token = server.login(user, clock)
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer():
        with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
            ctx.record(LedgerTag.AuthLoginFailed, reason="holds the write lock")
            holding.set()
            release.wait(20)

    writer = threading.Thread(target=hold_the_writer)
    writer.start()
    try:
        assert holding.wait(10)
        with server.client(token) as c:
            assert c.get("/api/session", timeout=5).status_code == 200
    finally:
        release.set()
        writer.join()

    def last_seen():
        with server.kura.unit_of_work(ADMIN, "HOPERAT", read_only=True) as ctx:
            return ctx.session.scalars(select(LoginSession.last_seen_at)).one()

    first = last_seen()
    clock.advance(seconds=2)
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 200
    assert last_seen() == first  # a burst of requests writes nothing
    clock.advance(minutes=10)
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 200
    assert last_seen() > first
    clock.advance(minutes=10)  # 10 minutes idle since the refresh: still inside 15
    with server.client(token) as c:
        assert c.get("/api/session").status_code == 200


def test_a_read_only_unit_of_work_refuses_to_write(server):
    with pytest.raises(RuntimeError):
        with server.kura.unit_of_work(ADMIN, "HOPERAT", read_only=True) as ctx:
            ctx.record(LedgerTag.AuthLoginFailed, reason="must not be written")
