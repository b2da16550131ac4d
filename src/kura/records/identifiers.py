"""A Patient identifier (system + value) belongs to one Patient (issue 10; FHIR R4
http.html#ccreate).

The database holds the rule (records.models.PatientIdentifier, unique per system), so two
writers racing cannot both register an identifier: the loser's insert fails and it is told
409 Conflict. A conditional create (`If-None-Exist: identifier=system|value`) is also made
safe under concurrency on PostgreSQL, where two transactions could both find no match and
both create: a transaction-scoped advisory lock on the identifier serialises them, so the
second finds the first's Patient (200) instead of failing. SQLite serialises writers already
(BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from kura.errors import Conflict
from kura.keys import service as keys
from kura.operation import Context
from kura.records.models import PatientIdentifier, Record
from kura.text import normalise

__all__ = ["claim", "lock_criteria", "release"]

_KIND = "patient-identifier"
_TABLE = cast(Table, PatientIdentifier.__table__)
_INSERT = insert(_TABLE)


def _pairs(ctx: Context, resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, token) of each identifier with both a system and a value, once each."""
    out = []
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            pair = (str(ident["system"])[:200], keys.blind(ctx, _KIND, normalise(str(ident["value"]))[:200]))
            if pair not in out:
                out.append(pair)
    return out


def release(ctx: Context, rec: Record) -> None:
    """Forget the record's identifiers (before they are claimed again for a new version)."""
    ctx.session.connection().execute(delete(_TABLE).where(_TABLE.c.record_pk == rec.pk))


def claim(ctx: Context, rec: Record, resource: dict[str, Any], *, lenient: bool = False) -> None:
    """Register the Patient's identifiers to it. Raises Conflict when another Patient holds
    one of them (the caller's unit of work then rolls back). `lenient` (rebuilding the index of
    a restored home) skips an identifier already held instead."""
    rows = [{"record_pk": rec.pk, "system": system, "token": token} for system, token in _pairs(ctx, resource)]
    if not rows:
        return
    conn = ctx.session.connection()
    if lenient:
        held = {(r.system, r.token) for r in conn.execute(
            select(_TABLE.c.system, _TABLE.c.token).where(_TABLE.c.token.in_([r["token"] for r in rows])))}
        rows = [r for r in rows if (r["system"], r["token"]) not in held]
        if rows:
            conn.execute(_INSERT, rows)
        return
    try:
        conn.execute(_INSERT, rows)
    except IntegrityError:
        raise Conflict("a Patient with this identifier (system and value) exists already; "
                       "search by identifier and update that Patient instead") from None


def lock_criteria(ctx: Context, criteria: str) -> None:
    """Serialise conditional creates on the same criteria until the transaction ends
    (PostgreSQL advisory lock; nothing to do on SQLite, whose writers are serialised)."""
    if ctx.session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(b"kura:if-none-exist:" + normalise(criteria).encode()).digest()[:8],
                         "big", signed=True)
    ctx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
