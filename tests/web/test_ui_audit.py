"""The audit manager's screens over real HTTP: access (R13, R25), the ledger's filters and
keyset paging, entry details, CSV and PDF exports (each ledgered, R25), a patient's access
history, verification and checkpoints (R24), grouped alerts signed off once (R18, R27)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zoneinfo

import pytest
from sqlalchemy import event, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.ledger.models import AlertSignoff
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.factories import ADMIN, make_user, subject
from tests.web.breakglass import break_glass
from tests.web.ui import browser, entries, form_login, page_as, text_of

MRN = "10000018"
JST = zoneinfo.ZoneInfo("Asia/Tokyo")


def _patient(kura, *, mrn=MRN, family="山田", given="花子", kana=("ヤマダ", "ハナコ"), label=None):
    clerk = make_user(kura, f"reg-{mrn}", ("clerk",), clearance="V")
    with kura.unit_of_work(subject(clerk, "V"), "HPAYMT") as ctx:
        return records.create(ctx, R.patient(mrn=mrn, family=family, given=given, family_kana=kana[0],
                                             given_kana=kana[1], birth_date="1961-03-04", gender="female",
                                             label=label)).id


def _reads(kura, pid: str, name="yoshida", display="吉田 看護師", mrn=MRN):
    """A nurse reads the patient's record twice; a workstation's view of an image of the
    patient under the DICOM Patient ID (the patient number)."""
    nurse = make_user(kura, name, ("nurse",))
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        from kura.identity.models import User
        ctx.session.scalar(select(User).where(User.username == name)).display_name = display
    for _ in range(2):
        with kura.unit_of_work(subject(nurse), "TREAT", origin="192.0.2.7") as ctx:
            records.read(ctx, "Patient", pid)
    with kura.unit_of_work(subject(nurse), "TREAT", origin="VIEWER@192.0.2.8") as ctx:
        ctx.record(LedgerTag.ImagingStudyRead, target=Target(kind="ImagingStudy", id="1.2.392.1", patient_id=mrn))
    return nurse


# -- access ---------------------------------------------------------------------------------
def _pages(kura):
    pid = _patient(kura)
    seq = entries(kura, LedgerTag.RecordsRecordCreated)[0].seq
    return pid, ["/audit", "/audit/integrity", "/audit/alerts", "/audit/alerts?view=signed", "/audit/patients",
                 f"/audit/patients?q={MRN}", f"/audit/entries/{seq}", "/audit/export.csv", "/audit/export.pdf",
                 f"/audit?patient={MRN}", f"/audit/patients/{pid}", f"/audit/patients/{pid}/report.pdf"]


def test_r25_audit_pages_anonymous_go_to_login(server):
    _, pages = _pages(server.kura)
    with browser(server) as c:
        for path in pages:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


@pytest.mark.parametrize("role", ["admin", "physician", "operations"])
def test_r15_r25_every_audit_page_and_export_is_refused_to_other_roles(server, clock, role):
    _, pages = _pages(server.kura)
    with page_as(server, clock, role) as c:
        for path in pages:
            assert c.get(path).status_code == 403, (role, path)
    assert not entries(server.kura, LedgerTag.AuditLedgerExported)
    assert not entries(server.kura, LedgerTag.AuditPatientIdentified)


def test_r25_every_audit_page_opens_for_the_audit_manager(server, clock):
    _, pages = _pages(server.kura)
    with page_as(server, clock, "auditor") as c:
        for path in pages:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:500])


# -- the ledger page ------------------------------------------------------------------------
def test_r23_r25_ledger_rows_in_words_no_raw_codes(server, clock):
    pid = _patient(server.kura)
    _reads(server.kura, pid)
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get("/audit", params={"user": "yoshida"})
    body = text_of(r.text)
    assert "記録の閲覧" in body and "画像の閲覧" in body and "吉田 看護師 (yoshida)" in body
    assert f"{MRN} 山田 花子" in body and pid not in body  # the patient by number and name, no UUID
    assert "診療" in body and "成功" in body and "DICOM 装置" in body and "画面" in body
    table = r.text[r.text.index('<table class="list ledger">'):]
    assert "records:record:read" not in text_of(table)  # the tag only as a tooltip
    assert 'title="records:record:read · DICOM 110110"' in table
    assert entries(server.kura, LedgerTag.AuditPatientIdentified, actor="auditor-ui", patient_id=pid)


def test_r25_patient_filter_by_number_and_by_name_finds_records_and_images(server, clock):
    pid = _patient(server.kura)
    other = _patient(server.kura, mrn="10000026", family="佐藤", given="一郎", kana=("サトウ", "イチロウ"))
    _reads(server.kura, pid)
    _reads(server.kura, other, name="suzuki", display="鈴木", mrn="10000026")
    with page_as(server, clock, "auditor") as auditor:
        for q in (MRN, "山田", "やまだ"):
            r = auditor.get("/audit", params={"patient": q, "kind": "read"})
            body = text_of(r.text)
            assert r.status_code == 200 and "山田 花子" in body, q
            assert "記録の閲覧" in body and "画像の閲覧" in body and "佐藤" not in body and "鈴木" not in body, q
        r = auditor.get("/audit", params={"patient": "99999999"})
        assert "該当する患者はいません" in r.text and "該当する記録はありません" in r.text
    flt = [json.loads(e.detail) for e in entries(server.kura, LedgerTag.AuditLedgerRead, actor="auditor-ui")]
    assert any(MRN in d.get("patients", "") and pid in d.get("patients", "") for d in flt)


def test_r25_each_filter(server, clock):
    pid = _patient(server.kura)
    _reads(server.kura, pid)
    with server.kura.unit_of_work(None, "", origin="192.0.2.9") as ctx:
        ctx.record(LedgerTag.AuthLoginFailed, target=Target(kind="User", id="yoshida"), outcome=4, reason="bad password")
    fhir_user = make_user(server.kura, "fhirclient", ("physician",))
    with server.kura.unit_of_work(subject(fhir_user), "TREAT", origin="192.0.2.20", channel="fhir") as ctx:
        records.read(ctx, "Patient", pid)

    def seqs(c, **params) -> set[str]:
        r = c.get("/audit", params=params)
        assert r.status_code == 200, (params, r.text[:300])
        return set(re.findall(r'data-seq="(\d+)"', r.text))

    with page_as(server, clock, "auditor") as c:
        everything = seqs(c)
        by_name = seqs(c, user="吉田")  # part of the display name
        assert by_name and by_name == seqs(c, user="yoshida") and by_name < everything
        failed = seqs(c, outcome="failed")
        assert failed and not failed & seqs(c, outcome="ok")
        assert seqs(c, kind="login") >= failed
        etreat = seqs(c, purpose="HPAYMT")
        assert etreat and not etreat & by_name
        dicom, fhir, ui, cli = (seqs(c, source=s) for s in ("dicom", "fhir", "ui", "cli"))
        assert len(dicom) == 1 and len(fhir) == 1 and ui and cli
        assert not (dicom & fhir) and not (fhir & ui) and not (ui & cli) and not (dicom & ui)
        fhir_page = c.get("/audit", params={"source": "fhir"}).text
        assert "fhirclient" in text_of(fhir_page) and "FHIR" in text_of(fhir_page)
        today = clock.now().astimezone(JST).date().isoformat()
        assert seqs(c, since=today, until=today) and not seqs(c, until="2000-01-01")
        assert c.get("/audit", params={"since": "not-a-date"}).status_code == 400
        assert c.get("/audit", params={"source": "nowhere"}).status_code == 400
        # the filter lives in the URL: the export links carry it
        r = c.get("/audit", params={"user": "yoshida", "kind": "read"})
        assert "/audit/export.csv?user=yoshida&amp;kind=read" in r.text


def test_r25_keyset_paging_walks_every_entry_once_without_offset(server, clock):
    for i in range(130):
        with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
            ctx.record(LedgerTag.AuthLoginSucceeded, target=Target(kind="User", id=f"u{i}"))
    statements: list[tuple[str, tuple]] = []
    listener = lambda conn, cursor, sql, params, *a: statements.append((sql, tuple(params or ())))  # noqa: E731
    event.listen(server.kura.engine, "before_cursor_execute", listener)
    try:
        with page_as(server, clock, "auditor") as c:
            url, seen, pages = "/audit?kind=login", [], 0
            while url:
                r = c.get(url)
                got = [int(s) for s in re.findall(r'data-seq="(\d+)"', r.text)]
                assert got == sorted(got, reverse=True) and len(got) <= 50
                seen += got
                pages += 1
                m = re.search(r'href="([^"]+)" rel="next"', r.text)
                url = m[1].replace("&amp;", "&") if m else None
            assert len(seen) == len(set(seen)) >= 130 and pages >= 3
            last = r.text
            newer = re.search(r'href="([^"]+)" rel="prev"', last)[1].replace("&amp;", "&")
            back = [int(s) for s in re.findall(r'data-seq="(\d+)"', c.get(newer).text)]
            assert len(back) == 50 and min(back) > max(got)
    finally:
        event.remove(server.kura.engine, "before_cursor_execute", listener)
    # SQLite writes "LIMIT ? OFFSET ?" with an offset of 0; no page ever skips rows by OFFSET.
    ledger_selects = [(s, p) for s, p in statements if "FROM ledger_entry" in s and s.lstrip().startswith("SELECT")]
    assert ledger_selects and all(p[-1] == 0 for s, p in ledger_selects if re.search(r"\bOFFSET\b", s))


def test_r25_entry_details_page(server, clock):
    seq = break_glass(server.kura)
    with page_as(server, clock, "auditor") as c:
        r = c.get(f"/audit/entries/{seq}")
        body = text_of(r.text)
        assert "緊急アクセス開始" in body and "110113" in body and "110127" in body
        row = entries(server.kura, LedgerTag.AccessBreakGlassStarted)[0]
        assert row.leaf_hash in r.text and row.chain_hash in r.text and row.request_id in r.text
        assert "心停止のため緊急で既往歴を確認" in body and "clearance" not in body
        assert c.get("/audit/entries/99999999").status_code == 404
    assert any(json.loads(e.detail).get("seq") == seq for e in entries(server.kura, LedgerTag.AuditLedgerRead))


# -- exports ---------------------------------------------------------------------------------
def test_r25_csv_export_of_the_filtered_view_is_ledgered(server, clock):
    pid = _patient(server.kura)
    _reads(server.kura, pid)
    with page_as(server, clock, "auditor") as c:
        r = c.get("/audit/export.csv", params={"patient": MRN, "kind": "read"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["番号", "日時 (JST)", "操作", "DICOM EventID", "DICOM EventTypeCode", "kura タグ"]
    body = rows[1:]
    assert len(body) == 3 and {b[2] for b in body} == {"記録の閲覧", "画像の閲覧"}
    assert all(b[8] == f"{MRN} 山田 花子" for b in body)
    assert {b[3] for b in body} == {"110110", "110103"} and all(b[6] == "吉田 看護師 (yoshida)" for b in body)
    exported = entries(server.kura, LedgerTag.AuditLedgerExported, actor="auditor-ui")
    assert len(exported) == 1 and exported[0].digest == hashlib.sha256(r.content).hexdigest()
    d = json.loads(exported[0].detail)
    assert d["format"] == "csv" and d["entries"] == 3 and "kind" not in d and pid in d["patients"]


def test_r25_pdf_export_is_ledgered(server, clock):
    pid = _patient(server.kura)
    _reads(server.kura, pid)
    with page_as(server, clock, "auditor") as c:
        r = c.get("/audit/export.pdf", params={"user": "yoshida"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
    exported = entries(server.kura, LedgerTag.AuditLedgerExported, actor="auditor-ui")
    assert exported[0].digest == hashlib.sha256(r.content).hexdigest()
    assert json.loads(exported[0].detail)["format"] == "pdf"


# -- access history --------------------------------------------------------------------------
def test_r23_patient_access_history_screen_and_report(server, clock):
    pid = _patient(server.kura)
    _reads(server.kura, pid)
    other = _patient(server.kura, mrn="10000026", family="佐藤", given="一郎", kana=("サトウ", "イチロウ"))
    _reads(server.kura, other, name="suzuki", display="鈴木", mrn="10000026")
    with page_as(server, clock, "auditor") as c:
        found = c.get("/audit/patients", params={"q": MRN})
        assert f'href="/audit/patients/{pid}"' in found.text and "山田 花子" in text_of(found.text)
        r = c.get(f"/audit/patients/{pid}")
        body = text_of(r.text)
        assert "吉田 看護師 (yoshida)" in body and "記録の閲覧" in body and "画像の閲覧" in body
        assert "看護師" in body and "診療" in body and "鈴木" not in body
        pdf = c.get(f"/audit/patients/{pid}/report.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert c.get("/audit/patients/no-such-patient").status_code == 404
    seen = entries(server.kura, LedgerTag.AuditLedgerRead, actor="auditor-ui", patient_id=pid)
    assert any(json.loads(e.detail).get("access_history") == pid for e in seen)
    exported = entries(server.kura, LedgerTag.AuditLedgerExported, actor="auditor-ui", patient_id=pid)
    assert exported and exported[0].digest == hashlib.sha256(pdf.content).hexdigest()


# -- integrity -------------------------------------------------------------------------------
def test_r24_verify_and_checkpoint_on_demand_in_japanese(server, clock):
    with page_as(server, clock, "auditor") as auditor:
        assert "まだ検証されていません" in auditor.get("/audit/integrity").text
        r = auditor.post("/audit/verify")
        assert r.status_code == 303 and r.headers["location"] == "/audit/integrity"
        page = auditor.get("/audit/integrity")
        assert "ledger intact" not in page.text and "監査ログは改ざんされていません" in page.text
        assert auditor.post("/audit/checkpoint").status_code == 303
        page = auditor.get("/audit/integrity")
        assert 'class="latest"' in page.text
    assert entries(server.kura, LedgerTag.AuditLedgerVerified, actor="auditor-ui")[0].outcome == 0
    assert entries(server.kura, LedgerTag.AuditCheckpointCreated, actor="auditor-ui")


# -- alerts ----------------------------------------------------------------------------------
def _break_glass_with_reads(kura, pid: str, reads: int = 5) -> int:
    """A physician is denied a V-labelled patient, breaks the glass with a reason, and reads
    the patient's record `reads` times under it."""
    doctor = make_user(kura, "kobayashi", ("physician",))
    from kura.errors import Denied
    try:
        with kura.unit_of_work(subject(doctor, "N"), None) as ctx:
            records.read(ctx, "Patient", pid)
    except Denied:
        pass
    for i in range(reads):
        with kura.unit_of_work(subject(doctor, "N"), None, break_glass_reason="心停止で搬送" if i == 0 else None) as ctx:
            records.read(ctx, "Patient", pid)
    return entries(kura, LedgerTag.AccessBreakGlassStarted, actor="kobayashi")[0].seq


