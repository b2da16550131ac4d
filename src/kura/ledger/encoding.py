"""The bytes an entry's leaf hash covers (ledger format v2), built in Python or by the database.

Changing anything here is a new ledger format: every existing entry would fail `verify`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from kura.ledger.models import LedgerEntry

__all__ = ["FIELDS", "SEP", "NULL", "iso_utc", "field_text", "clean", "entry_bytes", "encoded_sql"]

# The columns hashed into each leaf, in order.
FIELDS = ("seq", "at", "tag", "outcome", "actor_id", "actor_name", "roles", "origin", "request_id",
          "purpose", "target_kind", "target_id", "patient_id", "digest", "reason", "detail", "alert")


def iso_utc(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def field_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    return str(value)


SEP = "\x1f"  # ASCII unit separator, between fields
NULL = "\x1e"  # ASCII record separator, standing for SQL NULL
_UNSAFE = re.compile("[\x00\x1e\x1f]")


def clean(text: str) -> str:
    """Text as the ledger stores it: NUL and the two separators become U+FFFD.

    PostgreSQL cannot store NUL, and a separator inside a field could shift its boundary;
    no honest audit field contains them.
    """
    return _UNSAFE.sub("\ufffd", text) if _UNSAFE.search(text) else text


def entry_bytes(row: Iterable[object]) -> bytes:
    """The bytes hashed into an entry's leaf (ledger format v2): the FIELDS' texts joined by
    U+001F, NULL written as U+001E.

    Integers are decimal, booleans ``1``/``0``, times ISO 8601 UTC with microseconds and
    ``Z``. Fields never contain U+0000, U+001E or U+001F (`clean`), so the encoding is
    unambiguous; `verify` refuses an entry whose fields do. `verify` has the database build
    the same string (`encoded_sql`), so each row crosses into Python as one value.
    """
    return SEP.join([NULL if v is None else field_text(v) or "" for v in row]).encode("utf-8")


def _field_text_sql(name: str, dialect: str) -> str:
    """SQL giving a column's text exactly as `field_text` renders the value kura wrote."""
    if dialect == "postgresql":
        if name == "at":
            return """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        if name == "alert":
            return "(CASE WHEN alert THEN '1' ELSE '0' END)"
        if name in ("seq", "outcome"):
            return f"CAST({name} AS TEXT)"
        return name
    if name == "at":  # stored by SQLAlchemy as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return "(substr(at, 1, 10) || 'T' || substr(at, 12) || 'Z')"
    if name in ("seq", "outcome", "alert"):  # the stored text: 0/1, not anything truthy
        return f"CAST({name} AS TEXT)"
    return name


_NULLABLE = frozenset(c.name for c in LedgerEntry.__table__.columns if c.nullable)


def encoded_sql(dialect: str) -> str:
    """SQL building `entry_bytes` (as text) from a ledger_entry row.

    A nullable column holding exactly U+001E (which `clean` never writes) would read like
    NULL; it is rendered as a separator instead, so verify's separator count refuses it.
    """
    char = "chr" if dialect == "postgresql" else "char"
    parts = []
    for name in FIELDS:
        t = _field_text_sql(name, dialect)
        if name in _NULLABLE:
            t = f"(CASE WHEN {name} IS NULL THEN {char}(30) WHEN {name} = {char}(30) THEN {char}(31) ELSE {t} END)"
        parts.append(t)
    return f" || {char}(31) || ".join(parts)
