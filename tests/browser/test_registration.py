"""In the browser: patient registration refuses what cannot be right (R30) — romaji in the
kana fields, a birth date in the future, no sex chosen — in Japanese; half-width and
hiragana kana are stored as katakana; a likely duplicate (same kana name and birth date) is
shown before saving; and 和暦 is shown beside the Western birth date and can be searched."""

from __future__ import annotations

import re

import pytest

from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject
from tests.support.records import seed_classes

pytestmark = pytest.mark.browser
SHOTS = "/tmp/screens"


def _fill(page, *, mrn, family="高橋", given="花子", family_kana="タカハシ", given_kana="ハナコ",
          birth="1959-08-05", gender="female"):
    page.goto("/patients/new")
    page.fill("#f-mrn", mrn)
    page.fill("#f-family", family)
    page.fill("#f-given", given)
    page.fill("#f-family_kana", family_kana)
    page.fill("#f-given_kana", given_kana)
    page.fill("#f-birth_date", birth)
    if gender:
        page.select_option("#f-gender", gender)


def _submit(page):
    page.click("form.entry button[type=submit]")
    page.wait_for_load_state()


def test_r30_registration_refuses_bad_data_in_japanese_and_shows_a_likely_duplicate(page, server, clock):
    kura = server.kura
    seed_classes(kura)
    clerk = make_user(kura, "uketsuke", ("clerk",))
    sign_in(page, clerk, clock)

    page.goto("/patients/new")
    assert page.locator("#f-gender").input_value() == ""  # no default sex

    _fill(page, mrn="00088001", family_kana="Takahashi", given_kana="Hanako")
    _submit(page)
    assert "カナ氏名にはカナ" in page.locator("p.msg.error").inner_text()
    page.screenshot(path=f"{SHOTS}/register-romaji.png", full_page=True)

    _fill(page, mrn="00088001", birth="2030-01-01")
    _submit(page)
    assert "生年月日が未来の日付" in page.locator("p.msg.error").inner_text()

    _fill(page, mrn="00088001", gender=None)
    page.evaluate("document.getElementById('f-gender').removeAttribute('required')")
    _submit(page)
    assert "入力してください: 性別" in page.locator("p.msg.error").inner_text()

    # Half-width and hiragana kana are kana: stored as full-width katakana.
    _fill(page, mrn="00088001", family_kana="ﾀｶﾊｼ", given_kana="はなこ")
    _submit(page)
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]+\?done=created"))
    first = page.url.split("/patients/")[1].split("?")[0]
    facts = page.locator("dl.facts").inner_text()
    assert "タカハシ ハナコ" in facts and "昭和34年8月5日 (1959-08-05)" in facts
    with kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        names = records.read(ctx, "Patient", first).resource()["name"]
    assert names[1]["family"] == "タカハシ" and names[1]["given"] == ["ハナコ"]

    # The same person again under another number: shown before saving, saved only when told.
    _fill(page, mrn="00088002", family_kana="たかはし")
    _submit(page)
    dup = page.locator("section.duplicates")
    assert dup.is_visible() and "00088001" in dup.inner_text() and "昭和34年8月5日" in dup.inner_text()
    assert "カナ氏名と生年月日が同じ患者" in page.locator("p.msg.error").inner_text()
    page.screenshot(path=f"{SHOTS}/register-duplicate.png", full_page=True)
    page.check("#f-not_duplicate")
    _submit(page)
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]+\?done=created"))
    assert page.url.split("/patients/")[1].split("?")[0] != first

    # 和暦 search: S34.8.5, 昭和34年8月5日 and the Western date find both.
    for q in ("S34.8.5", "昭和34年8月5日", "1959-08-05"):
        page.goto("/patients")
        page.fill("#q", q)
        page.wait_for_selector("#results table.patients tbody tr >> nth=1")
        assert page.locator("#results table.patients tbody tr").count() == 2, q
        assert "昭和34年8月5日" in page.locator("#results").inner_text()
    page.screenshot(path=f"{SHOTS}/search-wareki.png", full_page=True)
