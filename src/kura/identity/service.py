"""Identification and authentication (regulation §5, §6): accounts, logins, sessions.

Every login, failure, lockout, logout and timeout is a ledger entry. Failures are *returned*,
not raised, so that their ledger entries commit with the unit of work; adapters turn a
failed LoginResult into 401/423 after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Subject, Target
from kura.access.roles import ROLE_GRANTS, Role
from kura.blobs.crypto import open_sealed, seal
from kura.errors import Conflict, Denied, Invalid, NotFound, Unauthenticated
from kura.identity import duties, lifecycle, passwords, totp, training
from kura.identity.models import LoginFailure, LoginSession, User
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["normalise_username", "register", "authenticate", "LoginResult", "LoginOutcome",
           "resolve_session", "end_session", "change_password", "reset_password", "disable",
           "unlock", "update_user", "list_users", "get_user", "subject_of", "totp_uri",
           "reenrol_totp", "confirm_totp", "user_count", "revoke_sessions"]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def normalise_username(raw: str) -> str:
    """NFKC + case-fold, then ASCII letters, digits, dot, dash, underscore only.

    Full-width ＹＡＭＡＤＡ becomes yamada; a Cyrillic 'а' lookalike is refused rather than
    allowed to impersonate a Latin name.
    """
    name = unicodedata.normalize("NFKC", raw or "").casefold().strip()
    if not _USERNAME.match(name):
        raise Invalid("user name must be 1–64 characters: letters a–z, digits, '.', '-', '_'")
    return name


def subject_of(user: User) -> Subject:
    return Subject(id=user.id, name=user.username,
                   roles=frozenset(Role(r) for r in user.role_set), clearance=user.clearance)


def _roles(roles: Iterable[str]) -> str:
    try:
        parsed = sorted({Role(str(r).strip()) for r in roles if str(r).strip()})
    except ValueError as exc:
        people = ", ".join(r.value for r in Role if Action.SelfPasswordChange in ROLE_GRANTS.get(r, {}))
        raise Invalid(f"unknown role: {exc}; roles are {people}") from None
    if not parsed:
        raise Invalid("a user needs at least one role")
    for role in parsed:
        if Action.SelfPasswordChange not in ROLE_GRANTS.get(role, {}):
            raise Invalid(f"role {role} belongs to DICOM peers, not to people")
    return ",".join(parsed)


def _clearance(value: str) -> str:
    if value not in CONFIDENTIALITY:
        raise Invalid("clearance must be N, R or V")
    return value


def _user_target(user: User | None = None, username: str | None = None) -> Target:
    return Target(kind="User", id=user.username if user else username)


def _seal_secret(ctx: Context, secret: str, user_id: str) -> bytes:
    return seal(ctx.master_key, secret.encode(), b"totp:" + user_id.encode())


def _open_secret(ctx: Context, user: User) -> str:
    return open_sealed(ctx.master_key, user.totp_secret, b"totp:" + user.id.encode()).decode()


def totp_uri(ctx: Context, user: User) -> str:
    return totp.provisioning_uri(_open_secret(ctx, user), username=user.username)


def user_count(ctx: Context) -> int:
    return ctx.session.scalar(select(func.count()).select_from(User)) or 0


def get_user(ctx: Context, username: str) -> User:
    user = ctx.session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def register(ctx: Context, *, username: str, display_name: str, roles: Iterable[str], clearance: str = "N",
             password: str, department: str = "", bootstrap: bool = False) -> tuple[User, str]:
    """Create an account; returns it and its otpauth:// URI. The password must be changed at
    first login (R6). Requires AdminUserManage, except the bootstrap of the very first
    administrator by `kura init`. Raises Invalid, Conflict, Denied. Ledger: AdminUserCreated."""
    name = normalise_username(username)
    if bootstrap:
        if user_count(ctx):
            raise Conflict("the first administrator exists already")
    else:
        ctx.require(Action.AdminUserManage, _user_target(username=name))
    role_text = _roles(roles)
    problem = passwords.password_problem(password, username=name,
                                         min_length=ctx.settings.password_min_length)
    if problem:
        raise Invalid(problem)
    if ctx.session.scalar(select(User.id).where(User.username == name)):
        raise Conflict(f"user {name} exists already")
    secret = totp.new_secret()
    user = User(username=name, display_name=(display_name or name).strip()[:200], roles=role_text,
                clearance=_clearance(clearance), password_hash=passwords.hash_password(password),
                must_change_password=True, totp_secret=b"", totp_confirmed=False, totp_last_step=0,
                disabled=False, created_at=ctx.now(), created_by=ctx.actor.name if ctx.actor else "system",
                department=department.strip()[:200])
    ctx.session.add(user)
    ctx.session.flush()
    user.totp_secret = _seal_secret(ctx, secret, user.id)
    ctx.session.flush()
    ctx.record(LedgerTag.AdminUserCreated, target=_user_target(user),
               detail={"roles": role_text, "clearance": user.clearance, "bootstrap": bootstrap})
    return user, totp.provisioning_uri(secret, username=name)


class LoginOutcome(enum.Enum):
    ok = "ok"
    failed = "failed"
    locked = "locked"
    refused = "refused"  # right password and code, but a rule keeps the user out (training)


@dataclasses.dataclass
class LoginResult:
    outcome: LoginOutcome
    token: str | None = None
    expires_at: dt.datetime | None = None
    user: User | None = None
    must_change_password: bool = False
    # Right password, and a right code already used for a sign-in: the person waits for the
    # next code. Told apart only when both factors were right, so it reveals nothing to
    # someone without the second factor; not counted towards a lockout.
    reused_code: bool = False
    reason: str = ""


_DUMMY_TOTP_SECRET = "KURADUMMYTIMINGSECRETAAAAAAAAAAA"  # noqa: S105 — not a credential: checked for unknown names, the same work


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _name_locked(ctx: Context, key: str, now: dt.datetime) -> bool:
    """Whether a name with no account would be locked now, were it one: its last
    `lockout_failures` failures fell within the window and the last of them is less than
    `lockout_minutes` old. (Failures are not recorded while locked, so the last is the one
    that locked.) Lets an unknown name answer exactly as an existing one (R7)."""
    s = ctx.settings
    recent = [_utc(t) for t in ctx.session.scalars(
        select(LoginFailure.at).where(LoginFailure.username == key)
        .order_by(LoginFailure.at.desc()).limit(s.lockout_failures))]
    return (len(recent) >= s.lockout_failures
            and recent[-1] > recent[0] - dt.timedelta(minutes=s.lockout_window_minutes)
            and recent[0] + dt.timedelta(minutes=s.lockout_minutes) > now)


def authenticate(ctx: Context, *, username: str, password: str, otp: str) -> LoginResult:
    """Check password (Argon2id) and TOTP code; start a session on success.

    Unknown user, wrong password, wrong or replayed code and disabled account all give the
    same `failed` result after the same work (R7). `lockout_failures` failures within the
    window lock the account for `lockout_minutes`; unknown names are counted and "locked"
    alike, and the attempt that locks and every later failing one still answer `failed`, so
    the lockout does not tell which names exist. Only the right password and code for a
    locked account give `locked`, so its owner learns why they cannot sign in. Ledger:
    AuthLoginSucceeded, AuthLoginFailed, AuthAccountLocked (also for an unknown name).
    """
    s, now = ctx.settings, ctx.now()
    try:
        name = normalise_username(username)
    except Invalid:
        name = ""
    key = name or "-"
    user = ctx.session.scalar(select(User).where(User.username == name)) if name else None
    password_ok = passwords.verify_password(user.password_hash if user else passwords.dummy_hash(),
                                            password or "")
    secret = _open_secret(ctx, user) if user else _DUMMY_TOTP_SECRET
    step = totp.accepted_step(secret, otp, now=now, last_step=user.totp_last_step if user else 0)
    # A right code used already (asked for every attempt: the same work either way).
    was_used = step is None and totp.accepted_step(secret, otp, now=now, last_step=-1) is not None
    if user is None:
        step = None
    target = Target(kind="User", id=name or None)
    if user is not None and not user.disabled and lifecycle.is_over(user, lifecycle.today(ctx)):
        lifecycle.end_account(ctx, user)  # the scheduler's run may have been missed: never let a leaver in
    name_locked = _name_locked(ctx, key, now)  # asked for every name: the same queries either way
    locked = (user.locked_until is not None and _utc(user.locked_until) > now) if user else name_locked
    if locked:
        ctx.record(LedgerTag.AuthLoginFailed, target=target, outcome=4, reason="account locked")
        if user is not None and not user.disabled and password_ok and step is not None:
            return LoginResult(LoginOutcome.locked)  # the owner: told why, and whom to call
        return LoginResult(LoginOutcome.failed)
    if user is None or user.disabled or not password_ok or step is None:
        why = ("unknown user" if user is None else "account disabled" if user.disabled
               else "wrong password" if not password_ok else "wrong or reused code")
        if user is not None and not user.disabled and password_ok and was_used:
            ctx.record(LedgerTag.AuthLoginFailed, target=target, outcome=4, reason="code already used")
            return LoginResult(LoginOutcome.failed, reused_code=True)
        ctx.session.add(LoginFailure(username=key, at=now, origin=ctx.origin))
        ctx.session.flush()
        ctx.record(LedgerTag.AuthLoginFailed, target=target, outcome=4, reason=why)
        since = now - dt.timedelta(minutes=s.lockout_window_minutes)
        if user is not None and user.failures_since:
            since = max(since, _utc(user.failures_since))
        failures = ctx.session.scalar(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.username == key, LoginFailure.at > since)) or 0
        if failures >= s.lockout_failures:
            if user is not None:
                user.locked_until = now + dt.timedelta(minutes=s.lockout_minutes)
            ctx.record(LedgerTag.AuthAccountLocked, target=target, outcome=8,
                       reason=f"{failures} failed logins within {s.lockout_window_minutes} minutes"
                              + ("" if user is not None else " (no such account)"))
        return LoginResult(LoginOutcome.failed)
    user.totp_last_step = step
    user.totp_confirmed = True
    refusal = training.login_refusal(ctx, user)
    if refusal:  # both factors right: safe to say why (as for a locked account)
        ctx.record(LedgerTag.AuthLoginFailed, target=target, outcome=4, reason=refusal)
        return LoginResult(LoginOutcome.refused, reason=refusal)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=s.session_absolute_hours)
    ctx.session.add(LoginSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                                 last_seen_at=now, expires_at=expires, origin=ctx.origin))
    ctx.session.flush()
    ctx.actor = subject_of(user)
    ctx.record(LedgerTag.AuthLoginSucceeded, target=target)
    return LoginResult(LoginOutcome.ok, token=token, expires_at=expires, user=user,
                       must_change_password=user.must_change_password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass
class SessionInfo:
    user: User
    subject: Subject
    session_id: str
    must_change_password: bool
    idle_expires_at: dt.datetime
    duties_due: int | None = None  # the version of the user duties to acknowledge first


def resolve_session(ctx: Context, token: str | None, *, read_only: bool = False) -> SessionInfo | None:
    """The live session for `token`, refreshed; None when there is none.

    An idle (R20) or over-age session is ended here and recorded as AuthSessionTimedOut;
    returning rather than raising lets that entry commit with the unit of work.
    With `read_only` nothing is written: None also when a write is due (a timeout to
    record, last-seen to refresh, at most every few seconds); the caller then resolves
    again in a unit of work that writes.
    """
    if not token or len(token) > 200:
        return None
    now = ctx.now()
    sess = ctx.session.scalar(select(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
    if sess is None or sess.ended_at is not None:
        return None
    user = ctx.session.get(User, sess.user_id)
    idle = dt.timedelta(minutes=ctx.settings.session_idle_minutes)
    if user is None or user.disabled or lifecycle.is_over(user, lifecycle.today(ctx)):
        return None
    stale = now - sess.last_seen_at >= dt.timedelta(seconds=5)  # spare a write on bursts of requests
    if read_only and (stale or now >= sess.expires_at):
        return None
    if now - sess.last_seen_at > idle or now >= sess.expires_at:
        sess.ended_at, sess.end_reason = now, "timeout"
        ctx.actor = subject_of(user)
        ctx.record(LedgerTag.AuthSessionTimedOut, target=Target(kind="User", id=user.username),
                   detail={"idle": now - sess.last_seen_at > idle})
        return None
    if stale:
        sess.last_seen_at = now
    ctx.actor = subject_of(user)
    return SessionInfo(user=user, subject=ctx.actor, session_id=sess.id,
                       must_change_password=user.must_change_password,
                       idle_expires_at=min(now + idle, sess.expires_at),
                       duties_due=duties.due(ctx, user))


def end_session(ctx: Context, token: str) -> None:
    """Logout: the token is dead from now on. Ledger: AuthSessionEnded."""
    info = resolve_session(ctx, token)
    if info is None:
        raise Unauthenticated("not signed in")
    sess = ctx.session.get(LoginSession, info.session_id)
    if sess is None:  # resolve_session found it a moment ago
        raise Unauthenticated("not signed in")
    sess.ended_at, sess.end_reason = ctx.now(), "logout"
    ctx.record(LedgerTag.AuthSessionEnded, target=Target(kind="User", id=info.user.username))


def _revoke_all(ctx: Context, user: User, reason: str, keep: str | None = None) -> int:
    stmt = (update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
            .values(ended_at=ctx.now(), end_reason=reason))
    if keep:
        stmt = stmt.where(LoginSession.id != keep)
    n = cast(CursorResult[Any], ctx.session.execute(stmt)).rowcount or 0
    if n:
        ctx.record(LedgerTag.AuthSessionRevoked, target=Target(kind="User", id=user.username),
                   reason=reason, detail={"sessions": n})
    return n


def revoke_sessions(ctx: Context, user: User, reason: str) -> int:
    """End every live session of `user`. Ledger: AuthSessionRevoked (when there was one)."""
    return _revoke_all(ctx, user, reason)


def change_password(ctx: Context, *, user: User, old: str, new: str, session_id: str | None) -> None:
    """The user's own change (forced at first login, R6). Other sessions are revoked.
    Raises Unauthenticated (old wrong), Invalid (rules). Ledger: AuthPasswordChanged."""
    ctx.require(Action.SelfPasswordChange, Target(kind="User", id=user.username))
    if not passwords.verify_password(user.password_hash, old or ""):
        raise Unauthenticated("the current password is wrong")
    problem = passwords.password_problem(new or "", username=user.username,
                                         min_length=ctx.settings.password_min_length)
    if problem:
        raise Invalid(problem)
    if new == old:
        raise Invalid("the new password must differ from the old one")
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    ctx.record(LedgerTag.AuthPasswordChanged, target=Target(kind="User", id=user.username))
    _revoke_all(ctx, user, "password changed", keep=session_id)


def reset_password(ctx: Context, *, username: str, password: str) -> tuple[User, str]:
    """Administrator sets a new initial password and a new TOTP secret; every session ends;
    the user must change the password at next login. Returns the new otpauth URI."""
    user = get_user(ctx, username)
    ctx.require(Action.AdminUserManage, _user_target(user))
    problem = passwords.password_problem(password, username=user.username,
                                         min_length=ctx.settings.password_min_length)
    if problem:
        raise Invalid(problem)
    secret = totp.new_secret()
    user.password_hash = passwords.hash_password(password)
    user.must_change_password = True
    user.totp_secret = _seal_secret(ctx, secret, user.id)
    user.totp_confirmed = False
    user.totp_last_step = 0
    ctx.record(LedgerTag.AdminUserPasswordReset, target=_user_target(user))
    _revoke_all(ctx, user, "password reset by administrator")
    return user, totp.provisioning_uri(secret, username=user.username)


def reenrol_totp(ctx: Context, *, user: User) -> str:
    """A fresh secret for the signed-in user, pending until confirm_totp; returns its URI."""
    ctx.require(Action.SelfPasswordChange, Target(kind="User", id=user.username))
    return totp.new_secret()


def confirm_totp(ctx: Context, *, user: User, secret: str, code: str) -> None:
    """Replace the user's TOTP secret with `secret` once a code from it is shown. Ledger: AuthTotpEnrolled."""
    ctx.require(Action.SelfPasswordChange, Target(kind="User", id=user.username))
    step = totp.accepted_step(secret, code, now=ctx.now(), last_step=0)
    if step is None:
        raise Invalid("the code does not match the new secret")
    user.totp_secret = _seal_secret(ctx, secret, user.id)
    user.totp_confirmed = True
    user.totp_last_step = step
    ctx.record(LedgerTag.AuthTotpEnrolled, target=Target(kind="User", id=user.username))


