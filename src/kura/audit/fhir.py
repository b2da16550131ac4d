"""FHIR AuditEvent, read-only, for the audit manager: ledger entries mapped on the fly by
kura.audit.export.audit_event (the same mapping `kura audit export --format fhir` uses).

Reading them goes through kura.audit.service, so it needs AuditLedgerRead and is itself a
ledger entry (R25, DICOM 110101 Audit Log Used).
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

from kura.access.actions import Action
from kura.audit import service as audit
from kura.audit.export import audit_event
from kura.errors import NotFound
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.limits import within_int
from kura.operation import Context

__all__ = ["read", "search"]

_HOST = socket.gethostname() or "localhost"


def _row(e: LedgerEntry) -> dict[str, Any]:
    return {c.name: getattr(e, c.name) for c in LedgerEntry.__table__.columns}


def read(ctx: Context, id: str) -> dict[str, Any]:
    """AuditEvent/ledger-{seq}. Raises NotFound, Denied. Ledger: AuditLedgerRead."""
    ctx.require(Action.AuditLedgerRead, audit.LEDGER)
    seq = id.removeprefix("ledger-")
    entry = ctx.session.get(LedgerEntry, int(seq)) if seq.isdigit() and len(seq) <= 10 and within_int(int(seq)) else None
    if entry is None:
        raise NotFound(f"AuditEvent/{id} not found")
    ctx.record(LedgerTag.AuditLedgerRead, target=audit.LEDGER, detail={"seq": entry.seq})
    return audit_event(_row(entry), _HOST)


def search(ctx: Context, *, patient: str = "", since: dt.datetime | None = None,
           until: dt.datetime | None = None, agent: str = "", offset: int = 0,
           count: int = 50) -> tuple[list[dict[str, Any]], int]:
    """Newest first, filtered by patient, agent name and time (since ≤ recorded < until).
    Raises Denied. Ledger: AuditLedgerRead."""
    flt = audit.Filter(actor=agent, patient_id=patient.removeprefix("Patient/"), since=since, until=until)
    rows, total = audit.browse(ctx, flt, offset=offset, limit=max(1, min(count, 1000)))
    return [audit_event(_row(e), _HOST) for e in rows], total
