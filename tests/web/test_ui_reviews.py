"""監査レビュー報告 and 権限の棚卸 over real HTTP (R27, R11): who may see and do what (403 for
the others), the auditor's sign-off and the administrator's review, in Japanese."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kura.identity.models import User
from kura.ledger.signing import DocumentSignature, verify_document
from kura.ledger.tags import LedgerTag
from kura.reviews import reports, rights
from tests.unit.reviews.helpers import busy_day
from tests.web.ui import browser, entries, page_as, text_of

REPORT_PAGES = ["/reviews/reports"]
RIGHTS_PAGES = ["/reviews/rights"]


@pytest.mark.parametrize("path", REPORT_PAGES + RIGHTS_PAGES)
def test_r27_r11_review_pages_anonymous_go_to_login(server, path):
    with browser(server) as c:
        r = c.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_r27_review_reports_are_the_audit_managers(server, clock):
    for role in ("admin", "clerk", "operations", "physician"):
        with page_as(server, clock, role) as c:
            assert c.get("/reviews/reports").status_code == 403
            assert c.post("/reviews/reports", data={"since": "2026-11-24", "until": "2026-11-24"}).status_code == 403
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get("/reviews/reports")
        assert r.status_code == 200 and "監査レビュー報告" in r.text and "今すぐ報告書を作成" in r.text


def test_r27_auditor_makes_and_signs_off_a_report_on_screen(server, clock):
    kura = server.kura
    busy_day(kura, clock)
    with page_as(server, clock, "auditor", name="kansa") as auditor:
        assert auditor.post("/reviews/reports", data={"since": "2026-11-24", "until": "not-a-day"}).status_code == 400
        r = auditor.post("/reviews/reports", data={"since": "2026-11-24", "until": "2026-11-24"})
        assert r.status_code == 303
        url = r.headers["location"].split("?")[0]
        page = auditor.get(url)
        body = text_of(page.text)
        assert page.status_code == 200
        for words in ("時間外のアクセス", "同姓の患者へのアクセス", "職員患者へのアクセス", "ログイン失敗の集中",
                      "書き出し・印刷", "yamada", "suzuki"):
            assert words in body, words
        assert auditor.post(url + "/sign-off", data={"comment": ""}).status_code == 400
        assert auditor.get(url + "/report.pdf").status_code == 404  # not signed off yet
        r = auditor.post(url + "/sign-off", data={"comment": "時間外アクセスは当直と確認済み"})
        assert r.status_code == 303
        signed = auditor.get(url)
        assert "署名付き報告書 (PDF)" in signed.text and "kansa" in text_of(signed.text)
        again = auditor.post(url + "/sign-off", data={"comment": "二度目"})
        assert again.status_code == 409 and "kansa がすでに承認しています" in again.text
        pdf = auditor.get(url + "/report.pdf")
        sig = auditor.get(url + "/report.sig")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    parsed = DocumentSignature.parse(sig.text, (reports.KIND,))
    assert verify_document(kura.signer.public_key, kura.signer.key_id, pdf.content, parsed) == []
    assert entries(kura, LedgerTag.AuditReportSignedOff)[0].actor_name == "kansa"
    with page_as(server, clock, "admin") as admin:
        assert admin.get(url).status_code == 403
        assert admin.get(url + "/report.pdf").status_code == 403


def test_r11_rights_review_is_the_administrators_the_auditor_reads(server, clock):
    for role in ("clerk", "operations", "physician"):
        with page_as(server, clock, role) as c:
            assert c.get("/reviews/rights").status_code == 403
    with page_as(server, clock, "auditor") as auditor:
        assert auditor.get("/reviews/rights").status_code == 200
        assert "権限の棚卸を開始" not in auditor.get("/reviews/rights").text
        assert auditor.post("/reviews/rights").status_code == 403


def test_r11_administrator_reviews_disables_and_signs_off_on_screen(server, clock):
    kura = server.kura
    with page_as(server, clock, "nurse", name="taishoku"):
        pass
    with page_as(server, clock, "admin", name="kanri") as admin:
        r = admin.post("/reviews/rights")
        assert r.status_code == 303
        url = r.headers["location"].split("?")[0]
        page = admin.get(url)
        assert page.status_code == 200 and "taishoku" in page.text and "未使用の権限" in page.text
        assert admin.post(url + "/sign-off", data={"comment": "完了"}).status_code == 400  # not all marked
        assert admin.post(url + "/accounts/taishoku", data={"decision": "disabled", "note": "退職"}).status_code == 303
        assert admin.post(url + "/accounts/kanri", data={"decision": "changed", "note": ""}).status_code == 400
        with kura.unit_of_work(None, "") as ctx:
            review_id = url.rsplit("/", 1)[1]
            left = [i.username for i in rights.items_of(ctx, review_id) if not i.decision]
        for name in left:
            assert admin.post(url + f"/accounts/{name}", data={"decision": "kept"}).status_code == 303
        assert admin.post(url + "/sign-off", data={"comment": "2026年度の棚卸を完了"}).status_code == 303
        assert "署名付き棚卸表 (PDF)" in admin.get(url).text
        pdf = admin.get(url + "/review.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    with kura.sessions() as s:
        assert s.scalar(select(User.disabled).where(User.username == "taishoku"))
    assert entries(kura, LedgerTag.AdminUserDisabled)[0].actor_name == "kanri"


def test_r27_a_staff_patient_registered_on_screen_is_found_by_the_review(server, clock):
    from tests.support.records import seed_classes
    kura = server.kura
    seed_classes(kura)
    with page_as(server, clock, "clerk", name="iji") as c:
        assert "当院職員" in c.get("/patients/new").text
        form = {"mrn": "00077777", "family": "看護", "given": "花子", "family_kana": "カンゴ", "given_kana": "ハナコ",
                "birth_date": "1985-07-15", "gender": "female", "label": "N", "staff": "yes"}
        r = c.post("/patients", data=form)
        assert r.status_code == 303, r.text
        pid = r.headers["location"].split("/")[2].split("?")[0]
        assert c.get(f"/patients/{pid}").status_code == 200
    today = clock.now().astimezone(reports.JST).date().isoformat()
    with page_as(server, clock, "auditor") as auditor:
        url = auditor.post("/reviews/reports", data={"since": today, "until": today}).headers["location"].split("?")[0]
        with kura.unit_of_work(None, "") as ctx:
            row = ctx.session.get(reports.ReviewReport, url.rsplit("/", 1)[1])
            found = reports.findings_of(row)
    staff = [f for f in found if f["kind"] == "staff_patient"]
    assert [(f["subject"], f["patients"]) for f in staff] == [("iji", [pid])]
    with page_as(server, clock, "auditor", name="kansa2") as auditor:
        body = text_of(auditor.get(url).text)
    assert "00077777 看護 花子" in body  # the patient by number and name, not the internal id
    assert pid[:8] not in body
