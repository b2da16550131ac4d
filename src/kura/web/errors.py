"""KuraError → HTTP. Under /fhir the body is an OperationOutcome (FHIR R4 §3.1.0.5)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kura.errors import Conflict, Denied, IntegrityFailure, Invalid, KuraError, Locked, NotFound, Unauthenticated

__all__ = ["install", "error_response"]

_STATUS = [(Unauthenticated, 401), (Locked, 423), (Denied, 403), (NotFound, 404), (Conflict, 409),
           (Invalid, 400), (IntegrityFailure, 500)]
_FHIR_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict",
              405: "not-supported", 413: "too-costly", 415: "not-supported", 422: "invalid",
              423: "lock-error", 500: "exception"}


def error_response(request: Request, status: int, message: str, extra: dict | None = None) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="kura"'
    if request.url.path.startswith("/fhir"):
        body = {"resourceType": "OperationOutcome", "issue": [{
            "severity": "error", "code": _FHIR_CODE.get(status, "processing"), "diagnostics": message}]}
        return JSONResponse(body, status_code=status, media_type="application/fhir+json", headers=headers)
    return JSONResponse({"detail": message, **(extra or {})}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(KuraError)
    async def _kura_error(request: Request, exc: KuraError):
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        if status == 401:
            return error_response(request, 401, "not signed in")
        extra = {}
        if isinstance(exc, Denied):
            extra["break_glass_available"] = exc.needs_break_glass
            return error_response(request, 403, f"denied: {exc.reason}", extra)
        return error_response(request, status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors()[:5])
        return error_response(request, 422, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # Never leak internals; the request id ties the reply to the server log.
        return error_response(request, 500, f"internal error (request {request.state.request_id})")
