"""In the browser: the audit manager makes a review report of a busy day, reads its findings in
Japanese and signs it off; the signed PDF verifies with the home's key (R27). The administrator
finishes a rights review (R11)."""

import pytest

from kura.ledger.signing import DocumentSignature, verify_document
from kura.reviews import reports
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.unit.reviews.helpers import busy_day

pytestmark = pytest.mark.browser


def test_r27_audit_manager_makes_and_signs_off_a_review_report(page, server, clock):
    kura = server.kura
    busy_day(kura, clock)
    auditor = make_user(kura, "kansa", ("auditor",))
    sign_in(page, auditor, clock)
    page.click(".tiles >> text=監査レビュー報告")
    page.wait_for_url("**/reviews/reports")
    page.fill("#since", "2026-11-24")
    page.fill("#until", "2026-11-24")
    page.click("#generate button[type=submit]")
    page.wait_for_url("**/reviews/reports/*?done=generated")
    assert "監査レビュー報告を作成しました" in page.locator("p.msg.ok").inner_text()
    for kind, who in (("off_hours", "yamada"), ("same_surname", "yamada"), ("staff_patient", "yamada"),
                      ("failed_logins", "suzuki"), ("exports", "yamada")):
        assert who in page.locator(f"#kind-{kind} table").inner_text(), kind
    assert "時間外のアクセス" in page.locator("#kind-off_hours h2").inner_text()
    page.screenshot(path="/tmp/kura-review-report.png", full_page=True)

    page.fill("#comment", "時間外の閲覧は当直業務、同姓の患者は家族ではないことを本人に確認した。")
    page.click("#sign-off button[type=submit]")
    page.wait_for_url("**/reviews/reports/*?done=signed")
    assert "kansa" in page.locator("#sign-off").inner_text()
    page.screenshot(path="/tmp/kura-review-report-signed.png", full_page=True)
    report_url = page.url.split("?")[0]
    pdf = page.request.get(report_url + "/report.pdf")
    sig = page.request.get(report_url + "/report.sig")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    parsed = DocumentSignature.parse(sig.text(), (reports.KIND,))
    assert verify_document(kura.signer.public_key, kura.signer.key_id, pdf.body(), parsed) == []
    with open("/tmp/kura-review-report.pdf", "wb") as fh:
        fh.write(pdf.body())


def test_r11_administrator_finishes_a_rights_review(page, server, clock):
    kura = server.kura
    make_user(kura, "taishoku", ("nurse",))
    admin = make_user(kura, "kanri", ("admin",))
    sign_in(page, admin, clock)
    page.click(".tiles >> text=権限の棚卸")
    page.wait_for_url("**/reviews/rights")
    page.click("text=権限の棚卸を開始")
    page.wait_for_url("**/reviews/rights/*?done=started")
    page.screenshot(path="/tmp/kura-rights-review.png", full_page=True)
    for row in page.locator("tbody tr").all():
        name = row.get_attribute("id").removeprefix("account-")
        form = page.locator(f"#account-{name} form")
        form.locator("select").select_option("disabled" if name == "taishoku" else "kept")
        if name == "taishoku":
            form.locator("input[name=note]").fill("退職")
        form.locator("button").click()
        page.wait_for_url("**done=marked*")
    page.fill("#comment", "上期の棚卸完了。退職者 1 名を無効化。")
    page.click("#sign-off button[type=submit]")
    page.wait_for_url("**/reviews/rights/*?done=review-signed")
    assert "署名付き棚卸表 (PDF)" in page.locator("#sign-off").inner_text()
    assert "無効化" in page.locator("#account-taishoku").inner_text()
    page.screenshot(path="/tmp/kura-rights-review-signed.png", full_page=True)