def test_r18_one_break_glass_is_one_alert_with_its_reads_signed_off_once(server, clock):
    pid = _patient(server.kura, label="V")
    seq = _break_glass_with_reads(server.kura, pid)
    denied = entries(server.kura, LedgerTag.AccessRequestDenied, actor="kobayashi")
    assert denied and all(e.alert for e in denied)
    with page_as(server, clock, "auditor") as auditor:
        page = auditor.get("/audit/alerts")
        assert page.text.count('class="card alert-card"') == 1 and f'id="alert-{seq}"' in page.text
        body = text_of(page.text)
        assert "緊急アクセス開始" in body and "心停止で搬送" in body and f"{MRN} 山田 花子" in body
        assert "この緊急アクセスでのアクセス: 5 件" in body and "clearance" not in body
        members = re.findall(r'name="members" value="(\d+)"', page.text)
        assert int(members[0]) == seq and len(members) == 1 + len(denied)
        r = auditor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "救急外来の記録と照合済み",
                                                               "members": members})
        assert r.status_code == 303
        assert 'class="card alert-card"' not in auditor.get("/audit/alerts").text
        signed = auditor.get("/audit/alerts?view=signed")
        assert f'id="alert-{seq}"' in signed.text and "救急外来の記録と照合済み" in signed.text
        again = auditor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "x", "members": members})
        assert again.status_code == 400
        assert auditor.post("/audit/alerts/999999/sign-off", data={"note": "x"}).status_code == 404
    with server.kura.sessions() as s:
        assert sorted(s.scalars(select(AlertSignoff.seq))) == sorted(int(m) for m in members)
    done = entries(server.kura, LedgerTag.AuditAlertSignedOff, actor="auditor-ui")
    assert len(done) == 1 and done[0].target_id == str(seq) and done[0].patient_id == pid
    assert sorted(json.loads(done[0].detail)["alerts"]) == sorted(int(m) for m in members)


