"""機器・媒体の廃棄 (regulation §13; R79): each retired server, terminal, disk or medium is
recorded with how it was made unreadable, by whom, and the certificate — and approved by a
second person (the same two-person rule as data disposal)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid, NotFound, SamePerson
from kura.ledger.tags import LedgerTag
from kura.operation import Context, Denial
from kura.registers.models import EquipmentDisposal

__all__ = ["METHODS", "KINDS", "record", "approve", "list_entries"]

KINDS = {"device": "機器 (サーバー・端末・ネットワーク機器)", "medium": "媒体 (ディスク・テープ・USB・光ディスク)"}
METHODS = {
    "crypto-erase": "暗号化消去 (鍵の破棄)",
    "overwrite": "上書き消去 (全領域)",
    "degauss": "磁気消去",
    "physical": "物理的破壊 (破砕・穿孔)",
    "contractor": "専門業者による消去・破壊 (証明書あり)",
}


def _who(ctx: Context) -> tuple[str | None, str]:
    return (ctx.actor.id if ctx.actor else None), (ctx.actor.name if ctx.actor else "system")


def record(ctx: Context, *, item_kind: str, description: str, serial: str, method: str, performed_by: str,
           performed_on: str, certificate_ref: str = "", note: str = "") -> EquipmentDisposal:
    """Enter a retired device or medium. Raises Denied, Invalid. Ledger: RegisterEquipmentRecorded."""
    ctx.require(Action.RegisterEquipmentManage, Target(kind="EquipmentDisposal"))
    fields = {"description": description, "serial": serial, "performed_by": performed_by}
    missing = [k for k, v in fields.items() if not (v or "").strip()]
    if missing:
        raise Invalid(f"an equipment disposal needs {', '.join(missing)}")
    if item_kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if method not in METHODS:
        raise Invalid(f"method must be one of {', '.join(METHODS)}")
    try:
        day = dt.date.fromisoformat((performed_on or "").strip())
    except ValueError:
        raise Invalid("performed_on must be a date (YYYY-MM-DD)") from None
    who_id, who = _who(ctx)
    e = EquipmentDisposal(item_kind=item_kind, description=description.strip()[:400], serial=serial.strip()[:200],
                          method=method, performed_by=performed_by.strip()[:200], performed_on=day.isoformat(),
                          certificate_ref=(certificate_ref or "").strip()[:400], note=(note or "").strip(),
                          recorded_by_id=who_id, recorded_by_name=who, recorded_at=ctx.now())
    ctx.session.add(e)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterEquipmentRecorded, target=Target(kind="EquipmentDisposal", id=e.id),
               detail={"kind": item_kind, "serial": e.serial, "method": method, "performed_on": e.performed_on})
    return e


def approve(ctx: Context, entry_id: str) -> EquipmentDisposal:
    """A second person approves. Raises Denied (the recorder themself), NotFound, Conflict.
    Ledger: RegisterEquipmentApproved."""
    target = Target(kind="EquipmentDisposal", id=entry_id)
    ctx.require(Action.RegisterEquipmentManage, target)
    e = ctx.session.get(EquipmentDisposal, entry_id)
    if e is None:
        raise NotFound(f"no equipment disposal {entry_id}")
    who_id, who = _who(ctx)
    if (who_id == e.recorded_by_id) if (who_id or e.recorded_by_id) else who == e.recorded_by_name:
        reason = "two-person rule: who recorded the disposal cannot approve it"
        ctx.denials.append(Denial(Action.RegisterEquipmentManage, target, reason))
        raise SamePerson(reason)
    if e.approved_at is not None:
        raise Conflict(f"equipment disposal {entry_id} was approved already")
    e.approved_by_id, e.approved_by_name, e.approved_at = who_id, who, ctx.now()
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterEquipmentApproved, target=target, detail={"serial": e.serial})
    return e


def list_entries(ctx: Context) -> list[EquipmentDisposal]:
    ctx.require(Action.RegisterEntryRead, Target(kind="EquipmentDisposal"))
    return list(ctx.session.scalars(select(EquipmentDisposal).order_by(EquipmentDisposal.recorded_at.desc())))
