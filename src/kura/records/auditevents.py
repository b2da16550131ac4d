"""FHIR AuditEvent, read-only, for the audit manager: ledger entries mapped on the fly by
kura.audit.export.audit_event (the same mapping `kura audit export --format fhir` uses).

Reading them goes through kura.audit.service, so it needs AuditLedgerRead and is itself a
ledger entry (R25, DICOM 110101 Audit Log Used).
"""

from __future__ import annotations

import socket

from kura.access.actions import Action
from kura.audit import service as audit
from kura.audit.export import audit_event
from kura.errors import NotFound
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.fhir.params import date_range

__all__ = ["read", "search"]

_HOST = socket.gethostname() or "localhost"


def _row(e: LedgerEntry) -> dict:
    return {c.name: getattr(e, c.name) for c in LedgerEntry.__table__.columns}


def read(ctx: Context, id: str) -> dict:
    """AuditEvent/ledger-{seq}. Raises NotFound, Denied. Ledger: AuditLedgerRead."""
    ctx.require(Action.AuditLedgerRead, audit.LEDGER)
    seq = id.removeprefix("ledger-")
    entry = ctx.session.get(LedgerEntry, int(seq)) if seq.isdigit() else None
    if entry is None:
        raise NotFound(f"AuditEvent/{id} not found")
    ctx.record(LedgerTag.AuditLedgerRead, target=audit.LEDGER, detail={"seq": entry.seq})
    return audit_event(_row(entry), _HOST)


def search(ctx: Context, *, patient: str = "", date_ge: str = "", date_lt: str = "", agent: str = "",
           offset: int = 0, count: int = 50) -> tuple[list[dict], int]:
    """Newest first, filtered by patient, agent name and date. Ledger: AuditLedgerRead."""
    import datetime as dt

    def at(value: str, end: bool) -> dt.datetime | None:
        if not value:
            return None
        lo, hi = date_range(value)
        t = dt.datetime.fromisoformat(hi if end else lo).replace(tzinfo=dt.timezone.utc)
        return t + dt.timedelta(seconds=1) if end else t

    flt = audit.Filter(actor=agent, patient_id=patient.removeprefix("Patient/"), since=at(date_ge, False),
                       until=at(date_lt, False))
    rows, total = audit.browse(ctx, flt, offset=offset, limit=max(1, min(count, 1000)))
    return [audit_event(_row(e), _HOST) for e in rows], total
