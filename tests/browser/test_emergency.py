"""In the browser: break-glass as an emergency needs it (R18). A physician finds a restricted
patient by number or name (shown as restricted, without its content), gives the reason once,
works on that patient's records and images for a bounded time with every access ledgered
under that break-glass, and the audit manager gets one alert per patient; then ends it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from kura.imaging.models import ImagingStudy
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject
from tests.web.test_images_ui import CONFIRMED, seed_studies
from tests.web.ui import entries

pytestmark = pytest.mark.browser
SHOTS = "/tmp/screens"


def _restricted_patient(kura):
    senior = make_user(kura, "shunin", ("clerk",), clearance="V")
    with kura.unit_of_work(subject(senior, "V"), "HPAYMT") as ctx:
        return records.create(ctx, R.patient(mrn="00000007", family="高橋", given="誠", family_kana="タカハシ",
                                             given_kana="マコト", birth_date="1958-05-05", gender="male",
                                             label="V"))


def test_r18_physician_finds_a_restricted_patient_and_gives_the_reason_once(page, server, clock):
    kura = server.kura
    seed_studies(kura, max_slices=3)
    vip = _restricted_patient(kura)
    with kura.sessions() as s:  # the confirmed CR study becomes very restricted
        s.execute(update(ImagingStudy).where(ImagingStudy.study_uid == CONFIRMED).values(confidentiality="V"))
        s.commit()
    doctor = make_user(kura, "kyukyu", ("physician",))
    sign_in(page, doctor, clock)

    for query in ("00000007", "たかはし"):  # by number and by name
        page.goto("/patients")
        page.fill("#q", query)
        link = page.locator(f"#results ul.restricted-matches a[href='/patients/{vip.id}']")
        link.wait_for()
        results = page.locator("#results").inner_text()
        assert "制限付きの患者" in results and "高橋" not in results and "1958" not in results
    page.screenshot(path=f"{SHOTS}/emergency-search.png", full_page=True)

    link.click()
    dialog = page.locator("dialog#break-glass")
    assert dialog.is_visible() and "30 分間" in dialog.inner_text()
    assert "clearance" not in page.locator("main").inner_text()  # no English policy text
    page.screenshot(path=f"{SHOTS}/emergency-dialog.png", full_page=True)
    page.fill("#break_glass", "心肺停止で搬送、既往歴と保険を確認")
    page.click("dialog#break-glass button[type=submit]")
    page.wait_for_selector("h1 >> text=高橋 誠")
    banner = page.locator("form.emergency")
    assert "緊急アクセス" in banner.inner_text()
    page.screenshot(path=f"{SHOTS}/emergency-patient.png", full_page=True)

    # The next pages of the same emergency: no reason asked again.
    page.click("text=記録を開く")
    page.wait_for_url(f"**/records/Patient/{vip.id}")
    assert not page.locator("dialog#break-glass").count() and page.locator("form.emergency").count() == 1
    page.goto(f"/records/Patient/{vip.id}/history")
    assert not page.locator("dialog#break-glass").count()
    page.goto(f"/patients/{vip.id}")
    assert not page.locator("dialog#break-glass").count()

    alerts = [e for e in entries(kura, LedgerTag.AccessBreakGlassStarted, actor="kyukyu")]
    assert len(alerts) == 1 and alerts[0].patient_id == vip.id and alerts[0].alert
    reads = [e for e in entries(kura, LedgerTag.RecordsRecordRead, actor="kyukyu") if e.patient_id == vip.id]
    assert len(reads) >= 4 and all(json.loads(e.detail)["break_glass"] == alerts[0].seq for e in reads)
    assert {e.purpose for e in reads} == {"ETREAT"}

    # A restricted study in the viewer: the same dialog instead of a 403 page; the images load.
    page.goto(f"/images/studies/{CONFIRMED}")
    assert page.locator("dialog#break-glass").is_visible()
    page.fill("#break_glass", "胸部外傷、前回の胸部写真と比較")
    page.click("dialog#break-glass button[type=submit]")
    page.wait_for_function("() => { const i = document.getElementById('viewer-image');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    page.keyboard.press("ArrowDown")
    page.goto(f"/images/studies/{CONFIRMED}")
    assert not page.locator("dialog#break-glass").count()
    page.screenshot(path=f"{SHOTS}/emergency-viewer.png", full_page=True)
    alerts = entries(kura, LedgerTag.AccessBreakGlassStarted, actor="kyukyu")
    assert len(alerts) == 2  # one per patient opened, never one per page or image

    # The emergency is over: end it, and the patient asks for a reason again.
    page.goto(f"/patients/{vip.id}")
    page.click("form.emergency button[type=submit]")
    page.wait_for_url("**/patients?done=emergency-ended")
    assert "緊急アクセスを終了しました" in page.locator("main").inner_text()
    page.goto(f"/patients/{vip.id}")
    assert page.locator("dialog#break-glass").is_visible()
    assert len(entries(kura, LedgerTag.AccessBreakGlassStopped, actor="kyukyu")) == 1


def test_r18_clerk_sees_no_restricted_match_and_cannot_break_the_glass(page, server, clock):
    kura = server.kura
    vip = _restricted_patient(kura)
    clerk = make_user(kura, "uketsuke", ("clerk",))
    sign_in(page, clerk, clock)
    page.goto("/patients?q=00000007")
    assert not page.locator("ul.restricted-matches").count()
    assert "該当する患者はいません" in page.locator("#results").inner_text()
    response = page.goto(f"/patients/{vip.id}")
    assert response.status == 403 and not page.locator("dialog#break-glass").count()
