"""The audit review report (R27): findings with thresholds from the settings, the audit
manager's sign-off, the signed PDF, the schedule — and who may do none of it."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Conflict, Denied, Invalid, SamePerson
from kura.identity import service as identity
from kura.ledger.models import LedgerEntry
from kura.ledger.signing import DocumentSignature, verify_document
from kura.ledger.tags import LedgerTag
from kura.preservation.schedule import Jobs, Scheduler
from kura.reviews import reports
from kura.reviews.findings import surname_candidates
from tests.factories import ADMIN, make_user, subject
from tests.unit.reviews.helpers import DAY, at, busy_day, day_bounds
from tests.web.breakglass import break_glass

CONSOLE = Subject(id=None, name="console:root", roles=frozenset({Role.admin, Role.operations, Role.auditor}))


@pytest.fixture
def tight(kura):
    kura.settings = dataclasses.replace(kura.settings, review_many_patients=5, review_many_patients_minutes=10,
                                        review_failed_logins=3, review_failed_logins_minutes=5)
    return kura


def _generate(kura, who):
    start, end = day_bounds()
    with kura.unit_of_work(who, "HSYSADMIN") as ctx:
        row = reports.generate(ctx, start=start, end=end)
        return row.id, reports.findings_of(row)


def test_r27_review_report_finds_each_kind_by_the_configured_thresholds(tight, clock):
    kura = tight
    day = busy_day(kura, clock)
    clock._now = at(16)
    tanaka = make_user(kura, "tanaka", ("nurse",))
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        identity.disable(ctx, username="tanaka")
    with kura.unit_of_work(None, "") as ctx:
        identity.authenticate(ctx, username="tanaka", password=tanaka.password, otp=tanaka.code(clock))
    break_glass(kura, name="kobayashi", patient=day.yamada_id)
    auditor = make_user(kura, "kansa", ("auditor",))
    clock._now = at(12, day=DAY.replace(day=25))
    report_id, found = _generate(kura, subject(auditor))
    by = {(f["kind"], f["subject"]) for f in found}
    assert ("off_hours", "yamada") in by  # 22:30 JST
    assert ("same_surname", "yamada") in by  # 山田 reads a 山田 (blind index, nothing opened)
    assert ("staff_patient", "yamada") in by
    assert ("exports", "yamada") in by
    assert ("many_patients", "suzuki") in by  # six patients in ten minutes, threshold 5
    assert ("failed_logins", "suzuki") in by  # three failures in two minutes
    assert ("disabled_account", "tanaka") in by
    assert ("break_glass", "kobayashi") in by
    assert ("off_hours", "suzuki") not in by and ("same_surname", "suzuki") not in by
    burst = next(f for f in found if f["kind"] == "many_patients" and f["subject"] == "suzuki")
    assert burst["patient_count"] == 6 and burst["detail"]["minutes"] == 10
    same = next(f for f in found if f["kind"] == "same_surname")
    assert same["patients"] == [day.yamada_id]
    with kura.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.AuditReportGenerated))).one()
        row = s.get(reports.ReviewReport, report_id)
        assert entry.digest == row.findings_sha256 and entry.actor_name == "kansa"
        assert '"many_patients":2' in entry.detail  # suzuki, and the clerk registering eight


def test_r27_thresholds_decide(kura, clock):
    busy_day(kura, clock)  # default thresholds: 30 patients in 60 minutes, 3 failures in 10 minutes
    auditor = make_user(kura, "kansa", ("auditor",))
    _, found = _generate(kura, subject(auditor))
    kinds = {f["kind"] for f in found}
    assert "many_patients" not in kinds and "failed_logins" in kinds
    kura.settings = dataclasses.replace(kura.settings, review_working_hours="00:00-24:00", review_failed_logins=4)
    _, found = _generate(kura, subject(auditor))
    kinds = {f["kind"] for f in found}
    assert "off_hours" not in kinds and "failed_logins" not in kinds


def test_r27_only_the_audit_manager_generates_reads_and_signs(tight, clock):
    kura = tight
    busy_day(kura, clock)
    for roles in (("admin",), ("clerk",), ("operations",), ("physician",)):
        other = make_user(kura, "x-" + roles[0], roles)
        with pytest.raises(Denied):
            _generate(kura, subject(other))
    auditor = make_user(kura, "kansa", ("auditor",))
    report_id, _ = _generate(kura, subject(auditor))
    admin = make_user(kura, "kanri", ("admin",))
    with pytest.raises(Denied), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        reports.get(ctx, report_id)
    with pytest.raises(Denied), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="ok")
    # the console holds the auditor's role but is no named person
    with pytest.raises(Denied), kura.unit_of_work(CONSOLE, "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="ok")
    denied = [e for e in _entries(kura, LedgerTag.AccessRequestDenied) if "audit:report" in e.detail]
    assert len(denied) >= 6


def test_r27_sign_off_once_with_a_comment_never_ones_own(tight, clock):
    kura = tight
    busy_day(kura, clock)
    # an audit manager who is a subject of a finding (someone tried their password)
    kondo = make_user(kura, "kondo", ("auditor",))
    for _ in range(3):
        clock.advance(seconds=10)
        with kura.unit_of_work(None, "") as ctx:
            identity.authenticate(ctx, username="kondo", password="nope-nope", otp="000000")
    clock._now = at(12, day=DAY.replace(day=25))
    report_id, found = _generate(kura, subject(kondo))
    assert ("failed_logins", "kondo") in {(f["kind"], f["subject"]) for f in found}
    with pytest.raises(SamePerson), kura.unit_of_work(subject(kondo), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="確認しました")
    other = make_user(kura, "kansa", ("auditor",))
    with pytest.raises(Invalid), kura.unit_of_work(subject(other), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="  ")
    with kura.unit_of_work(subject(other), "HSYSADMIN") as ctx:
        row = reports.sign_off(ctx, report_id, comment="時間外アクセスは当直業務と確認。")
        assert row.signed_by_name == "kansa" and row.pdf.startswith(b"%PDF")
    with pytest.raises(Conflict), kura.unit_of_work(subject(other), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="二度目")
    signed = _entries(kura, LedgerTag.AuditReportSignedOff)
    assert len(signed) == 1 and signed[0].actor_name == "kansa"


def test_r27_signed_report_pdf_verifies_with_the_home_key(tight, clock):
    kura = tight
    busy_day(kura, clock)
    auditor = make_user(kura, "kansa", ("auditor",))
    report_id, _ = _generate(kura, subject(auditor))
    with kura.unit_of_work(subject(auditor), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="確認済み")
    with kura.unit_of_work(subject(auditor), "HSYSADMIN") as ctx:
        pdf, sig = reports.document(ctx, report_id)
    parsed = DocumentSignature.parse(sig.line(), (reports.KIND,))
    assert verify_document(kura.signer.public_key, kura.signer.key_id, pdf, parsed) == []
    assert verify_document(kura.signer.public_key, kura.signer.key_id, pdf + b"\n", parsed) != []
    viewed = _entries(kura, LedgerTag.AuditReportViewed)
    assert viewed and viewed[0].digest == sig.sha256


def test_r27_the_server_makes_the_daily_report_once(kura, clock):
    clock._now = at(3, day=DAY)
    kura.settings = dataclasses.replace(kura.settings, selfcheck_interval_hours=0, scrub_interval_hours=0)
    sched, jobs = Scheduler(kura, Jobs()), Jobs()
    assert sched.due() == ("review", "")
    job = jobs.start(kura, None, "review", "", wait=True)
    assert job.ok, job.message
    assert sched.due() is None
    with kura.sessions() as s:
        row = s.scalars(select(reports.ReviewReport)).one()
    assert (row.kind, row.period_start, row.generated_by_name) == ("daily", day_bounds(DAY.replace(day=23))[0],
                                                                    "system:review")
    clock.advance(days=1)
    assert sched.due() == ("review", "")
    kura.settings = dataclasses.replace(kura.settings, review_schedule="weekly")
    start, end = reports.due_period(kura.settings, clock.now())
    assert (end - start).days == 7 and start.astimezone(reports.JST).weekday() == 0
    kura.settings = dataclasses.replace(kura.settings, review_schedule="")
    assert sched.due() is None


def test_r27_surname_of_a_display_name():
    assert surname_candidates("山田 花子") == ["山田"]
    assert surname_candidates("山田\u3000花子") == ["山田"]
    assert surname_candidates("山田花子") == ["山", "山田", "山田花"]
    assert surname_candidates("") == []


def _entries(kura, tag):
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag)).order_by(LedgerEntry.seq)))