def test_r27_repeated_alerts_of_one_user_on_one_day_are_one_group(server, clock):
    for _ in range(4):
        with server.kura.unit_of_work(ADMIN, "HOPERAT", origin="EVIL@192.0.2.66") as ctx:
            ctx.record(LedgerTag.DicomAssociationRejected, target=Target(kind="Peer", id="EVIL"), outcome=4,
                       reason="unknown calling AE title EVIL", alert=True)
    seq = break_glass(server.kura)
    with page_as(server, clock, "auditor") as auditor:
        page = auditor.get("/audit/alerts")
        assert page.text.count('class="card alert-card"') == 2
        assert "4 件のアラート" in text_of(page.text) and "DICOM 接続の拒否" in text_of(page.text)
        empty = auditor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "  "})
        assert empty.status_code == 400 and "所見を記入してください" in empty.text


def test_audit_forms_refuse_other_roles(server, clock):
    seq = break_glass(server.kura)
    with page_as(server, clock, "physician") as doctor:
        assert doctor.post(f"/audit/alerts/{seq}/sign-off", data={"note": "mine"}).status_code == 403
        assert doctor.post("/audit/verify").status_code == 403
    assert not entries(server.kura, LedgerTag.AuditAlertSignedOff)


def test_r17_identifying_a_patient_needs_its_own_right(kura):
    from kura.access.roles import ROLE_GRANTS, Role
    holders = [r for r, grants in ROLE_GRANTS.items() if Action.AuditPatientIdentify in grants]
    assert holders == [Role.auditor]


