"""KuraError → HTTP. Under /fhir the body is an OperationOutcome (FHIR R4 §3.1.0.5).

A browser asking for a page (a path outside the APIs, Accept: text/html) gets HTML instead:
Unauthenticated becomes 303 to /login?next=…, a pending password change (R6) 303 to the
change form, and any other error a page in the user's language.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kura import logs
from kura.errors import (Conflict, Denied, IntegrityFailure, Invalid, KuraError, Locked, NotFound, Shredded,
                         Unauthenticated, Unprocessable)
from kura.records.fhir.wire import operation_outcome

__all__ = ["install", "error_response", "wants_html", "log_failure"]

log = logs.get(__name__)

API_PREFIXES = ("/api", "/fhir", "/dicom-web", "/healthz", "/static")

_STATUS = [(Unauthenticated, 401), (Locked, 423), (Denied, 403), (NotFound, 404), (Shredded, 410),
           (Conflict, 409),
           (Unprocessable, 422), (Invalid, 400), (IntegrityFailure, 500)]
_FHIR_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict",
              405: "not-supported", 410: "deleted", 413: "too-costly", 415: "not-supported", 422: "invalid",
              423: "lock-error", 500: "exception"}


def log_failure(request: Request, exc: BaseException) -> None:
    """Log an exception that became a 5xx, with its traceback, the request id and the user.
    The message is the exception's type only: its text may quote what the request carried."""
    auth = getattr(request.state, "auth", None)
    log.error("internal error: %s", type(exc).__name__, exc_info=exc, extra={
        "request_id": getattr(request.state, "request_id", None),
        **({"user": auth.username} if auth is not None else {})})
    logs.mark_logged(exc)


def error_response(request: Request, status: int, message: str, extra: dict | None = None) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="kura"'
    if request.url.path.startswith("/fhir"):
        more = []
        if (extra or {}).get("break_glass_available"):
            # README: the user must learn that break-glass exists (FHIR's
            # break-the-glass OperationOutcome example, purpose of use ETREAT).
            more.append({"severity": "information", "code": "suppressed",
                           "details": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                                   "code": "ETREAT", "display": "Emergency Treatment"}]},
                           "diagnostics": "break-glass is available: repeat the request with the header "
                                          "X-Kura-Break-Glass: <reason>; it will be logged as a security alert"})
        for issue in (extra or {}).get("issues", ()):  # one per element at fault (FHIR expression)
            more.append({"severity": "error", "code": "code-invalid", "diagnostics": issue["diagnostics"],
                         "expression": [issue["expression"]]})
        body = operation_outcome(message, code=_FHIR_CODE.get(status, "processing"), more=more)
        return JSONResponse(body, status_code=status, media_type="application/fhir+json", headers=headers)
    return JSONResponse({"detail": message, **(extra or {})}, status_code=status, headers=headers)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if any(path == p or path.startswith(p + "/") for p in API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _html_error(request: Request, status: int, title: str, message: str = "", **extra):
    from kura.web.ui.render import render  # the UI package imports this module's siblings
    response = render(request, "error.html", {"status": status, "title": title, "message": message, **extra},
                      status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _to_login(request: Request) -> RedirectResponse:
    from urllib.parse import urlencode

    from kura.web.deps import SESSION_COOKIE
    params = {}
    if request.method == "GET" and request.url.path != "/":
        params["next"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.cookies.get(SESSION_COOKIE):
        params["expired"] = "1"  # the cookie is there but its session has ended
    response = RedirectResponse("/login" + (f"?{urlencode(params)}" if params else ""), status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


_TITLES = {400: "The request could not be processed", 403: "You are not allowed to do this",
           404: "Not found", 405: "Not allowed", 409: "Conflict", 410: "Disposed of", 413: "Too large",
           422: "The request could not be processed", 423: "Account locked",
           500: "Internal error"}


def _kura_html(request: Request, exc: KuraError, status: int):
    if status == 401:
        return _to_login(request)
    if isinstance(exc, Denied) and exc.reason.startswith("password change required"):
        return RedirectResponse("/account/password", status_code=303)
    if isinstance(exc, IntegrityFailure):
        # Stored data failed its check (records.sealing): say so, in both languages; the
        # message names the record, never its content, and a security alert is in the ledger.
        return _html_error(request, 500, _TITLES[500], f"{exc} (request {request.state.request_id})")
    if status == 500:
        return _html_error(request, 500, _TITLES[500], f"request {request.state.request_id}")
    return _html_error(request, status, _TITLES.get(status, "Error"), str(exc),
                       break_glass=isinstance(exc, Denied) and exc.needs_break_glass)


def install(app: FastAPI) -> None:
    from kura.web.ui.render import DutiesRequired, PasswordChangeRequired

    @app.exception_handler(PasswordChangeRequired)
    async def _change_first(request: Request, exc: PasswordChangeRequired):
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(DutiesRequired)
    async def _duties_first(request: Request, exc: DutiesRequired):
        return RedirectResponse("/account/duties", status_code=303)

    @app.exception_handler(KuraError)
    async def _kura_error(request: Request, exc: KuraError):
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            log_failure(request, exc)
        if wants_html(request):
            return _kura_html(request, exc, status)
        if status == 401:
            return error_response(request, 401, "not signed in")
        extra: dict = {}
        if isinstance(exc, Denied):
            extra["break_glass_available"] = exc.needs_break_glass
            return error_response(request, 403, f"denied: {exc.reason}", extra)
        if isinstance(exc, Unprocessable) and request.url.path.startswith("/fhir"):
            extra["issues"] = exc.issues
        return error_response(request, status, str(exc), extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors()[:5])
        if wants_html(request):
            return _html_error(request, 400, _TITLES[400], problems)
        return error_response(request, 422, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if wants_html(request):
            return _html_error(request, exc.status_code, _TITLES.get(exc.status_code, "Error"))
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # Never leak internals; the request id ties the reply to the server log.
        log_failure(request, exc)
        if wants_html(request):
            return _html_error(request, 500, _TITLES[500], f"request {request.state.request_id}")
        return error_response(request, 500, f"internal error (request {request.state.request_id})")
