"""Request dependencies: who is calling (AuthDep), and the unit of work for the request (work).

Every route needs AuthDep (or AuthPendingDep for the few a user with a pending password
change may reach), or is marked public with PublicDep. create_app refuses to start when a
route has none of these, so no route can forget authentication (STYLE.md §3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from typing import Annotated, Iterator

from fastapi import Depends, Request

from kura.access.policy import Subject
from kura.errors import Denied, Unauthenticated
from kura.identity import service as identity
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["Auth", "AuthDep", "AuthPendingDep", "PublicDep", "work", "kura_of", "origin_of",
           "SESSION_COOKIE", "token_of", "GUARDS"]

SESSION_COOKIE = "kura_session"
BREAK_GLASS_HEADER = "x-kura-break-glass"


@dataclasses.dataclass(frozen=True)
class Auth:
    subject: Subject
    user_id: str
    username: str
    display_name: str
    session_id: str
    token: str
    must_change_password: bool
    idle_expires_at: dt.datetime
    via_cookie: bool


def kura_of(request: Request):
    return request.app.state.kura


def origin_of(request: Request) -> str:
    return request.client.host if request.client else ""


def token_of(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def _resolve(request: Request) -> Auth:
    token, via_cookie = token_of(request)
    kura = kura_of(request)
    with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id) as ctx:
        info = identity.resolve_session(ctx, token)
        if info is not None:
            auth = Auth(subject=info.subject, user_id=info.user.id, username=info.user.username,
                        display_name=info.user.display_name, session_id=info.session_id, token=token or "",
                        must_change_password=info.must_change_password,
                        idle_expires_at=info.idle_expires_at, via_cookie=via_cookie)
    if info is None:
        _record_anonymous_denial(request)
        raise Unauthenticated("not signed in")
    request.state.auth = auth
    return auth


def _record_anonymous_denial(request: Request) -> None:
    """Every denial is a ledger entry (R13); anonymous probes are not alerts, to keep the
    audit manager's alert list for what needs a person's review."""
    kura = kura_of(request)
    with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id) as ctx:
        ctx.record(LedgerTag.AccessRequestDenied, outcome=4, reason="not authenticated", alert=False,
                   detail={"method": request.method, "path": request.url.path[:200]})


def authenticate(request: Request) -> Auth:
    auth = _resolve(request)
    if auth.must_change_password:
        raise Denied("password change required: POST /api/session/password")
    return auth


def authenticate_pending(request: Request) -> Auth:
    """For logout, session info and the password change itself."""
    return _resolve(request)


def public(request: Request) -> None:
    """Marks a route that needs no session (login page, /healthz). Listed by a test."""
    return None


AuthDep = Annotated[Auth, Depends(authenticate)]
AuthPendingDep = Annotated[Auth, Depends(authenticate_pending)]
PublicDep = Annotated[None, Depends(public)]
GUARDS = (authenticate, authenticate_pending, public)


@contextlib.contextmanager
def work(request: Request, auth: Auth | None, purpose: str | None = None, *,
         break_glass: str | None = None) -> Iterator[Context]:
    """The request's unit of work: the change and its ledger entries commit together.

    The break-glass reason comes from the X-Kura-Break-Glass header, or from `break_glass`
    (the reason typed into a screen's break-glass dialog). Without a `purpose` the unit of
    work decides it (kura.access.purpose) from the user and the break-glass."""
    reason = (break_glass or request.headers.get(BREAK_GLASS_HEADER) or "").strip()[:500] or None
    with kura_of(request).unit_of_work(auth.subject if auth else None, purpose,
                                       origin=origin_of(request), request_id=request.state.request_id,
                                       break_glass_reason=reason) as ctx:
        yield ctx
