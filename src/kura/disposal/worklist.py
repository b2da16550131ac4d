"""The disposal worklist for the system administrator (R80): what has passed its retention,
by patient and class, and what stays because something else still runs (a Coverage kept
while an Invoice of the same patient is in retention), or because of a legal hold."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.disposal.models import REQUESTED, Disposal
from kura.disposal.retention import PatientRetention, retention_of, today
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["Row", "worklist"]


@dataclasses.dataclass
class Row:
    retention: PatientRetention
    pending: str | None  # the id of a disposal waiting for approval

    @property
    def state(self) -> str:
        r = self.retention
        if self.pending:
            return "pending"
        if r.holds:
            return "held"
        return "ended" if r.ended else "running"


def worklist(ctx: Context, *, horizon_days: int = 365, everyone: bool = False) -> list[Row]:
    """Patients whose retention has ended or ends within `horizon_days` (all with `everyone`),
    soonest first. Raises Denied. Ledger: RetentionWorklistRead (how many, no names)."""
    ctx.require(Action.RetentionDisposalRead, Target(kind="Disposal"))
    limit = today(ctx) + dt.timedelta(days=horizon_days)
    pending = dict(ctx.session.execute(select(Disposal.patient_id, Disposal.id).where(Disposal.status == REQUESTED)).all())
    rows = [Row(r, pending.get(pid)) for pid, r in retention_of(ctx).items()
            if everyone or r.ends <= limit or r.holds or pid in pending]
    rows.sort(key=lambda row: (row.retention.ends, row.retention.patient_id))
    ctx.record(LedgerTag.RetentionWorklistRead, target=Target(kind="Disposal"),
               detail={"patients": len(rows), "ended": sum(1 for r in rows if r.retention.ended),
                       "horizon_days": horizon_days})
    return rows
