"""OHIF Viewer (npm @ohif/app, installed by scripts/ohif; skipped only when it is not) served by
kura at /ohif, opening a demo CT study over kura's DICOMweb in Chromium with the session."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from kura.config import load_settings
from kura.web.ohif import config_js
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.web.test_images_ui import DRAFT, seed_studies

pytestmark = pytest.mark.browser

OHIF = Path(os.environ.get("KURA_OHIF_DIR") or Path(__file__).resolve().parents[2] / ".ohif")


@pytest.fixture
def settings(home):
    if not (OHIF / "index.html").is_file():
        pytest.skip(f"OHIF is not installed in {OHIF} (scripts/ohif {OHIF})")
    return load_settings(home, env="development", ohif_dir=str(OHIF))


def test_r49_ohif_opens_a_study_over_kuras_dicomweb(page, server, clock):
    seed_studies(server.kura, max_slices=4)
    doctor = make_user(server.kura, "ishi", ("physician",))
    frames, failures = [], []
    page.on("response", lambda r: frames.append((r.status, r.url)) if "/frames/" in r.url else None)
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/dicom-web/" in r.url else None)
    sign_in(page, doctor, clock)
    page.goto(f"/ohif/viewer?StudyInstanceUIDs={DRAFT}")
    # the study browser lists the demo study (its Japanese description) and the image is drawn
    page.wait_for_function("() => document.body.innerText.includes('胸部CT')", timeout=60000)
    page.wait_for_function("() => document.body.innerText.includes('(1/4)')", timeout=60000)
    page.wait_for_function("() => [...document.querySelectorAll('canvas')].some(c => c.width > 0)")
    assert "Chest 5mm" in page.inner_text("body")
    page.screenshot(path="/tmp/kura-ohif.png")
    # the viewport's canvas (OHIF keeps hidden ones too); a loaded machine can take a while
    page.locator("canvas:visible").first.hover(timeout=60000)
    page.mouse.wheel(0, 120)  # the next slice, fetched over WADO-RS frames
    page.wait_for_function("() => document.body.innerText.includes('(2/4)')", timeout=60000)
    assert not failures, failures
    assert frames and all(status == 200 for status, _ in frames), frames
    assert len({url for _, url in frames}) >= 2  # two slices, two instances' frames


class _Elsewhere(http.server.SimpleHTTPRequestHandler):
    """OHIF hosted on another origin, as a hospital might: its files, its own app-config.js
    pointing at kura, and its single-page routes answered with index.html."""

    config = b""

    def do_GET(self):
        if self.path.startswith("/app-config.js"):
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        if not (OHIF / self.path.split("?")[0].lstrip("/")).is_file():
            self.path = "/index.html"
        super().do_GET()

    def log_message(self, *args):
        pass


def test_r49_ohif_elsewhere_uses_the_session_token(page, server, clock):
    seed_studies(server.kura, max_slices=2)
    doctor = make_user(server.kura, "ishi", ("physician",))
    token = server.login(doctor, clock)
    config = config_js(server.url, router_basename="/")
    handler = type("Handler", (_Elsewhere,), {"config": config.encode()})
    ohif = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(OHIF)))
    threading.Thread(target=ohif.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{ohif.server_address[1]}"
    server.kura.settings = dataclasses.replace(server.kura.settings, cors_origins=(origin,))
    try:
        authorised = []
        page.on("request", lambda r: authorised.append(r.headers.get("authorization"))
                if "/dicom-web/" in r.url and r.method == "GET" else None)
        page.goto(f"{origin}/viewer?StudyInstanceUIDs={DRAFT}&token={token}")
        page.wait_for_function("() => document.body.innerText.includes('(1/2)')", timeout=60000)
        assert "token=" not in page.url  # OHIF takes it out of the address bar
        assert authorised and set(authorised) == {f"Bearer {token}"}
    finally:
        ohif.shutdown()
        ohif.server_close()
