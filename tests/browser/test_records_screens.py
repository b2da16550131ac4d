"""In the browser: a clerk registers a patient, confirms (確定) after the preview and corrects
with a reason (R30, R36); a physician reads the history and the difference (R43); a nurse
opens a restricted patient with break-glass (R18); a printout carries its watermark and is
in the ledger (R47, R72)."""

import io
import re

import pypdf
import pytest

from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject
from tests.support.records import seed_classes
from tests.web.ui import entries

pytestmark = pytest.mark.browser


def test_clerk_registers_confirms_and_corrects_then_physician_reads_the_history(page, server, clock):
    seed_classes(server.kura)
    clerk = make_user(server.kura, "suzuki", ("clerk",))
    sign_in(page, clerk, clock)
    page.click("nav.main >> text=患者")
    page.wait_for_url("**/patients")
    page.click("text=患者を登録")
    page.fill("#f-mrn", "00077001")
    page.fill("#f-family", "伊藤")
    page.fill("#f-given", "美咲")
    page.fill("#f-family_kana", "イトウ")
    page.fill("#f-given_kana", "ミサキ")
    page.fill("#f-birth_date", "1988-11-23")
    page.select_option("#f-gender", "female")
    page.screenshot(path="/tmp/kura-records-register.png", full_page=True)
    page.click("form.entry button[type=submit]")
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]+\?done=created"))
    assert "伊藤 美咲" in page.locator("h1").inner_text()
    pid = page.url.split("/patients/")[1].split("?")[0]

    # Search as you type: hiragana finds the katakana name, without pressing Enter.
    page.goto("/patients")
    page.fill("#q", "いとう")
    page.wait_for_selector("#results table.patients >> text=伊藤 美咲")
    page.screenshot(path="/tmp/kura-records-search.png", full_page=True)

    # 確定: the preview shows exactly the stored version and its SHA-256.
    page.goto(f"/records/Patient/{pid}")
    page.click("#confirm-button")
    page.wait_for_url(f"**/records/Patient/{pid}/confirm")
    sha = page.locator("#confirm-sha").inner_text().strip()
    with server.kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        assert records.read(ctx, "Patient", pid).sha256 == sha
    assert "イトウ" in page.locator("#confirm-content").inner_text()
    page.screenshot(path="/tmp/kura-records-confirm.png", full_page=True)
    page.click("#confirm-submit")
    page.wait_for_url("**?done=confirmed")
    assert "確定済み" in page.locator("h1").inner_text()

    # Correction of a confirmed record: the reason is mandatory.
    page.click("text=訂正…")
    page.fill("#f-given_kana", "ミサ")
    page.fill("#f-reason", "保険証の読み仮名に合わせて訂正")
    page.click("form.entry button[type=submit]")
    page.wait_for_url("**?done=corrected")
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")

    doctor = make_user(server.kura, "watanabe", ("physician",))
    sign_in(page, doctor, clock)
    page.goto(f"/records/Patient/{pid}/history")
    rows = page.locator("table.versions tbody tr")
    assert rows.count() == 3
    assert "保険証の読み仮名に合わせて訂正" in rows.nth(2).inner_text() and "suzuki" in rows.nth(2).inner_text()
    assert "suzuki" in rows.nth(1).inner_text()  # who confirmed
    page.screenshot(path="/tmp/kura-records-history.png", full_page=True)
    # It opens on the last change of content (the correction against the confirmed version).
    assert page.locator("table.versions tbody tr:nth-child(2) input[name=a]").is_checked()
    assert page.locator("table.versions tbody tr:nth-child(3) input[name=b]").is_checked()
    page.check("table.versions tbody tr:nth-child(2) input[name=a]")
    page.check("table.versions tbody tr:nth-child(3) input[name=b]")
    page.click("form.history button[type=submit]")
    page.wait_for_url("**/diff?a=2&b=3")
    changes = page.locator("table.changes").inner_text()
    assert "ミサキ" in changes and "ミサ" in changes
    assert "カナ氏名: 名" in changes and "name[" not in changes  # fields by their Japanese names
    page.screenshot(path="/tmp/kura-records-diff.png", full_page=True)


def test_nurse_uses_break_glass_on_a_restricted_patient(page, server, clock):
    kura = server.kura
    seed_classes(kura)
    senior = make_user(kura, "shunin", ("clerk",), clearance="V")
    with kura.unit_of_work(subject(senior, "V"), "HPAYMT") as ctx:
        vip = records.create(ctx, R.patient(mrn="00000007", family="高橋", given="誠", family_kana="タカハシ",
                                            given_kana="マコト", birth_date="1958-05-05", gender="male", label="V"))
    nurse = make_user(kura, "kato", ("nurse",))
    sign_in(page, nurse, clock)
    page.goto(f"/patients/{vip.id}")
    dialog = page.locator("dialog#break-glass")
    assert dialog.is_visible()
    assert "監査責任者" in dialog.inner_text()
    page.screenshot(path="/tmp/kura-records-breakglass.png", full_page=True)
    page.fill("#break_glass", "救急外来で意識レベル低下、既往と保険の確認")
    page.click("dialog#break-glass button[type=submit]")
    page.wait_for_selector("h1 >> text=高橋 誠")
    assert "まで有効です" in page.locator("form.emergency").inner_text()
    alerts = entries(kura, LedgerTag.AccessBreakGlassStarted, actor="kato")
    assert alerts and alerts[0].patient_id == vip.id and "意識レベル低下" in alerts[0].reason


def test_printout_carries_its_watermark_and_is_in_the_ledger(page, server, clock):
    kura = server.kura
    seed_classes(kura)
    clerk = make_user(kura, "yamamoto", ("clerk",))
    with kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        p = records.create(ctx, R.patient(mrn="00088001", family="中村", given="翔", family_kana="ナカムラ",
                                          given_kana="ショウ", birth_date="2001-02-03", gender="male"))
        records.create(ctx, R.charge_item(patient_id=p.id, code="112007410", when="2026-04-03"))
    sign_in(page, clerk, clock)
    page.goto(f"/patients/{p.id}")
    page.screenshot(path="/tmp/kura-records-patient.png", full_page=True)
    page.click("text=印刷用表示")
    page.wait_for_url(f"**/patients/{p.id}/print")
    mark = page.locator(".print-mark").first.inner_text()
    assert "院外持出禁止" in mark and "yamamoto" in mark
    page.emulate_media(media="print")
    page.screenshot(path="/tmp/kura-records-print.png", full_page=True)
    assert page.locator(".print-watermark").is_visible()
    pdf = page.request.get(f"/patients/{p.id}/pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    for pg in pypdf.PdfReader(io.BytesIO(pdf.body())).pages:
        text = re.sub(r"\s+", "", pg.extract_text())
        assert "院外持出禁止" in text and "yamamoto" in text
    printed = entries(kura, LedgerTag.RecordsRecordPrinted, actor="yamamoto")
    assert len(printed) == 2 and {e.target_id for e in printed} == {p.id}
    assert any(e.digest == pdf.headers["x-kura-sha256"] for e in printed)
