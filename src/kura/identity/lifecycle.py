"""退職・異動: an account's scheduled end date (regulation §5, R11).

From its end date (a day of hospital time) an account is disabled. The server's scheduler
disables it on that day (``end_due``), and the login checks it too (``is_over``), so a
missed or late scheduler run cannot let a leaver in.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import Role
from kura.errors import Invalid
from kura.identity.models import User
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["LOCAL_TZ", "SYSTEM", "today", "today_of", "parse_day", "is_over", "set_end_date", "end_account", "end_due"]

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")

# Who ends an account on its day: the system, carrying out what the administrator set.
SYSTEM = Subject(id=None, name="system:accounts", roles=frozenset({Role.admin}), clearance="N")


def today(ctx: Context) -> dt.date:
    """The hospital's calendar day: an end date is a day of Japan time."""
    return today_of(ctx.now())


def today_of(now: dt.datetime) -> dt.date:
    return now.astimezone(LOCAL_TZ).date()


def parse_day(text: str | None, what: str = "date") -> dt.date | None:
    """An ISO date (YYYY-MM-DD), or None for an empty value. Raises Invalid."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{what} must be a date (YYYY-MM-DD)") from None


def is_over(user: User, day: dt.date) -> bool:
    """Whether `user`'s end date has come (no query: the login and every request ask it)."""
    return bool(user.end_date) and dt.date.fromisoformat(user.end_date or "") <= day


def set_end_date(ctx: Context, *, username: str, end_date: str | None, reason: str = "") -> User:
    """Schedule (or clear, with None) the day `username` leaves; a day not after today ends
    the account at once. Raises Denied, NotFound, Invalid. Ledger: AdminUserEndDateSet
    (and AdminUserEnded when it ends now)."""
    from kura.identity.service import get_user

    user = get_user(ctx, username)
    target = Target(kind="User", id=user.username)
    ctx.require(Action.AdminUserManage, target)
    day = parse_day(end_date, "the end date")
    if day is not None and ctx.actor and ctx.actor.id == user.id and day <= today(ctx):
        raise Invalid("you cannot end your own account")
    before = user.end_date
    user.end_date = day.isoformat() if day else None
    ctx.record(LedgerTag.AdminUserEndDateSet, target=target, reason=(reason or "").strip()[:500],
               detail={"before": before, "after": user.end_date})
    if day is not None and not user.disabled and is_over(user, today(ctx)):
        end_account(ctx, user)
    return user


def end_account(ctx: Context, user: User) -> None:
    """Disable `user` because their end date has come; every session ends. The caller has
    decided (the scheduler's check, the login's, or the administrator's date). Ledger:
    AdminUserEnded, recorded as the system when no one is signed in."""
    from kura.identity.service import revoke_sessions

    user.disabled = True
    actor = ctx.actor
    if actor is None:
        ctx.actor = SYSTEM
    try:
        ctx.record(LedgerTag.AdminUserEnded, target=Target(kind="User", id=user.username),
                   reason=f"end date {user.end_date}", detail={"end_date": user.end_date})
        revoke_sessions(ctx, user, "end date reached")
    finally:
        ctx.actor = actor


def end_due(ctx: Context) -> list[str]:
    """Disable every account whose end date has come (the server's scheduler runs this).
    Raises Denied. Ledger: AdminUserEnded for each."""
    ctx.require(Action.AdminUserManage, Target(kind="User"))
    day = today(ctx).isoformat()
    users = list(ctx.session.scalars(select(User).where(User.disabled.is_(False), User.end_date.is_not(None),
                                                        User.end_date <= day).order_by(User.username)))
    for user in users:
        end_account(ctx, user)
    return [u.username for u in users]