def test_login_filter_from_an_earlier_version_still_works(server, clock):
    user = make_user(server.kura, "fujita", ("clerk",))
    with browser(server) as c:
        form_login(server, clock, user, c)
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get("/audit", params={"user": "fujita", "tag": "auth:login"})
    assert "ログイン" in text_of(r.text) and len(re.findall(r'data-seq="(\d+)"', r.text)) == 1


def test_alert_reasons_in_japanese():
    from kura.i18n import gettext_for
    from kura.web.ui.words import audit_reason
    ja = gettext_for("ja")
    assert audit_reason("clearance N < label V; break-glass by kobayashi: 心停止", ja) == (
        "機密区分 V (利用者の権限 N を超える): kobayashi が緊急アクセス。理由: 心停止")
    assert audit_reason("5 failed logins within 15 minutes", ja) == "15 分以内に 5 回ログインに失敗"
    assert "役割では「記録の閲覧」は許可されていません" in audit_reason(
        "no role of tanaka grants records:record:read on Patient", ja)
    assert audit_reason("calling AE title not registered", ja) == "登録されていない AE タイトルからの接続"
    assert "上書きしません" in audit_reason(
        "different bytes under a SOP Instance UID of a confirmed study (never overwritten)", ja)
    assert audit_reason("wrong password", gettext_for("en"), "en") == "wrong password"
