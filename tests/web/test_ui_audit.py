"""The audit manager's screens over real HTTP: access (R13, R25), the ledger browser's filters
and paging, verification and checkpoints (R24), alert sign-off (R18, R27)."""

import pytest

from kura.ledger.tags import LedgerTag
from tests.factories import make_user
from tests.web.breakglass import break_glass
from tests.web.ui import browser, entries, form_login, page_as, text_of

PAGES = ["/audit", "/audit/integrity", "/audit/alerts", "/audit/alerts?view=signed"]


@pytest.mark.parametrize("path", PAGES)
def test_r25_audit_pages_anonymous_go_to_login(server, path):
    with browser(server) as c:
        r = c.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_r15_r25_audit_pages_only_for_the_audit_manager(server, clock, path):
    with page_as(server, clock, "admin") as admin:
        assert admin.get(path).status_code == 403  # R15: the administrator does not audit himself
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get(path)
    assert r.status_code == 200, r.text


def test_r25_ledger_browser_filters_pages_and_is_itself_ledgered(server, clock):
    user = make_user(server.kura, "fujita", ("clerk",))
    with browser(server) as c:
        form_login(server, clock, user, c)
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get("/audit", params={"user": "fujita", "tag": "auth:login"})
        assert r.status_code == 200
        body = text_of(r.text)
        assert "auth:login:succeeded" in body and "1 件" in body
        # each entry's fields, reason and hashes are shown
        row = entries(server.kura, LedgerTag.AuthLoginSucceeded, actor="fujita")[0]
        assert row.leaf_hash in r.text and row.chain_hash in r.text and row.request_id in r.text
        assert "該当する記録はありません" in auditor.get("/audit", params={"user": "nobody"}).text
        assert auditor.get("/audit", params={"since": "not-a-date"}).status_code == 400
        since = clock.now().astimezone().strftime("%Y-%m-%dT%H:%M")
        assert auditor.get("/audit", params={"since": "2000-01-01T00:00", "until": since}).status_code == 200
        for _ in range(55):  # more than one page of entries (each browse is itself an entry)
            entries(server.kura, LedgerTag.AuthLoginSucceeded)
        first = auditor.get("/audit")
        assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
        second = auditor.get("/audit", params={"page": 2})
        assert 'rel="prev"' in second.text and "2 /" in text_of(second.text)
    reads = entries(server.kura, LedgerTag.AuditLedgerRead, actor="auditor-ui")
    assert any('"actor":"fujita"' in e.detail for e in reads)


def test_r24_verify_and_checkpoint_on_demand(server, clock):
    with page_as(server, clock, "auditor") as auditor:
        assert "まだ検証されていません" in auditor.get("/audit/integrity").text
        r = auditor.post("/audit/verify")
        assert r.status_code == 303 and r.headers["location"] == "/audit/integrity"
        page = auditor.get("/audit/integrity")
        assert "ledger intact" in page.text
        assert auditor.post("/audit/checkpoint").status_code == 303
        page = auditor.get("/audit/integrity")
        assert 'class="latest"' in page.text
    assert entries(server.kura, LedgerTag.AuditLedgerVerified, actor="auditor-ui")[0].outcome == 0
    assert entries(server.kura, LedgerTag.AuditCheckpointCreated, actor="auditor-ui")


def test_r18_break_glass_alert_is_listed_and_signed_off_with_a_note(server, clock):
    seq = break_glass(server.kura)
    with page_as(server, clock, "auditor") as auditor:
        page = auditor.get("/audit/alerts")
        assert f'id="alert-{seq}"' in page.text and "access:breakglass:started" in page.text
        assert "心停止のため緊急で既往歴を確認" in page.text
        empty = auditor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "  "})
        assert empty.status_code == 400 and "所見を記入してください" in empty.text
        r = auditor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "救急外来の記録と照合済み"})
        assert r.status_code == 303
        assert f'id="alert-{seq}"' not in auditor.get("/audit/alerts").text
        signed = auditor.get("/audit/alerts?view=signed")
        assert f'id="alert-{seq}"' in signed.text and "救急外来の記録と照合済み" in signed.text
        assert auditor.post("/audit/alerts/999999/sign-off", data={"note": "x"}).status_code == 404
    done = entries(server.kura, LedgerTag.AuditAlertSignedOff, actor="auditor-ui")
    assert [e.target_id for e in done] == [str(seq)] and done[0].patient_id == "P-0042"


def test_audit_forms_refuse_other_roles(server, clock):
    seq = break_glass(server.kura)
    with page_as(server, clock, "physician") as doctor:
        assert doctor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "mine"}).status_code == 403
        assert doctor.post("/audit/verify").status_code == 403
    assert not entries(server.kura, LedgerTag.AuditAlertSignedOff)
