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
from urllib.parse import unquote

from fastapi import Depends, Request

from kura.access.policy import Subject, Target
from kura.errors import Denied, Invalid, Unauthenticated
from kura.identity import emergency
from kura.identity import service as identity
from kura.ledger.tags import LedgerTag
from kura.limits import control_characters
from kura.operation import Context

__all__ = ["Auth", "AuthDep", "AuthPendingDep", "PublicDep", "work", "kura_of", "origin_of",
           "SESSION_COOKIE", "token_of", "GUARDS", "header_text"]

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
    duties_due: int | None = None  # the version of the user duties to acknowledge first


def kura_of(request: Request):
    return request.app.state.kura


def origin_of(request: Request) -> str:
    return request.client.host if request.client else ""


_CHANNELS = (("/fhir", "fhir"), ("/dicom-web", "dicomweb"), ("/api/", "api"))


def channel_of(request: Request) -> str:
    """The protocol a request came by, for the ledger (kura.audit.events.SOURCES); "" for the screens."""
    path = request.url.path
    return next((name for prefix, name in _CHANNELS if path == prefix or path.startswith(prefix.rstrip("/") + "/")), "")


def token_of(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def _resolve(request: Request) -> Auth:
    token, via_cookie = token_of(request)
    kura = kura_of(request)
    # Most requests only read their session: a snapshot that takes no write lock. A timeout to
    # record, a last-seen older than a few seconds, or a refusal to ledger takes a second,
    # writing, look.
    with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id,
                           read_only=True) as ctx:
        info = identity.resolve_session(ctx, token, read_only=True)
        # R74: "all external connections" cuts off other systems (bearer tokens), not the
        # hospital's own screens, from which the switch is lifted again.
        cut = emergency.blocks_api_clients(ctx) if info is not None and not via_cookie else None
        if info is not None and not cut:
            auth = _auth(info, token, via_cookie)
    if (info is None and token) or cut:
        with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id) as ctx:
            info = identity.resolve_session(ctx, token)
            cut = emergency.blocks_api_clients(ctx) if info is not None and not via_cookie else None
            if cut:
                ctx.record(LedgerTag.AccessRequestDenied, outcome=4, reason=cut, alert=False,
                           target=Target(kind="User", id=info.user.username),
                           detail={"method": request.method, "path": request.url.path[:200]})
            if info is not None and not cut:
                auth = _auth(info, token, via_cookie)
    if cut:
        raise Denied(cut)
    if info is None:
        _record_anonymous_denial(request)
        raise Unauthenticated("not signed in")
    request.state.auth = auth
    return auth


def _auth(info, token, via_cookie: bool) -> Auth:
    return Auth(subject=info.subject, user_id=info.user.id, username=info.user.username,
                display_name=info.user.display_name, session_id=info.session_id, token=token or "",
                must_change_password=info.must_change_password,
                idle_expires_at=info.idle_expires_at, via_cookie=via_cookie, duties_due=info.duties_due)


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
    if auth.duties_due:
        raise Denied("user duties to acknowledge first: sign in on a screen and read /account/duties")
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


def header_text(request: Request, name: str) -> str | None:
    """A free-text header (X-Kura-Reason, X-Kura-Break-Glass, X-Kura-On-Behalf-Of) as text.

    HTTP header values are ASCII; Japanese text comes percent-encoded as UTF-8
    (`X-Kura-Reason: %E8%A8%82%E6%AD%A3` for 訂正), as README and the capability statement
    say. A raw non-ASCII value is refused rather than guessed at (its bytes arrive as
    Latin-1, mojibake if stored). Raises Invalid."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.isascii():
        raise Invalid(f"header {name}: send non-ASCII text percent-encoded as UTF-8 (e.g. %E8%A8%82%E6%AD%A3 for 訂正)")
    try:
        text = unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise Invalid(f"header {name}: the percent-encoded bytes are not UTF-8") from None
    if control_characters(text):
        raise Invalid(f"header {name}: contains a control character")
    return text


def break_glass_of(request: Request, given: str | None = None) -> str | None:
    """The break-glass reason: `given` (typed into a screen's dialog) or the X-Kura-Break-Glass
    header (header_text: percent-encoded UTF-8). Raises Invalid."""
    return (given or header_text(request, BREAK_GLASS_HEADER) or "").strip()[:500] or None


@contextlib.contextmanager
def work(request: Request, auth: Auth | None, purpose: str | None = None, *,
         break_glass: str | None = None) -> Iterator[Context]:
    """The request's unit of work: the change and its ledger entries commit together.

    The break-glass reason comes from the X-Kura-Break-Glass header, or from `break_glass`
    (the reason typed into a screen's break-glass dialog). Without a `purpose` the unit of
    work decides it (kura.access.purpose) from the user and the break-glass."""
    reason = break_glass_of(request, break_glass)
    with kura_of(request).unit_of_work(auth.subject if auth else None, purpose,
                                       origin=origin_of(request), request_id=request.state.request_id,
                                       break_glass_reason=reason, channel=channel_of(request)) as ctx:
        yield ctx
