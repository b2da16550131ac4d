"""Account requests (R10), end dates (R11), the user duties and training (R82) over real HTTP:
who may open each page, the two-person rule, the duties gate before anything else."""

import re

import pytest

from kura.identity import duties, totp
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user, secret_of
from tests.web.ui import browser, entries, form_login, page_as

PAGES = ["/accounts/requests", "/accounts/requests/new", "/admin/duties", "/training", "/training/new"]


@pytest.mark.parametrize("path", PAGES)
def test_r13_account_pages_anonymous_go_to_login(server, path):
    with browser(server) as c:
        r = c.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_r13_account_pages_refuse_a_nurse(server, clock, path):
    with page_as(server, clock, "nurse") as nurse:
        r = nurse.get(path)
    assert r.status_code == 403 and "この操作の権限がありません" in r.text


def _ask(c, **kw):
    data = {"kind": "create", "username": "kobayashi", "display_name": "小林 直子", "department": "放射線科",
            "roles": ["technologist"], "clearance": "N", "reason": "4月採用"}
    data.update(kw)
    return c.post("/accounts/requests", data=data)


def test_r10_request_approval_then_first_login_shows_the_one_time_password(server, clock):
    with page_as(server, clock, "department_head", name="bucho") as head:
        assert head.get("/accounts/requests/new").status_code == 200
        r = _ask(head)
        assert r.status_code == 303
        listing = head.get("/accounts/requests")
        assert "申請中" in listing.text and "kobayashi" in listing.text
        req_id = re.search(r'/accounts/requests/([0-9a-f-]{36})', listing.text).group(1)
        assert head.post(f"/accounts/requests/{req_id}/approve").status_code == 403  # not theirs to decide
        mine = head.get(f"/accounts/requests/{req_id}")
        assert 'id="approve"' not in mine.text
    with page_as(server, clock, "admin", name="kanri") as admin:
        page = admin.get(f"/accounts/requests/{req_id}")
        assert 'id="approve"' in page.text
        r = admin.post(f"/accounts/requests/{req_id}/approve", data={"note": "確認"})
        assert r.status_code == 201 and 'src="data:image/png;base64,' in r.text
        password = re.search(r'id="one-time-password">([^<]+)<', r.text).group(1)
        uri = re.search(r'otpauth://totp/[^<"]+', r.text).group(0).replace("&amp;", "&")
        assert "承認" in admin.get("/accounts/requests").text
        assert admin.post(f"/accounts/requests/{req_id}/approve").status_code == 400  # decided already
    clock.advance(seconds=30)
    with browser(server) as c:
        r = c.post("/login", data={"username": "kobayashi", "password": password,
                                   "otp": totp.code_at(secret_of(uri), clock.now())})
        assert r.headers["location"] == "/account/password"
    assert entries(server.kura, LedgerTag.AdminRequestApproved, actor="kanri")


def test_r10_the_requester_who_is_also_admin_cannot_approve(server, clock):
    with page_as(server, clock, "department_head", "admin", name="both") as both:
        _ask(both)
        req_id = re.search(r'/accounts/requests/([0-9a-f-]{36})', both.get("/accounts/requests").text).group(1)
        assert 'id="approve"' not in both.get(f"/accounts/requests/{req_id}").text
        r = both.post(f"/accounts/requests/{req_id}/approve")
        assert r.status_code == 403
        assert both.post(f"/accounts/requests/{req_id}/refuse", data={"reason": "x"}).status_code == 403
    denied = entries(server.kura, LedgerTag.AccessRequestDenied, actor="both")
    assert any("two-person" in e.reason for e in denied)


def test_r10_refusal_with_a_reason(server, clock):
    with page_as(server, clock, "department_head", name="bucho2") as head:
        _ask(head, username="endo")
        req_id = re.search(r'/accounts/requests/([0-9a-f-]{36})', head.get("/accounts/requests").text).group(1)
    with page_as(server, clock, "admin", name="kanri2") as admin:
        assert admin.post(f"/accounts/requests/{req_id}/refuse", data={"reason": ""}).status_code == 400
        assert admin.post(f"/accounts/requests/{req_id}/refuse", data={"reason": "配属未定"}).status_code == 303
        assert "却下" in admin.get("/accounts/requests").text
    assert entries(server.kura, LedgerTag.AdminRequestRefused)[0].reason == "配属未定"


def test_r11_end_date_on_the_user_page(server, clock):
    make_user(server.kura, "leaver", ("clerk",))
    with page_as(server, clock, "admin", name="kanri3") as admin:
        r = admin.post("/admin/users/leaver/end-date", data={"end_date": "2099-03-31", "reason": "退職"})
        assert r.status_code == 303
        page = admin.get("/admin/users/leaver")
        assert "2099-03-31" in page.text
        assert admin.post("/admin/users/leaver/end-date", data={"end_date": "3/31"}).status_code == 400
    with page_as(server, clock, "clerk", name="jimu") as clerk:
        assert clerk.post("/admin/users/leaver/end-date", data={"end_date": "2099-03-31"}).status_code == 403
    assert entries(server.kura, LedgerTag.AdminUserEndDateSet)[0].target_id == "leaver"


