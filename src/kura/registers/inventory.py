"""機器台帳 and 点検 (regulation §7; R83): the inventory of servers, terminals, network devices
and media — what, where, who answers for it, serial, installed on, state — with an inspection
interval per item, the inspection log (result, findings, the follow-up and its closing), and
the items whose inspection is overdue.

A retired item (廃棄済) names its entry in the disposal register (kura.registers.equipment),
so the inventory and the record of how the device was made unreadable point at each other.
Dates are calendar days (ISO text), as in the disposal register: an inspection is due on a day.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.disposal.retention import today
from kura.errors import Conflict, Invalid, NotFound
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.registers.models import Equipment, EquipmentDisposal, Inspection

__all__ = ["KINDS", "STATES", "RESULTS", "add", "change", "get", "list_items", "inspections", "inspect",
           "close_follow_up", "overdue", "open_follow_ups", "next_due"]

# code -> English message id; the screens show them translated (機器台帳 in Japanese).
KINDS = {"server": "Server", "terminal": "Terminal", "network": "Network device", "medium": "Storage medium"}
STATES = {"active": "In use", "spare": "Spare", "retired": "Retired (disposed of)"}
RESULTS = {"ok": "No problem found", "findings": "Findings (follow-up needed)"}

_FIELDS = ("asset_no", "kind", "name", "location", "responsible", "serial", "installed_on", "state",
           "interval_days", "disposal_id", "note")
_REQUIRED = ("asset_no", "name", "location", "responsible", "serial")


def _who(ctx: Context) -> str:
    return ctx.actor.name if ctx.actor else "system"


def _day(value: str | None, message: str) -> str:
    try:
        return dt.date.fromisoformat((value or "").strip()).isoformat()
    except ValueError:
        raise Invalid(message) from None


def next_due(interval_days: int, last: str | None, installed_on: str, state: str) -> str | None:
    """The day the next inspection is due: the interval after the last inspection (or after
    installation, before the first); none for a retired item or one without an interval."""
    if state == "retired" or interval_days <= 0:
        return None
    return (dt.date.fromisoformat(last or installed_on) + dt.timedelta(days=interval_days)).isoformat()


def _clean(ctx: Context, values: dict) -> dict:
    out = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    missing = [k for k in _REQUIRED if k in out and not out[k]]
    if missing:
        raise Invalid(f"an equipment item needs {', '.join(missing)}")
    if "kind" in out and out["kind"] not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if "state" in out and out["state"] not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}")
    if "installed_on" in out:
        out["installed_on"] = _day(out["installed_on"], "the installation date is not a date (YYYY-MM-DD)")
    if "interval_days" in out:
        try:
            days = int(out["interval_days"] or 0)
        except (TypeError, ValueError):
            raise Invalid("the inspection interval is not a number of days") from None
        if not 0 <= days <= 3660:
            raise Invalid("the inspection interval must be between 0 and 3660 days")
        out["interval_days"] = days
    if out.get("disposal_id"):
        if ctx.session.get(EquipmentDisposal, out["disposal_id"]) is None:
            raise NotFound(f"no equipment disposal {out['disposal_id']}")
    elif "disposal_id" in out:
        out["disposal_id"] = None
    for k, n in (("asset_no", 64), ("name", 400), ("location", 200), ("responsible", 200), ("serial", 200)):
        if k in out:
            out[k] = out[k][:n]
    return out


def _check_retired(e: Equipment) -> None:
    if e.state == "retired" and not e.disposal_id:
        raise Invalid("a retired item needs its entry in the disposal register")
    if e.state != "retired" and e.disposal_id:
        raise Invalid("only a retired item has a disposal entry")


def _last_inspected(ctx: Context, equipment_id: str) -> str | None:
    return ctx.session.scalar(select(Inspection.inspected_on).where(Inspection.equipment_id == equipment_id)
                              .order_by(Inspection.inspected_on.desc()).limit(1))


def add(ctx: Context, *, asset_no: str, kind: str, name: str, location: str, responsible: str, serial: str,
        installed_on: str, state: str = "active", interval_days: int | str = 0, disposal_id: str | None = None,
        note: str = "") -> Equipment:
    """Enter an item in the inventory. Raises Denied, Invalid, NotFound (no such disposal
    entry), Conflict (the asset number is taken). Ledger: RegisterDeviceAdded."""
    ctx.require(Action.RegisterEquipmentManage, Target(kind="Equipment"))
    v = _clean(ctx, dict(asset_no=asset_no, kind=kind, name=name, location=location, responsible=responsible,
                         serial=serial, installed_on=installed_on, state=state, interval_days=interval_days,
                         disposal_id=disposal_id, note=note))
    if ctx.session.scalar(select(Equipment.id).where(Equipment.asset_no == v["asset_no"])):
        raise Conflict("this asset number is in the inventory already")
    now = ctx.now()
    e = Equipment(**v, recorded_by_name=_who(ctx), recorded_at=now, changed_at=now)
    _check_retired(e)
    e.next_due = next_due(e.interval_days, None, e.installed_on, e.state)
    ctx.session.add(e)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterDeviceAdded, target=Target(kind="Equipment", id=e.id),
               detail={"asset_no": e.asset_no, "kind": e.kind, "serial": e.serial, "location": e.location,
                       "state": e.state, "interval_days": e.interval_days})
    return e


def change(ctx: Context, equipment_id: str, **values) -> Equipment:
    """Change an item: where it is, who answers for it, its state, its interval… Retiring it
    needs its disposal entry. Raises Denied, NotFound, Invalid, Conflict.
    Ledger: RegisterDeviceChanged with each changed field (before → after)."""
    target = Target(kind="Equipment", id=equipment_id)
    ctx.require(Action.RegisterEquipmentManage, target)
    e = get(ctx, equipment_id)
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    v = _clean(ctx, values)
    if "asset_no" in v and v["asset_no"] != e.asset_no and ctx.session.scalar(
            select(Equipment.id).where(Equipment.asset_no == v["asset_no"])):
        raise Conflict("this asset number is in the inventory already")
    changed = {k: [getattr(e, k), val] for k, val in v.items() if getattr(e, k) != val}
    if not changed:
        return e
    for k, (_, val) in changed.items():
        setattr(e, k, val)
    _check_retired(e)
    e.next_due = next_due(e.interval_days, _last_inspected(ctx, e.id), e.installed_on, e.state)
    e.changed_at = ctx.now()
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterDeviceChanged, target=target,
               detail={"asset_no": e.asset_no, "changed": {k: [str(a), str(b)] for k, (a, b) in changed.items()
                                                           if k != "note"}})
    return e


def get(ctx: Context, equipment_id: str) -> Equipment:
    ctx.require(Action.RegisterEntryRead, Target(kind="Equipment", id=equipment_id))
    e = ctx.session.get(Equipment, equipment_id)
    if e is None:
        raise NotFound(f"no equipment item {equipment_id}")
    return e


def list_items(ctx: Context, *, include_retired: bool = True) -> list[Equipment]:
    """The inventory, by kind and asset number. Raises Denied."""
    ctx.require(Action.RegisterEntryRead, Target(kind="Equipment"))
    q = select(Equipment)
    if not include_retired:
        q = q.where(Equipment.state != "retired")
    order = list(KINDS)  # servers, network, terminals, media: as the screens list them
    return sorted(ctx.session.scalars(q), key=lambda e: (order.index(e.kind) if e.kind in order else 99, e.asset_no))


def inspections(ctx: Context, equipment_id: str) -> list[Inspection]:
    ctx.require(Action.RegisterEntryRead, Target(kind="Equipment", id=equipment_id))
    return list(ctx.session.scalars(select(Inspection).where(Inspection.equipment_id == equipment_id)
                                    .order_by(Inspection.inspected_on.desc(), Inspection.recorded_at.desc())))


def inspect(ctx: Context, equipment_id: str, *, inspected_on: str, inspector: str, result: str, findings: str = "",
            follow_up: str = "") -> Inspection:
    """Log an inspection; the next one falls due an interval after it. Findings need the
    follow-up asked for. Raises Denied, NotFound, Invalid (a retired item, a day in the future).
    Ledger: RegisterInspectionRecorded."""
    target = Target(kind="Equipment", id=equipment_id)
    ctx.require(Action.RegisterEquipmentManage, target)
    e = get(ctx, equipment_id)
    if e.state == "retired":
        raise Invalid("a retired item is not inspected")
    day = _day(inspected_on, "the inspection date is not a date (YYYY-MM-DD)")
    if day > today(ctx).isoformat():
        raise Invalid("an inspection cannot be dated in the future")
    inspector, findings, follow_up = (inspector or "").strip()[:200], (findings or "").strip(), (follow_up or "").strip()
    if not inspector:
        raise Invalid("an inspection needs its inspector")
    if result not in RESULTS:
        raise Invalid(f"result must be one of {', '.join(RESULTS)}")
    if result == "findings" and not (findings and follow_up):
        raise Invalid("an inspection with findings needs the findings and the follow-up")
    i = Inspection(equipment_id=e.id, inspected_on=day, inspector=inspector, result=result, findings=findings,
                   follow_up=follow_up, recorded_by_name=_who(ctx), recorded_at=ctx.now())
    ctx.session.add(i)
    ctx.session.flush()
    e.next_due = next_due(e.interval_days, _last_inspected(ctx, e.id), e.installed_on, e.state)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterInspectionRecorded, target=target,
               detail={"inspection": i.id, "asset_no": e.asset_no, "on": day, "inspector": inspector,
                       "result": result, "next_due": e.next_due})
    return i


def close_follow_up(ctx: Context, inspection_id: str, *, note: str, equipment_id: str | None = None) -> Inspection:
    """Close the follow-up of an inspection's findings (of `equipment_id`'s, when given),
    saying what was done. Raises Denied,
    NotFound, Invalid (no note; nothing to close), Conflict (closed already).
    Ledger: RegisterInspectionClosed."""
    i = ctx.session.get(Inspection, inspection_id)
    target = Target(kind="Equipment", id=i.equipment_id if i else None)
    ctx.require(Action.RegisterEquipmentManage, target)
    if i is None or (equipment_id is not None and i.equipment_id != equipment_id):
        raise NotFound(f"no inspection {inspection_id}")
    if i.result != "findings":
        raise Invalid("this inspection found nothing to follow up")
    if i.closed_at is not None:
        raise Conflict("this follow-up was closed already")
    note = (note or "").strip()
    if not note:
        raise Invalid("closing a follow-up needs a note of what was done")
    i.closed_at, i.closed_by_name, i.closing_note = ctx.now(), _who(ctx), note
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterInspectionClosed, target=target, detail={"inspection": i.id})
    return i


def overdue(ctx: Context, day: dt.date) -> list[Equipment]:
    """Items in use or in reserve whose inspection was due before `day`, the longest overdue first."""
    ctx.require(Action.RegisterEntryRead, Target(kind="Equipment"))
    return list(ctx.session.scalars(select(Equipment).where(Equipment.next_due.is_not(None),
                                                            Equipment.next_due < day.isoformat())
                                    .order_by(Equipment.next_due, Equipment.asset_no)))


def open_follow_ups(ctx: Context) -> list[tuple[Inspection, Equipment]]:
    """Inspections with findings whose follow-up is still open, oldest first."""
    ctx.require(Action.RegisterEntryRead, Target(kind="Equipment"))
    rows = ctx.session.execute(select(Inspection, Equipment).join(Equipment, Equipment.id == Inspection.equipment_id)
                               .where(Inspection.result == "findings", Inspection.closed_at.is_(None))
                               .order_by(Inspection.inspected_on))
    return [(i, e) for i, e in rows]
