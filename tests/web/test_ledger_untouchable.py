"""R24/R15: no action alters the ledger. A user holding every role, with the highest clearance,
calls every route of the app — each method, with real ledger sequence numbers where a route
takes one — while every SQL statement is watched: none may update or delete ledger entries
or checkpoints, and the ledger still verifies afterwards, longer but unchanged."""

from __future__ import annotations

import re

from sqlalchemy import event

from kura.access.roles import Role
from kura.ledger import service as ledger
from kura.ledger.models import AlertSignoff, LedgerEntry
from kura.web import iter_routes
from tests.factories import make_user
from tests.web.breakglass import break_glass

# A statement whose target is an entry or a checkpoint (the head's own update is how appends work).
ALTERS = re.compile(r"^\s*(UPDATE|DELETE\s+FROM|DROP\s+TABLE|TRUNCATE(\s+TABLE)?|ALTER\s+TABLE|REPLACE\s+INTO|"
                    r"INSERT\s+OR\s+REPLACE\s+INTO)\s+\"?(ledger_entry|checkpoint)\b", re.I)
USER_ROLES = (Role.admin, Role.auditor, Role.clerk, Role.nurse, Role.operations, Role.physician, Role.technologist)
SIGN_OUT = {("DELETE", "/api/session"), ("POST", "/logout")}
FORM = {"note": "確認しました", "reason": "test", "username": "x", "roles": "clerk", "clearance": "N"}


def _concrete(path: str, seq: int) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: str(seq) if m.group(0) in ("{seq}", "{n}") else "x1", path)


def test_r24_no_action_alters_the_ledger(server, clock):
    kura = server.kura
    alert = break_glass(kura)  # an alert to sign off
    everyone = make_user(kura, "all-roles", USER_ROLES, clearance="V")
    altering: list[str] = []

    def watch(conn, cursor, statement, params, context, executemany):
        if ALTERS.search(statement):
            altering.append(statement)

    with kura.sessions() as s:
        before = ledger.count(s)
        first = [(e.seq, e.leaf_hash) for e in s.query(LedgerEntry).order_by(LedgerEntry.seq)]
    event.listen(kura.engine, "before_cursor_execute", watch)
    called = 0
    try:
        with server.client(server.login(everyone, clock)) as c:
            routes = sorted(((m, p) for p, route, _ in iter_routes(server.app.routes) for m in route.methods - {"HEAD"}),
                            key=lambda mp: mp in SIGN_OUT)  # signing out last
            for method, path in routes:
                url = _concrete(path, alert)
                if method in ("POST", "PUT", "PATCH", "DELETE"):
                    c.request(method, url, data=FORM)
                else:
                    c.request(method, url)
                called += 1
    finally:
        event.remove(kura.engine, "before_cursor_execute", watch)
    assert called > 50
    assert altering == [], altering[:3]
    with kura.sessions() as s:
        assert ledger.count(s) > before
        assert [(e.seq, e.leaf_hash) for e in s.query(LedgerEntry).where(LedgerEntry.seq <= before)
                .order_by(LedgerEntry.seq)] == first
        assert ledger.verify(s, signer=kura.signer).ok
        assert s.get(AlertSignoff, alert) is not None  # the routes did their work, not only refuse it
