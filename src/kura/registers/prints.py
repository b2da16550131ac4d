"""The print and export register (regulation §11; R69, R72): who printed or carried out what,
when and for what purpose — read from the ledger, where every printout and export is an
entry already. Reading it is itself recorded (R25)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["PrintRow", "TAGS", "print_register"]

TAGS = {LedgerTag.RecordsRecordPrinted: "印刷 (記録)", LedgerTag.ImagingStudyPrinted: "印刷 (画像)",
        LedgerTag.RecordsRecordExported: "持ち出し (開示 ZIP)", LedgerTag.RegisterMediaRecorded: "持ち出し (患者媒体)"}


@dataclasses.dataclass(frozen=True)
class PrintRow:
    seq: int
    at: dt.datetime
    what: str
    who: str
    target: str
    patient_id: str
    purpose: str
    destination: str
    digest: str


def print_register(ctx: Context, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   limit: int = 500) -> list[PrintRow]:
    """Printouts and exports, newest first. Raises Denied. Ledger: AuditLedgerRead (register: prints)."""
    ctx.require(Action.RegisterPrintRead, Target(kind="Ledger"))
    where = [LedgerEntry.tag.in_([str(t) for t in TAGS]), LedgerEntry.outcome == 0]
    if since:
        where.append(LedgerEntry.at >= since)
    if until:
        where.append(LedgerEntry.at <= until)
    rows = []
    for e in ctx.session.scalars(select(LedgerEntry).where(*where).order_by(LedgerEntry.seq.desc()).limit(limit)):
        d = json.loads(e.detail or "{}")
        rows.append(PrintRow(seq=e.seq, at=e.at, what=TAGS[LedgerTag(e.tag)], who=e.actor_name,
                             target=f"{e.target_kind}/{e.target_id}" if e.target_id else e.target_kind,
                             patient_id=e.patient_id or "", purpose=e.reason or e.purpose,
                             destination=str(d.get("destination") or d.get("format") or ""), digest=e.digest or ""))
    ctx.record(LedgerTag.AuditLedgerRead, target=Target(kind="Ledger"), detail={"register": "prints", "rows": len(rows)})
    return rows
