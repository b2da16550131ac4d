"""利用申請 (regulation §5, R10): an account, or a change of one, by request and approval.

A department head (部門責任者, Role.department_head) asks — for a new account with its
roles, clearance and optional end date, or for a change of an existing one's — with a
reason; the system administrator approves or refuses it with a reason. Never the same
person: who asked cannot decide (errors.SamePerson, the two-person rule). On approval of a
new account the account is made here with a one-time password, which the administrator
hands over with the second factor's QR code; the user changes it at first sign-in (R6).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid, NotFound, SamePerson
from kura.identity import lifecycle
from kura.identity.models import AccountRequest, User
from kura.ledger.tags import LedgerTag
from kura.operation import Context, Denial

__all__ = ["KINDS", "STATES", "submit", "list_requests", "get_request", "approve", "refuse", "Approval",
           "one_time_password"]

KINDS = ("create", "change")
STATES = ("pending", "approved", "refused")

# No 0/O, 1/l/I: read aloud or copied from a screen without mistakes.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def one_time_password() -> str:
    """16 random characters in four groups (about 93 bits), e.g. ``Hk7q-3xZa-Pm2w-9RtE``."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(4))


def _target(req_id: str | None = None) -> Target:
    return Target(kind="AccountRequest", id=req_id)


def submit(ctx: Context, *, kind: str, username: str, reason: str, roles: Iterable[str] = (), clearance: str = "N",
           display_name: str = "", department: str = "", end_date: str | None = None) -> AccountRequest:
    """Ask for a new account (`create`) or a change of roles, clearance or end date (`change`).
    Raises Denied, Invalid, Conflict (the account exists / a request for it is pending),
    NotFound (a change of no account). Ledger: AdminRequestSubmitted."""
    from kura.identity.service import _clearance, _roles, normalise_username

    ctx.require(Action.AdminRequestCreate, _target())
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    name = normalise_username(username)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a request needs a reason")
    day = lifecycle.parse_day(end_date, "the end date")
    if day is not None and day <= lifecycle.today(ctx):
        raise Invalid("the end date must be after today")
    existing = ctx.session.scalar(select(User).where(User.username == name))
    if kind == "create" and existing is not None:
        raise Conflict(f"user {name} exists already")
    if kind == "change" and existing is None:
        raise NotFound(f"no user {name!r}")
    if ctx.session.scalar(select(AccountRequest.id).where(AccountRequest.username == name,
                                                          AccountRequest.state == "pending")):
        raise Conflict(f"a request for {name} is pending already")
    role_text = _roles(roles)
    req = AccountRequest(kind=kind, username=name, display_name=(display_name or "").strip()[:200],
                         department=(department or "").strip()[:200], roles=role_text,
                         clearance=_clearance(clearance), end_date=day.isoformat() if day else None,
                         reason=reason[:2000], state="pending",
                         requested_by_id=ctx.actor.id if ctx.actor else None,
                         requested_by_name=ctx.actor.name if ctx.actor else "system", requested_at=ctx.now())
    if kind == "create" and not req.display_name:
        raise Invalid("a new account needs a name")
    ctx.session.add(req)
    ctx.session.flush()
    ctx.record(LedgerTag.AdminRequestSubmitted, target=_target(req.id), reason=req.reason,
               detail={"kind": kind, "username": name, "roles": role_text, "clearance": req.clearance,
                       "end_date": req.end_date})
    return req


def _sees_all(ctx: Context) -> bool:
    # The administrator decides on every request; a department head sees their own.
    return ctx.allows(Action.AdminRequestDecide, _target()).allowed


def list_requests(ctx: Context, *, state: str | None = None) -> list[AccountRequest]:
    """Requests, pending first then newest first. Raises Denied."""
    ctx.require(Action.AdminRequestRead, _target())
    stmt = select(AccountRequest)
    if state:
        stmt = stmt.where(AccountRequest.state == state)
    if not _sees_all(ctx):
        stmt = stmt.where(AccountRequest.requested_by_id == (ctx.actor.id if ctx.actor else None))
    rows = list(ctx.session.scalars(stmt.order_by(AccountRequest.requested_at.desc())))
    return sorted(rows, key=lambda r: r.state != "pending")


