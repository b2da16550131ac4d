"""Every route refuses a request without a session (R13), and the public ones are listed here.

Walks the app as it is built, so a route added tomorrow is covered without editing this file.
"""

import re

from kura.ledger.tags import LedgerTag
from kura.web import create_app, iter_routes, public_routes
from tests.factories import ADMIN

# The visible opt-outs (STYLE.md §3). Adding one is a reviewed change to this list.
PUBLIC = {
    "GET /healthz",
    "GET /fhir/metadata",  # the capability statement: FHIR clients read it before they sign in
    "GET /favicon.ico",  # the icon browsers ask for on every page, the login page included
    "POST /api/session",
    "GET /login",
    "POST /login",
    "GET /lang/{code}",
    "OPTIONS /dicom-web/{path:path}",  # CORS preflight: browsers send it without credentials
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_public_routes_are_exactly_the_listed_ones(kura):
    """Both ways: a new public route must be added to PUBLIC, and an entry of PUBLIC that is no
    longer public (or no longer exists) must be removed, so the list says what is true."""
    found = set(public_routes(create_app(kura)))
    assert found == PUBLIC, f"public but not listed: {found - PUBLIC}; listed but not public: {PUBLIC - found}"


def test_r13_every_route_refuses_without_a_session(server):
    public = set(public_routes(server.app))
    checked = 0
    with server.client() as c:
        for path, route, _ in iter_routes(server.app.routes):
            for method in sorted(route.methods - {"HEAD"}):
                if f"{method} {path}" in public:
                    continue
                r = c.request(method, _concrete(path), headers={"Sec-Fetch-Site": "same-origin"})
                assert r.status_code in (401, 303), f"{method} {path} answered {r.status_code}"
                if r.status_code == 303:  # HTML pages send the browser to the login page
                    assert r.headers["location"].startswith("/login")
                checked += 1
        assert c.get("/api/openapi.json").status_code == 401
    assert checked >= 3


def test_r13_unauthenticated_requests_are_ledgered(server):
    with server.client() as c:
        assert c.get("/api/session").status_code == 401
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        from kura.audit import service as audit
        rows, _ = audit.browse(ctx, audit.Filter(tag=str(LedgerTag.AccessRequestDenied)))
    assert any(r.reason == "not authenticated" for r in rows)


def test_unguarded_route_is_refused_at_startup(kura):
    from fastapi import APIRouter
    import kura.web as web
    import pytest
    import sys
    import types

    rogue = types.ModuleType("kura_test_rogue")
    rogue.__file__ = __file__
    rogue.router = APIRouter()

    @rogue.router.get("/rogue")
    def _rogue():
        return {}

    sys.modules["kura_test_rogue"] = rogue
    web.ROUTERS.append("kura_test_rogue")
    try:
        with pytest.raises(RuntimeError, match="declares no guard"):
            create_app(kura)
    finally:
        web.ROUTERS.remove("kura_test_rogue")
        del sys.modules["kura_test_rogue"]


def test_every_menu_entry_is_a_page(kura):
    from kura.web.ui.render import NAV
    app = create_app(kura)
    pages = {path for path, route, _ in iter_routes(app.routes) if "GET" in route.methods}
    assert {item.url for item in NAV} <= pages
