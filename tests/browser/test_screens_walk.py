"""In the browser, on the demo data (200 patients and their studies): every screen of every
role is walked — Japanese throughout (no English sentence left on a Japanese page), codes
shown as words, the layout at 1366 px — and each page's time is taken from the browser's
Navigation Timing and reported (never asserted: performance claims come from bench/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kura.classes import service as classes
from kura.demo.seed import DEMO_USERS
from kura.demo import images as image_demo
from kura.demo import records as records_demo
from tests.browser.conftest import sign_in
from tests.factories import ADMIN, make_user
from tests.web.test_images_ui import CONFIRMED, PLAN

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/screens")

# Three or more English words in a row: a sentence the catalogue does not translate.
ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[a-z]{2,}){2,}\b")
# What may stay in Latin letters on a Japanese page: the hospital's own data and names.
ALLOWED = re.compile(r"Sato Hanako|Yamada Taro|kura-demo-2026|kura [a-z-]+ [a-z-]+( [a-z-]+)?|Google Authenticator|"
                     r"Microsoft Authenticator")


def _untranslated(text: str) -> list[str]:
    return [m for m in ENGLISH.findall(ALLOWED.sub("", text))]


def _timing(page) -> dict:
    """Server answer (request start → last byte) and the whole load, in milliseconds."""
    return page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
        return {server: Math.round(n.responseEnd - n.requestStart), load: Math.round(n.loadEventEnd - n.startTime)}; }""")


@pytest.fixture
def demo_home(server):
    kura = server.kura
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    users = {roles[0]: make_user(kura, name, tuple(roles), clearance=clearance)
             for name, _, roles, clearance in DEMO_USERS}
    records_demo.seed(kura, patients=200)
    image_demo.seed(kura, plan=PLAN, max_slices=3)
    return users


def test_every_screen_in_japanese_with_its_time(page, server, clock, demo_home):
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/login")
    pid = None
    timings, problems = [], []
    walks = {
        "clerk": ["/", "/patients", "/patients?q=やまだ", "/patients?q=S45.1.2", "/patients/new", "{patient}",
                  "/records/Patient/{pid}", "/records/Patient/{pid}/history", "/records/Patient/{pid}/confirm",
                  "/patients/{pid}/new/encounter", "/patients/{pid}/new/coverage", "/patients/{pid}/print",
                  "/account", "/help", "/help/patients", "/help/records"],
        "physician": ["/", "{patient}", "/images", f"/images/studies/{CONFIRMED}"],
        "nurse": ["/", "{patient}"],
        "technologist": ["/", "/images", f"/images/studies/{CONFIRMED}", "/help/images"],
        "admin": ["/", "/admin/users", "/admin/classes", "/admin/permissions", "/help/accounts"],
        "auditor": ["/", "/audit", "/audit/alerts", "/audit/integrity", "/admin/permissions", "/help/ledger",
                    "/help/breakglass"],
        "operations": ["/", "/registers/inventory", "/registers/software", "/help/backup", "/help/equipment",
                       "/help/manual"],
    }
    for role, paths in walks.items():
        sign_in(page, demo_home[role], clock)
        for path in paths:
            if path == "{patient}":
                page.goto("/patients?q=やまだ")
                link = page.locator("#results table.patients tbody tr a").first
                path = link.get_attribute("href")
                pid = path.rsplit("/", 1)[1]
            path = path.replace("{pid}", pid or "")
            response = page.goto(path)
            page.wait_for_load_state("load")
            t = _timing(page)
            timings.append((role, path, response.status, t["server"], t["load"]))
            text = page.locator("main").inner_text()
            found = _untranslated(text)
            if found:
                problems.append((role, path, found[:3]))
            name = f"{role}{path.replace('/', '_').replace('?', '_')}"[:80]
            page.screenshot(path=str(SHOTS / f"walk-{name}.png"), full_page=True)
        page.goto("/")
        page.locator("form[action='/logout'] button").click()
        page.wait_for_url("**/login?bye=1")
    report = "\n".join(f"{r:13} {s} {srv:5d} ms server {load:5d} ms load  {p}" for r, p, s, srv, load in timings)
    (SHOTS / "timings.txt").write_text(report + "\n", encoding="utf-8")
    print("\n" + report)
    assert all(s == 200 for _, _, s, _, _ in timings), [t for t in timings if t[2] != 200]
    assert not problems, problems
