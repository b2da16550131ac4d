"""Operations logs over the real HTTP server: one line per request, and a 5xx logged with its
request id and traceback — never the password or token the request carried."""

from __future__ import annotations

import time

from sqlalchemy import text

from tests.factories import make_user


def test_a_failing_request_is_logged_with_its_request_id_and_traceback_and_no_password(
        server, clock, captured_logs):
    user = make_user(server.kura, "logclerk")
    # A real failure inside the request: the sessions table is gone, so the login's INSERT fails.
    with server.kura.engine.begin() as conn:
        conn.execute(text("DROP TABLE login_session" + (" CASCADE" if conn.dialect.name == "postgresql" else "")))
    clock.advance(seconds=30)
    with server.client() as c:
        r = c.post("/api/session", json={"username": user.username, "password": user.password,
                                         "otp": user.code(clock)})
    assert r.status_code == 500
    request_id = r.json()["detail"].split("request ")[1].rstrip(")")
    lines = [line for line in captured_logs.lines() if line.get("request_id") == request_id]
    crash = [line for line in lines if line["level"] == "ERROR" and "exc_info" in line]
    assert crash and "Traceback" in crash[0]["exc_info"], lines
    summary = [line for line in lines if line["message"] == "http request"]
    assert summary and summary[0]["status"] == 500 and summary[0]["outcome"] == "failed"
    assert summary[0]["method"] == "POST" and summary[0]["path"] == "/api/session"
    assert user.password not in captured_logs.text
    assert user.secret not in captured_logs.text


def test_each_request_is_one_line_with_user_status_and_time(server, clock, captured_logs):
    user = make_user(server.kura, "logclerk2")
    token = server.login(user, clock)
    with server.client(token) as c:
        assert c.get("/fhir/Patient", params={"name": "ヤマダ"}).status_code == 200
        assert c.get("/fhir/Patient/nonexistent").status_code == 404
    with server.client() as c:
        assert c.get("/fhir/Patient").status_code == 401
    # a request's line is written as its response finishes, which may be just after the
    # client has it: wait for all three by a deadline, and find each by what it was
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in captured_logs.lines() if line["message"] == "http request"]
        mine = [line for line in lines if line.get("path", "").startswith("/fhir/Patient")]
        if len(mine) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    ok, missing, anonymous = ([line for line in mine if line.get("status") == code][-1] for code in (200, 404, 401))
    assert ok["user"] == "logclerk2" and ok["status"] == 200 and ok["outcome"] == "ok" and ok["ms"] >= 0
    assert ok["path"] == "/fhir/Patient" and "ヤマダ" not in captured_logs.text  # no query string
    assert missing["status"] == 404 and missing["outcome"] == "refused"
    assert anonymous["status"] == 401 and "user" not in anonymous
    assert token not in captured_logs.text and user.password not in captured_logs.text
    assert len({line["request_id"] for line in lines}) == len(lines)
