"""Pure ASGI middleware: request ids, security headers, body size limits, CSRF.

CSRF (csrf.py in STYLE.md): an unsafe request that a browser could have sent on its own —
one carrying the session cookie, or a login form — must come from our own origin
(Sec-Fetch-Site: same-origin, or a matching Origin header). Bearer-token requests cannot be
forged by another site and pass. Opt-outs are listed in CSRF_EXEMPT, visible to reviewers.
"""

from __future__ import annotations

import logging
import time
import uuid

from kura import logs
from kura.records.fhir.wire import operation_outcome
from kura.web.deps import SESSION_COOKIE
from kura.web.ohif import CSP as OHIF_CSP
from kura.web.ohif import PREFIX as OHIF_PREFIX

__all__ = ["KuraMiddleware", "CSRF_EXEMPT", "SECURITY_HEADERS"]

log = logs.get(__name__)

CSRF_EXEMPT: frozenset[str] = frozenset()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                 b"script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                                 b"base-uri 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


_FHIR_CODE = {400: "invalid", 403: "forbidden", 413: "too-costly"}


async def _reply(send, status: int, message: str, path: str = "") -> None:
    """An error before the app runs: {"detail": …}, or under /fhir an OperationOutcome."""
    import json
    ctype = b"application/json"
    payload: dict = {"detail": message}
    if path == "/fhir" or path.startswith("/fhir/"):
        ctype = b"application/fhir+json"
        payload = operation_outcome(message, code=_FHIR_CODE.get(status, "processing"))
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class KuraMiddleware:
    def __init__(self, app, *, max_body: int, json_max_body: int, tls: bool = False):
        self.app, self.max_body, self.json_max_body, self.tls = app, max_body, json_max_body, tls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}
        started = time.perf_counter()

        async def observed_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        # One line per request: no query string (it may hold a patient's name) and no body.
        with logs.bound(request_id=request_id):
            try:
                await self._handle(scope, receive, observed_send)
            finally:
                code = status["code"]
                auth = scope["state"].get("auth")
                log.log(logging.ERROR if code >= 500 else logging.INFO, "http request", extra={
                    "method": scope["method"], "path": scope["path"][:200], "status": code,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "outcome": "failed" if code >= 500 else "refused" if code >= 400 else "ok",
                    **({"user": auth.username} if auth is not None else {})})

    async def _handle(self, scope, receive, send):
        headers = _headers(scope)
        method = scope["method"]
        path = scope["path"]
        limit = self.max_body
        ctype = headers.get("content-type", "")
        if "json" in ctype:
            limit = self.json_max_body
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _reply(send, 400, "bad Content-Length", path)
            if int(length) > limit:
                return await _reply(send, 413, f"request body larger than {limit} bytes", path)
        if method in UNSAFE and path not in CSRF_EXEMPT and not self._same_origin(scope, headers):
            return await _reply(send, 403, "cross-site request refused (CSRF)", path)

        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        static = path.startswith("/static/")
        ohif = path == OHIF_PREFIX or path.startswith(OHIF_PREFIX + "/")

        async def secured_send(message):
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if ohif:  # OHIF's own policy (kura.web.ohif.CSP) instead of kura's pages'
                    extra = [(b"content-security-policy", OHIF_CSP), *SECURITY_HEADERS[1:]]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if not static and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if self.tls:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            await _reply(send, 413, f"request body larger than {limit} bytes", path)

    @staticmethod
    def _same_origin(scope, headers: dict[str, str]) -> bool:
        if headers.get("authorization", "")[:7].lower() == "bearer ":
            return True
        has_cookie = f"{SESSION_COOKIE}=" in headers.get("cookie", "")
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if site is not None:
            return site in ("same-origin", "none")
        if origin is not None:
            scheme = scope.get("scheme", "http")
            return origin == f"{scheme}://{headers.get('host', '')}"
        # No browser provenance headers at all: not a browser, so not a forgery — unless it
        # carries the session cookie, which only browsers (and careless scripts) replay.
        return not has_cookie


class _TooLarge(Exception):
    pass