def get_request(ctx: Context, req_id: str) -> AccountRequest:
    """One request; another's request is NotFound to a department head. Raises Denied, NotFound."""
    ctx.require(Action.AdminRequestRead, _target(req_id))
    req = ctx.session.get(AccountRequest, req_id)
    if req is None or (not _sees_all(ctx) and req.requested_by_id != (ctx.actor.id if ctx.actor else None)):
        raise NotFound(f"no account request {req_id}")
    return req


def _decidable(ctx: Context, req_id: str) -> AccountRequest:
    target = _target(req_id)
    ctx.require(Action.AdminRequestDecide, target)
    req = ctx.session.get(AccountRequest, req_id)
    if req is None:
        raise NotFound(f"no account request {req_id}")
    me = ctx.actor.id if ctx.actor else None
    if (me == req.requested_by_id) if (me or req.requested_by_id) else \
            (ctx.actor.name if ctx.actor else "system") == req.requested_by_name:
        reason = "two-person rule: who made the request cannot decide on it"
        ctx.denials.append(Denial(Action.AdminRequestDecide, target, reason))
        raise SamePerson(reason)
    if req.state != "pending":
        raise Conflict(f"the request was {req.state} already")
    return req


@dataclasses.dataclass
class Approval:
    request: AccountRequest
    user: User
    password: str | None = None  # the one-time password of a new account, shown once
    uri: str | None = None  # its otpauth:// URI, shown once


def approve(ctx: Context, req_id: str, *, note: str = "") -> Approval:
    """Carry out the request: make the account (with a one-time password and a new second
    factor) or change it. Raises Denied, SamePerson, NotFound, Conflict, Invalid.
    Ledger: AdminRequestApproved, and the account's own entries (AdminUserCreated,
    AdminUserUpdated, AdminUserEndDateSet)."""
    from kura.identity import service

    req = _decidable(ctx, req_id)
    roles = req.roles.split(",")
    password = uri = None
    if req.kind == "create":
        password = one_time_password()
        user, uri = service.register(ctx, username=req.username, display_name=req.display_name, roles=roles,
                                     clearance=req.clearance, password=password, department=req.department)
    else:
        user = service.update_user(ctx, username=req.username, roles=roles, clearance=req.clearance)
    if req.end_date and req.end_date != user.end_date:
        lifecycle.set_end_date(ctx, username=user.username, end_date=req.end_date,
                               reason=f"account request {req.id}")
    req.state, req.decision_reason = "approved", (note or "").strip()[:2000]
    req.decided_by_id = ctx.actor.id if ctx.actor else None
    req.decided_by_name, req.decided_at = (ctx.actor.name if ctx.actor else "system"), ctx.now()
    ctx.session.flush()
    ctx.record(LedgerTag.AdminRequestApproved, target=_target(req.id), reason=req.decision_reason,
               detail={"kind": req.kind, "username": req.username, "requested_by": req.requested_by_name})
    return Approval(req, user, password, uri)


def refuse(ctx: Context, req_id: str, *, reason: str) -> AccountRequest:
    """Refuse with a reason. Raises Denied, SamePerson, NotFound, Conflict, Invalid.
    Ledger: AdminRequestRefused."""
    req = _decidable(ctx, req_id)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a refusal needs a reason")
    req.state, req.decision_reason = "refused", reason[:2000]
    req.decided_by_id = ctx.actor.id if ctx.actor else None
    req.decided_by_name, req.decided_at = (ctx.actor.name if ctx.actor else "system"), ctx.now()
    ctx.session.flush()
    ctx.record(LedgerTag.AdminRequestRefused, target=_target(req.id), reason=req.decision_reason,
               detail={"kind": req.kind, "username": req.username, "requested_by": req.requested_by_name})
    return req
