"""Sign in (password + TOTP code, R2), sign out, the language switch, and the idle-timeout notice (R20)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from kura.errors import Denied, Locked, Unauthenticated
from kura.identity import service as identity
from kura.web.deps import SESSION_COOKIE, AuthPendingDep, PublicDep, kura_of, origin_of, work
from kura.i18n import LANGUAGES
from kura.web.i18n import LANG_COOKIE
from kura.web.session import CodeReused, set_session_cookie, sign_in
from kura.web.ui.render import redirect, render, safe_next

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# Which notice the login page shows, by query flag (message ids; translated in the template).
NOTICES = {
    "timeout": "You were signed out because of inactivity. Please sign in again.",
    "expired": "Your session has ended. Please sign in again.",
    "bye": "You have signed out.",
}


def _live_session(request: Request) -> bool:
    """Whether the cookie names a live session. An idle one is ended here, which writes its
    AuthSessionTimedOut entry (R22) — the browser's countdown sends the user here at the end."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    with kura_of(request).unit_of_work(None, "", origin=origin_of(request),
                                       request_id=request.state.request_id) as ctx:
        return identity.resolve_session(ctx, token) is not None


@router.get("/login")
def login_page(request: Request, _: PublicDep, target: Annotated[str, Query(alias="next", max_length=2000)] = "/"):
    if _live_session(request):
        return redirect(safe_next(target))
    notice = next((m for flag, m in NOTICES.items() if request.query_params.get(flag)), None)
    response = render(request, "login.html", {"next": safe_next(target), "notice": notice,
                                              "demo_codes": _demo_codes(request)})
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _demo_codes(request: Request) -> list[tuple[str, str, str]]:
    """In a `kura demo` home only: each demo account's current code, so visitors need no app."""
    kura = kura_of(request)
    if not kura.settings.demo:
        return []
    with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id) as ctx:
        return identity.demo_codes(ctx)


@router.post("/login")
def login(request: Request, _: PublicDep,
          username: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=1024)] = "",
          otp: Annotated[str, Form(max_length=16)] = "",
          target: Annotated[str, Form(alias="next", max_length=2000)] = "/"):
    try:
        result = sign_in(request, username, password, otp.replace(" ", ""))
    except Locked:
        # Only the right password and code for a locked account get here (R7: the attempt
        # that locks and later wrong ones answer as any failure), so telling is safe.
        settings = kura_of(request).settings
        return render(request, "login.html", {"next": safe_next(target), "username": username, "locked": True,
                                              "lockout_minutes": settings.lockout_minutes,
                                              "contact": settings.support_contact}, status=423)
    except Denied as exc:  # both factors right, a rule keeps the user out (training overdue)
        return render(request, "login.html", {"next": safe_next(target), "username": username, "refused": exc.reason,
                                              "contact": kura_of(request).settings.support_contact}, status=403)
    except CodeReused:
        return render(request, "login.html", {"next": safe_next(target), "username": username, "reused": True,
                                              "demo_codes": _demo_codes(request)}, status=401)
    except Unauthenticated:
        # One message whichever part was wrong (R7).
        return render(request, "login.html", {"next": safe_next(target), "username": username, "failed": True,
                                              "demo_codes": _demo_codes(request)}, status=401)
    target = "/account/password" if result.must_change_password else safe_next(target)
    response = redirect(target)
    set_session_cookie(request, response, result.token)
    return response


@router.post("/logout")
def logout(request: Request, auth: AuthPendingDep):
    with work(request, auth, "HOPERAT") as ctx:
        identity.end_session(ctx, auth.token)
    response = redirect("/login?bye=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(code: str, _: PublicDep,
                    target: Annotated[str, Query(alias="next", max_length=2000)] = "/") -> RedirectResponse:
    response = RedirectResponse(safe_next(target), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="lax", path="/")
    return response
