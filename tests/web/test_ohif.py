"""Serving an installed OHIF build at /ohif (setting ohif_dir, off by default), checked with a
small stand-in build written here — the real one runs in tests/browser/test_ohif.py — and
WADO-RS Retrieve Frames, which OHIF loads its images with."""

from __future__ import annotations

import pytest

from kura.config import load_settings
from kura.imaging.instance import read_dataset
from tests.web.test_images_ui import DRAFT, seed_studies
from tests.web.ui import browser, page_as

INDEX = ('<!doctype html><html><head><script>window.PUBLIC_URL="/"</script>'
         '<script src="/app-config.js"></script><link href="/app.bundle.css" rel="stylesheet"></head>'
         '<body><script defer src="/app.bundle.1.js"></script></body></html>')
BUNDLE = 'var p; __webpack_require__.p = "/"; load(__webpack_require__.p + "2.bundle.js");'


@pytest.fixture
def settings(home, tmp_path):
    dist = tmp_path / "ohif-dist"
    dist.mkdir()
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "app.bundle.1.js").write_text(BUNDLE, encoding="utf-8")
    (dist / "app.bundle.css").write_text("body{}", encoding="utf-8")
    (home / "secret.txt").write_text("not for the browser", encoding="utf-8")
    return load_settings(home, env="development", ohif_dir=str(dist))


@pytest.fixture
def studies(server):
    return seed_studies(server.kura, max_slices=2)


def test_anonymous_and_roles_without_image_rights_are_refused(server, clock, studies):
    with browser(server) as c:
        r = c.get("/ohif/viewer?StudyInstanceUIDs=1.2")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        assert c.get("/ohif/app.bundle.1.js", headers={"Accept": "*/*"}).status_code == 401
    with page_as(server, clock, "clerk") as c:
        assert c.get("/ohif/viewer").status_code == 403


def test_r49_the_build_is_served_under_ohif_with_kuras_config(server, clock, studies):
    with page_as(server, clock, "physician") as c:
        assert c.get("/ohif", follow_redirects=False).headers["location"] == "/ohif/"
        page = c.get(f"/ohif/viewer?StudyInstanceUIDs={DRAFT}")
        assert page.status_code == 200
        assert 'window.PUBLIC_URL="/ohif/"' in page.text and 'src="/ohif/app-config.js"' in page.text
        assert 'href="/ohif/app.bundle.css"' in page.text
        csp = page.headers["content-security-policy"]
        assert "'wasm-unsafe-eval'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers.get_list("content-security-policy") == [csp]  # one policy, not two
        js = c.get("/ohif/app.bundle.1.js")
        assert '__webpack_require__.p = "/ohif/"' in js.text and js.headers["content-type"].startswith("text/javascript")
        config = c.get("/ohif/app-config.js").text
        assert f'"wadoRoot": "{server.url}/dicom-web"' in config and '"routerBasename": "/ohif"' in config
        for escape in ("/ohif/../secret.txt", "/ohif/%2e%2e/secret.txt", "/ohif/..%2Fsecret.txt"):
            assert "not for the browser" not in c.get(escape).text, escape
    kura_page = browser(server).get("/login")
    assert "'wasm-unsafe-eval'" not in kura_page.headers["content-security-policy"]  # kura's own pages


def test_off_by_default(server, clock, home):
    server.kura.settings = load_settings(home, env="development")
    with page_as(server, clock, "physician") as c:
        assert c.get("/ohif/viewer").status_code == 404
        assert c.get("/ohif/app-config.js").status_code == 404


def test_r49_retrieve_frames_gives_the_decoded_pixels(server, clock, studies, as_role):
    doctor = as_role("physician")
    instances = doctor.get(f"/dicom-web/studies/{DRAFT}/instances").json()
    series, sop = instances[0]["0020000E"]["Value"][0], instances[0]["00080018"]["Value"][0]
    base = f"/dicom-web/studies/{DRAFT}/series/{series}/instances/{sop}"
    r = doctor.get(f"{base}/frames/1")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith('multipart/related; type="application/octet-stream"')
    stored = doctor.get(base, headers={"Accept": 'multipart/related; type="application/dicom"'})
    boundary = stored.headers["content-type"].split("boundary=")[1]
    part = stored.content.split(f"--{boundary}".encode())[1].split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    pixels = read_dataset(part).pixel_array.astype("<" + read_dataset(part).pixel_array.dtype.str[1:]).tobytes()
    assert pixels in r.content
    assert doctor.get(f"{base}/frames/2").status_code == 400  # one frame only
    assert as_role("clerk").get(f"{base}/frames/1").status_code == 403
