"""In the browser: the audit manager finds a patient's entries by the hospital's patient number,
reads one entry, exports the view, opens the patient's access history, and signs off one
break-glass (with the accesses made under it) once (R18, R23, R25). Screenshots at 1366 px."""

from __future__ import annotations

import re

import pytest

from kura.access.policy import Target
from kura.errors import Denied
from kura.ledger.models import AlertSignoff
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject
from tests.web.ui import entries

pytestmark = pytest.mark.browser
SHOTS = "/tmp/screens"
MRN = "10000018"
RAW_CODE = re.compile(r"\b[a-z]+:[a-z-]+:[a-z-]+\b")  # a ledger tag or action code


@pytest.fixture
def wide(page):
    page.set_viewport_size({"width": 1366, "height": 900})
    return page


def _seed(kura, *, label=None):
    clerk = make_user(kura, "iji", ("clerk",), clearance="V")
    with kura.unit_of_work(subject(clerk, "V"), "HPAYMT") as ctx:
        pid = records.create(ctx, R.patient(mrn=MRN, family="山田", given="花子", family_kana="ヤマダ",
                                            given_kana="ハナコ", birth_date="1961-03-04", gender="female",
                                            label=label)).id
        other = records.create(ctx, R.patient(mrn="10000026", family="佐藤", given="一郎", family_kana="サトウ",
                                              given_kana="イチロウ", birth_date="1950-01-01", gender="male")).id
    nurse = make_user(kura, "yoshida", ("nurse",))
    for p in (pid, other, pid):
        with kura.unit_of_work(subject(nurse), "TREAT", origin="192.0.2.7") as ctx:
            try:
                records.read(ctx, "Patient", p)
            except Denied:
                pass
    with kura.unit_of_work(subject(nurse), "TREAT", origin="VIEWER@192.0.2.8") as ctx:
        ctx.record(LedgerTag.ImagingStudyRead, target=Target(kind="ImagingStudy", id="1.2.392.1", patient_id=MRN))
    return pid


def _fits(page):
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_r25_auditor_finds_a_patients_entries_by_patient_number(wide, server, clock):
    page = wide
    pid = _seed(server.kura)
    auditor = make_user(server.kura, "kansa", ("auditor",))
    sign_in(page, auditor, clock)
    page.click("nav.main >> text=監査ログ")
    page.wait_for_url("**/audit")
    page.fill("input[name=patient]", MRN)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/audit?*patient={MRN}*")
    assert "10000018 山田 花子" in page.locator(".patients-found").inner_text()
    rows = page.locator("table.ledger tbody tr")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert any("記録の閲覧" in t for t in texts) and any("画像の閲覧" in t for t in texts)
    assert any("記録の作成" in t for t in texts)
    patient_cells = page.locator("table.ledger tbody td.c-patient").all_inner_texts()
    assert patient_cells and all(c == "" or c == "10000018 山田 花子" for c in patient_cells)
    assert "佐藤" not in page.locator("table.ledger").inner_text()
    main = page.locator("main").inner_text()
    assert not RAW_CODE.search(main) and pid not in main
    assert _fits(page)
    one_line = page.evaluate("() => [...document.querySelectorAll('table.ledger tbody tr')]"
                             ".every(tr => tr.getBoundingClientRect().height < 40)")
    assert one_line
    page.screenshot(path=f"{SHOTS}/audit-ledger-patient.png", full_page=True)

    page.locator("table.ledger tbody td.c-event a >> text=画像の閲覧").first.click()
    page.wait_for_url("**/audit/entries/*")
    facts = page.locator("main").inner_text()
    assert "110103" in facts and "DICOM 装置" in facts and "10000018 山田 花子" in facts
    page.screenshot(path=f"{SHOTS}/audit-entry.png", full_page=True)

    with page.expect_download() as dl:
        page.goto(f"/audit?patient={MRN}")
        page.click("text=CSV (Excel)")
    assert dl.value.suggested_filename.endswith(".csv")
    assert entries(server.kura, LedgerTag.AuditLedgerExported, actor="kansa")

    page.click("nav.main >> text=アクセス履歴")
    page.wait_for_url("**/audit/patients")
    page.fill("input[name=q]", "やまだ")
    page.click("form.filters button[type=submit]")
    page.click(f"a[href='/audit/patients/{pid}'] >> nth=0")
    page.wait_for_url(f"**/audit/patients/{pid}")
    history = page.locator("table.ledger").inner_text()
    assert "yoshida" in history and "看護師" in history and "画像の閲覧" in history and "診療" in history
    assert not RAW_CODE.search(page.locator("main").inner_text()) and _fits(page)
    page.screenshot(path=f"{SHOTS}/audit-access-history.png", full_page=True)


def test_r18_auditor_signs_off_a_grouped_break_glass_once(wide, server, clock):
    page = wide
    pid = _seed(server.kura, label="V")  # the nurse's reads were denied: alerts
    doctor = make_user(server.kura, "kobayashi", ("physician",))
    for i in range(6):
        with server.kura.unit_of_work(subject(doctor), None,
                                      break_glass_reason="心停止で搬送、既往歴を確認" if i == 0 else None) as ctx:
            records.read(ctx, "Patient", pid)
    started = entries(server.kura, LedgerTag.AccessBreakGlassStarted)
    assert len(started) == 1

    auditor = make_user(server.kura, "kansa", ("auditor",))
    sign_in(page, auditor, clock)
    page.click("nav.main >> text=アラート")
    page.wait_for_url("**/audit/alerts")
    card = page.locator(f"#alert-{started[0].seq}")
    text = card.inner_text()
    assert "緊急アクセス開始" in text and "心停止で搬送" in text and "10000018 山田 花子" in text
    assert "この緊急アクセスでのアクセス: 6 件" in text  # every read, the first included
    assert card.locator("details.reads tbody tr").count() == 6
    main = page.locator("main").inner_text()
    assert not RAW_CODE.search(main) and "clearance" not in main and _fits(page)
    page.screenshot(path=f"{SHOTS}/audit-alerts.png", full_page=True)
    cards_before = page.locator("article.alert-card").count()
    card.locator("textarea").fill("救急外来の受診記録と照合、正当な利用")
    card.locator("button[type=submit]").click()
    page.wait_for_url("**/audit/alerts?done=1")
    assert page.locator(f"#alert-{started[0].seq}").count() == 0
    assert page.locator("article.alert-card").count() == cards_before - 1
    with server.kura.sessions() as s:
        assert s.get(AlertSignoff, started[0].seq) is not None
    assert len(entries(server.kura, LedgerTag.AuditAlertSignedOff, actor="kansa")) == 1
    page.goto("/audit/alerts?view=signed")
    assert "救急外来の受診記録と照合" in page.locator(f"#alert-{started[0].seq}").inner_text()
    page.screenshot(path=f"{SHOTS}/audit-alerts-signed.png", full_page=True)
