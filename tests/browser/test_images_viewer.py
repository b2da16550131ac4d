"""In the browser: the technologist's 検像 — worklist, viewer (wheel and keys through the
slices, window presets), confirm — then a physician who sees the confirmed status and cannot
confirm, and a key-image print with its watermark, recorded in the ledger (R30, R47, R72)."""

from __future__ import annotations

import pytest

from kura.ledger.tags import LedgerTag
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.web.test_images_ui import CONFIRMED, DRAFT, seed_studies
from tests.web.ui import entries

pytestmark = pytest.mark.browser


def _frame(page):
    """(slice shown, its frame URL, the img's blob URL) once the frame has loaded."""
    page.wait_for_function("() => { const i = document.getElementById('viewer-image');"
                           " return i.complete && i.naturalWidth > 0 && !!i.getAttribute('data-frame-url'); }")
    img = page.locator("#viewer-image")
    return page.locator("#slice-index").inner_text(), img.get_attribute("data-frame-url"), img.get_attribute("src")


def _changed(page, before):
    page.wait_for_function("(old) => document.getElementById('viewer-image').getAttribute('data-frame-url') !== old",
                           arg=before[1])
    return _frame(page)


def test_r30_technologist_checks_scrolls_windows_and_confirms(page, server, clock):
    seed_studies(server.kura, max_slices=10)
    tech = make_user(server.kura, "gishi", ("technologist",))
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Failed to load" not in m.text
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    sign_in(page, tech, clock)
    page.click("nav.main >> text=画像")
    page.wait_for_url("**/images")
    row = page.locator(f"#worklist tr[data-study='{DRAFT}']")
    assert "山田 太郎" in row.inner_text() and "未確定" in row.inner_text()
    page.screenshot(path="/tmp/kura-images-worklist.png", full_page=True)
    row.locator("a.button").click()
    page.wait_for_url(f"**/images/studies/{DRAFT}")
    assert "未確定" in page.locator("#study-status").inner_text()

    start = _frame(page)
    assert start[0] == "6 / 10" and "window=50,350" in start[1]  # CT chest opens in the mediastinal window
    page.locator("#viewport").hover()
    page.mouse.wheel(0, 120)
    after_wheel = _changed(page, start)
    assert after_wheel[0] == "7 / 10" and after_wheel[2] != start[2]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    after_keys = _changed(page, after_wheel)
    page.wait_for_function("() => document.getElementById('slice-index').textContent === '5 / 10'")
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.getElementById('slice-index').textContent === '10 / 10'")
    after_page = _changed(page, after_keys)
    assert after_page[1] != after_keys[1]

    with page.expect_request(lambda r: "/rendered?window=-600,1500" in r.url) as request:
        page.click("button[data-preset=lung]")
    assert request.value.url.split("?")[0].endswith(after_page[1].split("?")[0])  # the same slice
    lung = _changed(page, after_page)
    assert "window=-600,1500" in lung[1] and lung[2] != after_page[2]
    assert page.locator("#wl-display").inner_text() == "W 1500 / L -600"
    page.screenshot(path="/tmp/kura-images-viewer-lung.png", full_page=True)
    page.click("button[data-preset=bone]")
    bone = _changed(page, lung)
    assert "window=300,2000" in bone[1]

    # Dragging right widens the window, dragging down raises the level; the inputs set both.
    box = page.locator("#viewport").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 20, steps=4)
    page.mouse.up()
    dragged = _changed(page, bone)
    center, width = (int(v) for v in dragged[1].split("window=")[1].split(","))
    assert width > 2000 and center > 300
    page.fill("#ww", "400")
    page.fill("#wc", "40")
    page.press("#wc", "Enter")
    typed = _changed(page, dragged)
    assert typed[1].endswith("window=40,400")

    page.click("#confirm-study")  # the data-confirm dialog is accepted by the fixture
    page.wait_for_url("**done=confirmed")
    status = page.locator("#study-status").inner_text()
    assert "確定済" in status and "gishi" in status
    assert "確定済" in page.locator("#overlay-status").inner_text()  # on the image too
    assert page.locator("#confirm-study").count() == 0
    _frame(page)
    page.screenshot(path="/tmp/kura-images-confirmed.png", full_page=True)
    page.goto("/images")
    assert page.locator(f"#worklist tr[data-study='{DRAFT}']").count() == 0
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyConfirmed, actor="gishi")
    assert entry.target_id == DRAFT
    assert not problems  # no script errors, nothing refused by the CSP


def test_r72_physician_sees_confirmation_cannot_confirm_and_prints_a_key_image(page, server, clock):
    seed_studies(server.kura, max_slices=4)
    doctor = make_user(server.kura, "dr-kato", ("physician",))
    sign_in(page, doctor, clock)
    page.goto("/images")
    assert page.locator("#worklist").count() == 0
    row = page.locator(f"#results tr[data-study='{CONFIRMED}']")
    assert "確定済" in row.inner_text() and "tech" in row.inner_text()
    page.goto(f"/images/studies/{DRAFT}")
    assert "未確定" in page.locator("#study-status").inner_text()
    assert page.locator("#confirm-study").count() == 0
    status = page.evaluate(f"""() => fetch('/images/studies/{DRAFT}/confirm', {{method: 'POST'}})
                               .then(r => r.status)""")
    assert status == 403

    page.goto(f"/images/studies/{CONFIRMED}")
    assert "確定済" in page.locator("#study-status").inner_text()
    _frame(page)
    assert page.locator("button[data-preset=lung]").is_disabled()  # HU presets: CT only, this is CR

    page.goto(f"/images/studies/{DRAFT}")
    _frame(page)
    page.click("button[data-preset=lung]")
    page.wait_for_function("() => (document.getElementById('print-key').getAttribute('href') || '')"
                           ".includes('window=-600,1500')")
    page.click("#print-key")
    page.wait_for_url("**/print?*")
    mark = page.locator("#watermark").inner_text()
    assert "院外持出禁止" in mark and "dr-kato" in mark and "印刷日時" in mark
    assert page.locator("img.print-page").evaluate("i => i.naturalWidth") > 1000
    page.screenshot(path="/tmp/kura-images-print.png", full_page=True)
    (printed,) = entries(server.kura, LedgerTag.ImagingStudyPrinted, actor="dr-kato")
    assert printed.target_id == DRAFT and "院外持出禁止" in printed.detail
