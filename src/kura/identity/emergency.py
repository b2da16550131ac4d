"""The emergency switch (regulation §12, R74): cut an account, a DICOM peer, or every external
connection at once, with a reason, and restore it again — each a security alert in the ledger.

`account:<username>` disables the account (sessions revoked at once); `peer:<AE title>`
refuses that peer's associations; `all` refuses every DICOM association and every API
client signing in with a bearer token (DICOMweb, FHIR, REST from other systems), while staff
at the hospital's screens (cookie sessions) can still work — and lift the switch.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from kura.access.actions import Action
from kura.access.policy import Target
from kura.db.base import Base, uuid_pk
from kura.errors import Conflict, Invalid, NotFound
from kura.identity import service as identity
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["EmergencySwitch", "SCOPES", "switch_on", "switch_off", "active", "blocks_peer", "blocks_api_clients"]

SCOPES = ("account", "peer", "all")


class EmergencySwitch(Base):
    __tablename__ = "emergency_switch"

    id: Mapped[uuid_pk]
    scope: Mapped[str] = mapped_column(String(16))  # account | peer | all
    target: Mapped[str] = mapped_column(String(200), default="")  # username or AE title; "" for all
    reason: Mapped[str] = mapped_column(Text)
    on_by: Mapped[str] = mapped_column(String(200))
    on_at: Mapped[dt.datetime]
    off_by: Mapped[str | None] = mapped_column(String(200))
    off_at: Mapped[dt.datetime | None]
    off_reason: Mapped[str] = mapped_column(Text, default="")


def active(ctx: Context) -> list[EmergencySwitch]:
    return list(ctx.session.scalars(select(EmergencySwitch).where(EmergencySwitch.off_at.is_(None))
                                    .order_by(EmergencySwitch.on_at)))


def blocks_peer(ctx: Context, ae_title: str) -> str | None:
    """Why `ae_title` may not associate now, or None. No access check (the acceptor asks)."""
    for s in active(ctx):
        if s.scope == "all" or (s.scope == "peer" and s.target == (ae_title or "").strip()):
            return f"emergency switch ({'all external connections' if s.scope == 'all' else 'peer'}): {s.reason}"
    return None


def blocks_api_clients(ctx: Context) -> str | None:
    for s in active(ctx):
        if s.scope == "all":
            return f"emergency switch (all external connections): {s.reason}"
    return None


def _who(ctx: Context) -> str:
    return ctx.actor.name if ctx.actor else "system"


def switch_on(ctx: Context, *, scope: str, target: str = "", reason: str) -> EmergencySwitch:
    """Cut `scope`/`target` off. Raises Denied, Invalid (unknown scope, no reason or target),
    NotFound (no such account), Conflict (already cut off). Ledger: OpsEmergencySwitched (alert)."""
    ctx.require(Action.OpsEmergencySwitch, Target(kind="EmergencySwitch", id=f"{scope}:{target}"))
    reason, target = (reason or "").strip(), (target or "").strip()
    if scope not in SCOPES:
        raise Invalid(f"scope must be one of {', '.join(SCOPES)}")
    if not reason:
        raise Invalid("the emergency switch needs a reason")
    if scope != "all" and not target:
        raise Invalid(f"say which {scope} to cut off")
    if scope == "all":
        target = ""
    for s in active(ctx):
        if s.scope == scope and s.target == target:
            raise Conflict(f"{scope} {target} is cut off already (since {s.on_at:%Y-%m-%d %H:%M})")
    if scope == "account":
        # The emergency right itself allows this (the operations manager holds it, not
        # AdminUserManage): R74 asks that operators can disable an account at once.
        user = identity.get_user(ctx, target)
        if ctx.actor and ctx.actor.id == user.id:
            raise Invalid("you cannot cut off your own account")
        user.disabled = True
        ctx.record(LedgerTag.AdminUserDisabled, target=Target(kind="User", id=user.username),
                   reason=reason, detail={"emergency": True})
        identity._revoke_all(ctx, user, "emergency switch")
    s = EmergencySwitch(scope=scope, target=target, reason=reason[:2000], on_by=_who(ctx), on_at=ctx.now())
    ctx.session.add(s)
    ctx.session.flush()
    ctx.record(LedgerTag.OpsEmergencySwitched, target=Target(kind="EmergencySwitch", id=s.id), reason=s.reason,
               detail={"scope": scope, "target": target}, alert=True)
    return s


def switch_off(ctx: Context, switch_id: str, *, reason: str) -> EmergencySwitch:
    """Restore what a switch cut off (an account is enabled again). Raises Denied, NotFound,
    Invalid, Conflict. Ledger: OpsEmergencyLifted."""
    ctx.require(Action.OpsEmergencySwitch, Target(kind="EmergencySwitch", id=switch_id))
    s = ctx.session.get(EmergencySwitch, switch_id)
    if s is None:
        raise NotFound(f"no emergency switch {switch_id}")
    if not (reason or "").strip():
        raise Invalid("lifting the emergency switch needs a reason")
    if s.off_at is not None:
        raise Conflict("this emergency switch was lifted already")
    if s.scope == "account":
        user = identity.get_user(ctx, s.target)
        user.disabled = False
        ctx.record(LedgerTag.AdminUserUpdated, target=Target(kind="User", id=user.username),
                   reason=reason.strip()[:2000], detail={"emergency": "lifted", "disabled": False})
    s.off_by, s.off_at, s.off_reason = _who(ctx), ctx.now(), reason.strip()[:2000]
    ctx.session.flush()
    ctx.record(LedgerTag.OpsEmergencyLifted, target=Target(kind="EmergencySwitch", id=s.id), reason=s.off_reason,
               detail={"scope": s.scope, "target": s.target})
    return s


def list_switches(ctx: Context) -> list[EmergencySwitch]:
    ctx.require(Action.OpsEmergencySwitch, Target(kind="EmergencySwitch"))
    return list(ctx.session.scalars(select(EmergencySwitch).order_by(EmergencySwitch.on_at.desc())))
