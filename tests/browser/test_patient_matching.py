"""In the browser at 1366 px: a CT filed under the wrong patient ID is flagged; its confirm
button in the worklist says why it cannot be confirmed and leads to the review; the
technologist compares both sets of demographics side by side (words, 和暦), corrects the
study's patient data with a reason, then confirms it (issue 10, R39). Screenshots in
/tmp/screens/matching-*.png."""

from __future__ import annotations

import pytest

from kura.classes import service as classes
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import ADMIN, make_user
from tests.support.imaging import CLERK, TECH, make_dataset, part10
from tests.support.records import patient
from tests.web.ui import entries

pytestmark = pytest.mark.browser
SHOTS = "/tmp/screens"


def _fits(page) -> None:
    """Nothing runs off the right edge at this width."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_r39_review_side_by_side_correct_then_confirm(page, server, clock):
    kura = server.kura
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        records.create(ctx, patient(mrn="00012345", birth="1959-08-05"))
    ds = make_dataset(patient_id="00012345", name="Suzuki^Hanako=鈴木^花子=スズキ^ハナコ", birth_date="19900101",
                      sex="F")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(ds))
    uid = ds.StudyInstanceUID
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, make_user(kura, "gishi", ("technologist",)), clock)

    page.goto("/images/reconcile")
    assert "鈴木 花子" in page.inner_text("#flagged") and "平成2年1月1日" in page.inner_text("#flagged")
    page.screenshot(path=f"{SHOTS}/matching-list.png", full_page=True)
    _fits(page)
    page.goto("/images")
    assert "患者情報の不一致 1 件" in page.inner_text("#matching-count")
    row = page.locator(f"#worklist tr[data-study='{uid}']")
    assert row.locator(".img-status.flagged").inner_text() == "患者情報の不一致"
    page.screenshot(path=f"{SHOTS}/matching-worklist.png", full_page=True)
    _fits(page)
    asked = []
    page.on("dialog", lambda d: asked.append(d.message))  # the fixture's handler answers yes
    row.locator("button.confirm").click()
    page.wait_for_url(f"**/images/studies/{uid}/review*")
    assert any("確定できません" in m and "一致しません" in m for m in asked), asked

    compare = page.locator("#compare")
    text = compare.inner_text()
    for words in ("画像の患者情報 (受信時)", "登録患者 (医事)", "鈴木 花子", "山田 太郎", "平成2年1月1日 (1990-01-01)",
                  "昭和34年8月5日 (1959-08-05)", "不一致"):
        assert words in text, words
    assert "19900101" not in text and "\tF\t" not in text  # words, not codes
    assert compare.locator("td.differs").count() == 3
    page.screenshot(path=f"{SHOTS}/matching-review.png", full_page=True)
    _fits(page)

    page.fill("#c-kanji", "山田 太郎")
    page.fill("#c-kana", "ヤマダ タロウ")
    page.fill("#c-alpha", "")
    page.fill("#c-birth", "1959-08-05")
    page.select_option("#c-sex", "M")
    page.fill("#c-reason", "装置で患者選択を誤った (本人確認済み)")
    page.click("#correct-study")
    page.wait_for_url("**done=corrected")
    assert "訂正しました" in page.inner_text("main")
    assert "画像の患者情報 (訂正後)" in page.inner_text("#compare")
    assert "装置で患者選択を誤った" in page.inner_text("#history")
    page.screenshot(path=f"{SHOTS}/matching-corrected.png", full_page=True)
    _fits(page)

    page.click("#confirm-study")
    page.wait_for_url("**/images?done=confirmed")
    (entry,) = entries(kura, LedgerTag.ImagingStudyCorrected)
    assert entry.reason.startswith("装置で")
    assert len(entries(kura, LedgerTag.ImagingStudyConfirmed)) == 1
