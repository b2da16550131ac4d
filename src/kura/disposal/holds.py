"""Legal holds (訴訟・開示請求; R52): while one is in force, a patient's data is not disposed of.

The system administrator or the audit manager places and lifts them, each with a reason;
both are ledger entries.
"""

from __future__ import annotations

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.disposal.models import LegalHold
from kura.errors import Conflict, Invalid, NotFound
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.models import Record
from kura.tombstones import check as check_disposed

__all__ = ["place", "lift", "list_holds"]


def _target(patient_id: str) -> Target:
    return Target(kind="Patient", id=patient_id, patient_id=patient_id)


def place(ctx: Context, *, patient_id: str, reason: str) -> LegalHold:
    """Put `patient_id` on legal hold. Raises Denied, Invalid (no reason), NotFound (no such
    patient), Shredded (already disposed of). Ledger: RetentionHoldPlaced."""
    patient_id = (patient_id or "").strip()
    ctx.require(Action.RetentionHoldPlace, _target(patient_id))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a legal hold needs a reason (訴訟・開示請求など)")
    if ctx.session.scalar(select(Record.pk).where(Record.rtype == "Patient", Record.logical_id == patient_id)) is None:
        check_disposed(ctx, "Patient", patient_id)
        raise NotFound(f"Patient/{patient_id} not found")
    a = ctx.actor
    hold = LegalHold(patient_id=patient_id, reason=reason[:2000], placed_by_id=a.id if a else None,
                     placed_by_name=a.name if a else "system", placed_at=ctx.now())
    ctx.session.add(hold)
    ctx.session.flush()
    ctx.record(LedgerTag.RetentionHoldPlaced, target=_target(patient_id), reason=hold.reason,
               detail={"hold": hold.id})
    return hold


def lift(ctx: Context, hold_id: str, *, reason: str) -> LegalHold:
    """Lift a hold. Raises Denied, NotFound, Invalid (no reason), Conflict (lifted already).
    Ledger: RetentionHoldLifted."""
    hold = ctx.session.get(LegalHold, hold_id)
    ctx.require(Action.RetentionHoldLift, _target(hold.patient_id if hold else ""))
    if hold is None:
        raise NotFound(f"no legal hold {hold_id}")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("lifting a legal hold needs a reason (X-Kura-Reason)")
    if hold.lifted_at is not None:
        raise Conflict(f"legal hold {hold_id} was lifted already")
    a = ctx.actor
    hold.lifted_at, hold.lift_reason = ctx.now(), reason[:2000]
    hold.lifted_by_id, hold.lifted_by_name = (a.id if a else None), (a.name if a else "system")
    ctx.session.flush()
    ctx.record(LedgerTag.RetentionHoldLifted, target=_target(hold.patient_id), reason=hold.lift_reason,
               detail={"hold": hold.id})
    return hold


def list_holds(ctx: Context, *, active_only: bool = False) -> list[LegalHold]:
    """Every hold, newest first. Raises Denied."""
    ctx.require(Action.RetentionDisposalRead, Target(kind="LegalHold"))
    stmt = select(LegalHold).order_by(LegalHold.placed_at.desc())
    if active_only:
        stmt = stmt.where(LegalHold.lifted_at.is_(None))
    return list(ctx.session.scalars(stmt))
