"""The audit manager's and operator's view of the ledger, through the access check.

Reading the ledger is itself recorded (R25, DICOM 110101 Audit Log Used).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.exc import SQLAlchemyError

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Invalid, NotFound
from kura.ledger import service as ledger
from kura.ledger.models import AlertSignoff, Checkpoint, LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.limits import MAX_INT, within_int
from kura.operation import Context

__all__ = ["verify", "checkpoint", "browse", "Filter", "alerts", "sign_off"]

LEDGER = Target(kind="Ledger")


def verify(ctx: Context, *, progress=None, anchor: ledger.Anchor | None = None) -> ledger.VerifyResult:
    """Verify the whole ledger, and against `anchor` (a checkpoint kept off the machine) if given.
    Ledger: AuditLedgerVerified (outcome 0, or 12 and an alert when broken)."""
    ctx.require(Action.AuditLedgerVerify, LEDGER)
    result = ledger.verify(ctx.session, signer=ctx.signer, progress=progress, anchor=anchor)
    if result.ok:
        ctx.record(LedgerTag.AuditLedgerVerified, target=LEDGER, reason=result.line())
        return result
    # A tampered ledger may refuse even this entry (a forged row where it would go): the
    # verdict must still reach the operator, so the alert is tried in a savepoint.
    try:
        with ctx.session.begin_nested():
            ctx.record(LedgerTag.AuditLedgerVerified, target=LEDGER, outcome=12, reason=result.line(), alert=True)
    except SQLAlchemyError:
        pass
    return result


def checkpoint(ctx: Context) -> Checkpoint:
    """Sign the tree including the entry that records this checkpoint. Ledger: AuditCheckpointCreated."""
    ctx.require(Action.AuditCheckpointCreate, LEDGER)
    ctx.record(LedgerTag.AuditCheckpointCreated, target=LEDGER)
    return ledger.make_checkpoint(ctx.session, at=ctx.now(), signer=ctx.signer)


@dataclasses.dataclass
class Filter:
    actor: str = ""
    tag: str = ""
    patient_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    alerts_only: bool = False


def browse(ctx: Context, flt: Filter, *, offset: int = 0, limit: int = 50) -> tuple[list[LedgerEntry], int]:
    """Entries matching `flt`, newest first, and the total. Ledger: AuditLedgerRead (R25)."""
    ctx.require(Action.AuditLedgerRead, LEDGER)
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_INT:
        raise Invalid(f"limit must be 1–1000 and offset 0–{MAX_INT}")
    conds: list[ColumnElement[bool]] = []
    if flt.actor:
        conds.append(LedgerEntry.actor_name == flt.actor)
    if flt.tag:
        conds.append(or_(LedgerEntry.tag == flt.tag, LedgerEntry.tag.startswith(flt.tag + ":")))
    if flt.patient_id:
        conds.append(LedgerEntry.patient_id == flt.patient_id)
    if flt.since:
        conds.append(LedgerEntry.at >= flt.since)
    if flt.until:
        conds.append(LedgerEntry.at < flt.until)
    if flt.alerts_only:
        conds.append(LedgerEntry.alert.is_(True))
    where = and_(*conds) if conds else true()
    total = ctx.session.scalar(select(func.count()).select_from(LedgerEntry).where(where)) or 0
    rows = list(ctx.session.scalars(select(LedgerEntry).where(where)
                                    .order_by(LedgerEntry.seq.desc()).offset(offset).limit(limit)))
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER,
               detail={k: str(v) for k, v in dataclasses.asdict(flt).items() if v})
    return rows, total


def alerts(ctx: Context, *, open_only: bool = True, limit: int = 200) -> list[tuple[LedgerEntry, AlertSignoff | None]]:
    """Security alerts (break-glass, lockouts, denials, …) with their sign-off, newest first."""
    ctx.require(Action.AuditAlertRead, LEDGER)
    stmt = (select(LedgerEntry, AlertSignoff).outerjoin(AlertSignoff, AlertSignoff.seq == LedgerEntry.seq)
            .where(LedgerEntry.alert.is_(True)).order_by(LedgerEntry.seq.desc()).limit(limit))
    if open_only:
        stmt = stmt.where(AlertSignoff.seq.is_(None))
    rows = [(e, s) for e, s in ctx.session.execute(stmt)]
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER, detail={"view": "alerts"})
    return rows


def sign_off(ctx: Context, *, seq: int, note: str) -> AlertSignoff:
    """The audit manager's review of one alert. Ledger: AuditAlertSignedOff."""
    ctx.require(Action.AuditAlertSignoff, LEDGER)
    entry = ctx.session.get(LedgerEntry, seq) if within_int(seq) else None
    if entry is None or not entry.alert:
        raise NotFound(f"no alert {seq}")
    if ctx.session.get(AlertSignoff, seq) is not None:
        raise Invalid(f"alert {seq} is signed off already")
    if not note.strip():
        raise Invalid("a sign-off needs a note")
    so = AlertSignoff(seq=seq, by_id=ctx.actor.id if ctx.actor else None,
                      by_name=ctx.actor.name if ctx.actor else "system", at=ctx.now(), note=note.strip()[:2000])
    ctx.session.add(so)
    ctx.session.flush()
    ctx.record(LedgerTag.AuditAlertSignedOff, target=Target(kind="LedgerEntry", id=str(seq),
               patient_id=entry.patient_id), reason=note.strip()[:2000])
    return so