def test_duties_come_before_anything_else_until_acknowledged(server, clock):
    with server.kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        duties.publish(ctx, text="IDを共有しない。")
    user = make_user(server.kura, "shinjin", ("clerk",))
    with browser(server) as c:
        form_login(server, clock, user, c)
        r = c.get("/patients")
        assert r.status_code == 303 and r.headers["location"] == "/account/duties"
        page = c.get("/account/duties")
        assert "IDを共有しない。" in page.text and "同意する" in page.text
        token = c.cookies.get("kura_session")
        with server.client(token) as api:  # the API refuses too
            assert api.get("/fhir/Patient").status_code == 403
        assert c.post("/account/duties", data={"version": "1"}).status_code == 303
        assert c.get("/").status_code == 200
    assert entries(server.kura, LedgerTag.AuthDutiesAcknowledged, actor="shinjin")


def test_duties_admin_publishes_versions(server, clock):
    with page_as(server, clock, "admin", name="kanri4") as admin:
        page = admin.get("/admin/duties")
        assert "利用者の責務" in page.text and "貸与・共有しません" in page.text  # the suggested text
        assert admin.post("/admin/duties", data={"text": "第1版の本文"}).status_code == 303
        # the admin must acknowledge it too, before anything else
        assert admin.get("/admin/duties").headers["location"] == "/account/duties"
        assert admin.post("/account/duties", data={"version": "1"}).status_code == 303
        assert admin.post("/admin/duties", data={"text": "第1版の本文"}).status_code == 400
        assert admin.post("/admin/duties", data={"text": "第2版の本文"}).status_code == 303
        assert admin.post("/account/duties", data={"version": "1"}).status_code == 303  # outdated: shown again
        assert admin.get("/").headers["location"] == "/account/duties"


def test_r82_training_record_with_evidence_and_due_list(server, clock):
    make_user(server.kura, "kensyu", ("nurse",))
    with page_as(server, clock, "operations", name="unyo") as ops:
        assert ops.get("/training/new").status_code == 200
        r = ops.post("/training", data={"username": "kensyu", "course": "security",
                                        "completed_on": "2026-04-01"},
                     files={"evidence": ("受講証.pdf", b"%PDF-1.4 certificate", "application/pdf")})
        assert r.status_code == 303, r.text
        page = ops.get("/training")
        assert "受講証.pdf" in page.text and "情報セキュリティ研修" in page.text
        rec_id = re.search(r'/training/([0-9a-f-]{36})/evidence', page.text).group(1)
        ev = ops.get(f"/training/{rec_id}/evidence")
        assert ev.status_code == 200 and ev.content == b"%PDF-1.4 certificate"
        assert "未受講" in page.text  # ops itself has none on record
    with page_as(server, clock, "auditor", name="kansa") as auditor:
        assert auditor.get("/training").status_code == 200
        assert auditor.post("/training", data={"username": "kensyu", "course": "security",
                                               "completed_on": "2026-04-01"}).status_code == 403
    assert entries(server.kura, LedgerTag.AdminTrainingRecorded, actor="unyo")[0].target_id == "kensyu"


def test_r82_home_page_warns_of_missing_training(server, clock):
    with page_as(server, clock, "clerk", name="warn1") as c:
        assert 'id="training-warning"' in c.get("/").text


def test_r10_a_change_request_on_the_screens(server, clock):
    make_user(server.kura, "henkou", ("nurse",))
    with page_as(server, clock, "department_head", name="bucho5") as head:
        form = head.get("/accounts/requests/new?kind=change&username=henkou")
        assert 'value="change"' in form.text and 'id="display_name"' not in form.text
        r = head.post("/accounts/requests", data={"kind": "change", "username": "henkou", "roles": ["nurse", "clerk"],
                                                  "clearance": "R", "end_date": "2099-09-30", "reason": "兼務"})
        assert r.status_code == 303
        req_id = re.search(r'/accounts/requests/([0-9a-f-]{36})', head.get("/accounts/requests").text).group(1)
        assert _ask(head, kind="change", username="nobody").status_code == 400
    with page_as(server, clock, "admin", name="kanri5") as admin:
        r = admin.post(f"/accounts/requests/{req_id}/approve")
        assert r.status_code == 303
        assert "申請を承認しました" in admin.get(r.headers["location"]).text
        page = admin.get("/admin/users/henkou")
        assert "2099-09-30" in page.text and 'value="clerk" checked' in page.text