def disable(ctx: Context, *, username: str) -> User:
    """Disable at once (R11); sessions are revoked. Never deleted. Ledger: AdminUserDisabled."""
    user = get_user(ctx, username)
    ctx.require(Action.AdminUserManage, _user_target(user))
    if ctx.actor and ctx.actor.id == user.id:
        raise Invalid("you cannot disable your own account")
    user.disabled = True
    ctx.record(LedgerTag.AdminUserDisabled, target=_user_target(user))
    _revoke_all(ctx, user, "account disabled")
    return user


def unlock(ctx: Context, *, username: str) -> User:
    user = get_user(ctx, username)
    ctx.require(Action.AdminUserManage, _user_target(user))
    user.locked_until = None
    user.failures_since = ctx.now()
    ctx.record(LedgerTag.AdminUserUnlocked, target=_user_target(user))
    return user


def update_user(ctx: Context, *, username: str, roles: Iterable[str] | None = None, clearance: str | None = None,
                display_name: str | None = None, enabled: bool | None = None) -> User:
    """Change roles, clearance, name or re-enable. Ledger: AdminUserUpdated (R29, 110136/110137)."""
    user = get_user(ctx, username)
    ctx.require(Action.AdminUserManage, _user_target(user))
    before = {"roles": user.roles, "clearance": user.clearance, "disabled": user.disabled}
    if roles is not None:
        user.roles = _roles(roles)
    if clearance is not None:
        user.clearance = _clearance(clearance)
    if display_name is not None:
        user.display_name = display_name.strip()[:200] or user.username
    if enabled:
        if lifecycle.is_over(user, lifecycle.today(ctx)):
            raise Invalid("the account's end date has passed: clear or move the end date first")
        user.disabled = False
    after = {"roles": user.roles, "clearance": user.clearance, "disabled": user.disabled}
    ctx.record(LedgerTag.AdminUserUpdated, target=_user_target(user),
               detail={"before": before, "after": after})
    return user


def list_users(ctx: Context) -> list[User]:
    ctx.require(Action.AdminUserRead, Target(kind="User"))
    return list(ctx.session.scalars(select(User).order_by(User.username)))


def demo_codes(ctx: Context) -> list[tuple[str, str, str]]:
    """(username, display name, current code) of every account — only in a `kura demo` home.

    A demo convenience so that visitors need no authenticator app; refused anywhere else.
    """
    if not ctx.settings.demo:
        raise Denied("demo codes exist only in a demo home")
    # The accounts a visitor can sign in to: not those with a password nobody knows yet
    # (must change it first, e.g. the demo's senior clerk who only owns the VIP records).
    users = ctx.session.scalars(select(User).where(User.disabled.is_(False), User.must_change_password.is_(False))
                                .order_by(User.created_at))
    return [(u.username, u.display_name, totp.code_at(_open_secret(ctx, u), ctx.now())) for u in users]
