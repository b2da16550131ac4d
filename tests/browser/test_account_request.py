"""In the browser: a department head requests an account (R10), the system administrator
approves it and hands over the one-time password and QR code, and the new user's first
sign-in goes through the password change and the user duties (利用者の責務, 同意する)
before anything else."""

import pytest

from kura.identity import duties, totp
from kura.identity import service as identity
from kura.ledger.tags import LedgerTag
from tests.browser.conftest import sign_in
from tests.factories import ADMIN, make_user
from tests.web.ui import entries

pytestmark = pytest.mark.browser


def test_r10_request_approval_then_first_login_with_the_duties(page, server, clock):
    head_user = make_user(server.kura, "bucho", ("department_head",))
    admin_user = make_user(server.kura, "kanri", ("admin",))
    with server.kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        duties.publish(ctx, text="1. 利用者 ID とパスワードを他人に貸与しません。\n2. 業務に必要な情報だけを閲覧します。")
        for name in ("bucho", "kanri"):  # they have acknowledged already
            duties.acknowledge(ctx, user=identity.get_user(ctx, name), version=1)

    # the department head asks
    sign_in(page, head_user, clock)
    page.click("nav.main >> text=利用申請")
    page.wait_for_url("**/accounts/requests")
    page.click("text=新規申請")
    page.fill("#username", "nishimura")
    page.fill("#display_name", "西村 由香")
    page.fill("#department", "放射線科")
    page.check("input[name=roles][value=technologist]")
    page.fill("#reason", "4月1日付 採用 (診療放射線技師)")
    page.click("form[action='/accounts/requests'] button[type=submit]")
    page.wait_for_url("**/accounts/requests?done=submitted")
    assert "申請中" in page.locator("table.list").inner_text()
    page.screenshot(path="/tmp/kura-request-list.png", full_page=True)
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")

    # the administrator approves
    sign_in(page, admin_user, clock)
    page.goto("/accounts/requests")
    page.click("a:has-text('nishimura')")
    page.wait_for_selector("#approve")
    page.screenshot(path="/tmp/kura-request-decide.png", full_page=True)
    page.click("#approve")
    page.wait_for_selector(".qr img")
    password = page.locator("#one-time-password").inner_text().strip()
    secret = page.locator(".qr .secret").inner_text().strip()
    page.screenshot(path="/tmp/kura-request-approved.png", full_page=True)
    page.goto("/accounts/requests")
    assert "承認" in page.locator("table.list").inner_text()
    page.click("text=ログアウト")
    page.wait_for_url("**/login?bye=1")

    # the new user: one-time password + code, then the password change, then the duties
    clock.advance(seconds=30)
    page.fill("#username", "nishimura")
    page.fill("#password", password)
    page.fill("#otp", totp.code_at(secret, clock.now()))
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/account/password")
    page.fill("#old", password)
    page.fill("#new", "Sakura-2027-xray")
    page.fill("#confirm", "Sakura-2027-xray")
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_url("**/account/duties")
    assert "他人に貸与しません" in page.locator(".duties-text").inner_text()
    assert page.locator("nav.main").count() == 0 or "画像" not in page.locator("nav.main").inner_text()
    page.screenshot(path="/tmp/kura-duties.png", full_page=True)
    page.goto("/images")  # anything else leads back to the duties
    page.wait_for_url("**/account/duties")
    page.click("#acknowledge")
    page.wait_for_url(lambda url: url.endswith("/"))
    assert page.locator("h1").inner_text().startswith("ようこそ")
    page.screenshot(path="/tmp/kura-after-duties.png", full_page=True)
    assert entries(server.kura, LedgerTag.AuthDutiesAcknowledged, actor="nishimura")
    assert entries(server.kura, LedgerTag.AdminRequestApproved, actor="kanri")


def test_r82_operations_records_a_training_with_its_evidence(page, server, clock, tmp_path):
    ops = make_user(server.kura, "unyo", ("operations",))
    make_user(server.kura, "kangoshi", ("nurse",))
    cert = tmp_path / "受講証明書.pdf"
    cert.write_bytes(b"%PDF-1.4 certificate of attendance")
    sign_in(page, ops, clock)
    assert "年次セキュリティ研修の受講記録がありません" in page.locator("#training-warning").inner_text()
    page.click("nav.main >> text=研修記録")
    page.wait_for_url("**/training")
    assert "kangoshi" in page.locator("#due").inner_text()
    page.click("text=研修を記録")
    page.select_option("#username", "kangoshi")
    page.fill("#completed_on", clock.now().date().isoformat())
    page.set_input_files("#evidence", str(cert))
    page.click("form[action='/training'] button[type=submit]")
    page.wait_for_url("**/training?done=training")
    assert "受講証明書.pdf" in page.locator("#records").inner_text()
    assert "kangoshi" not in page.locator("#due").inner_text()
    page.screenshot(path="/tmp/kura-training.png", full_page=True)
    with page.expect_download() as download:
        page.click("#records a:has-text('受講証明書.pdf')")
    assert open(download.value.path(), "rb").read() == b"%PDF-1.4 certificate of attendance"
