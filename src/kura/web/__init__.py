"""The web adapter: create_app(kura) -> FastAPI with every router, middleware and error mapping.

Secure by default: create_app refuses a route that declares none of the guards in
kura.web.deps.GUARDS (AuthDep, AuthPendingDep, PublicDep).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from kura import __version__
from kura.web import errors
from kura.web.deps import GUARDS, AuthPendingDep, PublicDep
from kura.web.middleware import KuraMiddleware

__all__ = ["create_app", "ROUTERS", "public_routes", "iter_routes"]

# Router modules, each exposing `router`.
ROUTERS = [
    "kura.web.session",
    "kura.web.ui",
    "kura.web.fhir",
    "kura.web.dicomweb",
    "kura.web.images",
    "kura.web.retention",
    "kura.web.ohif",
]

STATIC = Path(__file__).parent / "static"


def _guards(dependant) -> set:
    found = set()
    for dep in dependant.dependencies:
        if dep.call in GUARDS:
            found.add(dep.call)
        found |= _guards(dep)
    return found


def iter_routes(routes, prefix: str = "", inherited: frozenset = frozenset()):
    """(path, APIRoute, guards) for every API route, through included routers.

    FastAPI ≥ 0.160 keeps included routers as wrappers rather than copying their routes.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route, inherited | _guards(route.dependant)
        elif hasattr(route, "original_router"):
            context = route.include_context
            extra = {d.dependency for d in context.dependencies if d.dependency in GUARDS}
            yield from iter_routes(route.original_router.routes, prefix + context.prefix,
                                   inherited | frozenset(extra))


def public_routes(app: FastAPI) -> list[str]:
    """Every route that needs no session, as "METHOD /path" — the visible opt-out list."""
    out = []
    for path, route, guards in iter_routes(app.routes):
        if guards == {GUARDS[2]}:
            out += [f"{m} {path}" for m in sorted(route.methods)]
    return sorted(out)


def create_app(kura, *, tls: bool = False) -> FastAPI:
    app = FastAPI(title="kura", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.kura = kura
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz(_: PublicDep):
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon(_: PublicDep):
        # Browsers ask for it on every page, signed in or not; it shows nothing of anyone.
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_: AuthPendingDep):
        return app.openapi()

    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)

    for path, _, guards in iter_routes(app.routes):
        if not guards:
            raise RuntimeError(f"route {path} declares no guard (AuthDep/AuthPendingDep/PublicDep)")

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(KuraMiddleware, max_body=kura.settings.request_max_bytes,
                       json_max_body=kura.settings.json_max_bytes, tls=tls)
    return app
