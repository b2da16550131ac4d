"""The audit review report (監査レビュー報告, R27; regulation §17①): the findings of a period
of the ledger, made on a schedule (`review_schedule`) or on demand, signed off by the audit
manager with a comment. The signed report is a PDF signed with the home's Ed25519 key
(kura.ledger.signing.DocumentSignature, kind KIND; `kura audit verify-report PDF SIG`).

Who: only the audit manager generates, reads and signs off (AuditReport*). A report is signed
off once, by a named account (not the console), and not by someone its findings are about:
nobody signs off their own after-hours access (errors.SamePerson).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo

from sqlalchemy import select, update
from sqlalchemy.orm import defer

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import Role
from kura.audit import events
from kura.errors import Conflict, Denied, Invalid, NotFound, SamePerson
from kura.ledger.signing import DocumentSignature
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.canonical import canonical
from kura.records.printout import Section, render_pdf
from kura.reviews import findings as F
from kura.reviews.models import ReviewReport

__all__ = ["generate", "generate_due", "due_period", "list_reports", "get", "sign_off", "document", "KIND",
           "REVIEWER", "KIND_JA"]

KIND = "kura-review-report v1"
JST = zoneinfo.ZoneInfo("Asia/Tokyo")
REPORTS = Target(kind="ReviewReport")
MAX_DAYS = 93  # an on-demand report covers at most a quarter
# The server's scheduled reports are made by this system principal, holding the auditor's role.
REVIEWER = Subject(id=None, name="system:review", roles=frozenset({Role.auditor}), clearance="N")
KIND_JA = {"daily": "日次", "weekly": "週次", "on-demand": "随時"}


def _target(report_id: str) -> Target:
    return Target(kind="ReviewReport", id=report_id)


def generate(ctx: Context, *, start: dt.datetime, end: dt.datetime, kind: str = "on-demand") -> ReviewReport:
    """A new report of [start, end). Raises Denied, Invalid. Ledger: AuditReportGenerated
    (digest: SHA-256 of the findings as stored)."""
    ctx.require(Action.AuditReportGenerate, REPORTS)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("the period needs times with a zone")
    if not start < end or end - start > dt.timedelta(days=MAX_DAYS):
        raise Invalid(f"the period must start before it ends and span at most {MAX_DAYS} days")
    found, first, last = F.collect(ctx, start, end)
    text = canonical(found).decode()
    digest = hashlib.sha256(text.encode()).hexdigest()
    actor = ctx.actor
    row = ReviewReport(kind=kind, period_start=start, period_end=end, first_seq=first, last_seq=last,
                       thresholds=json.dumps(F.thresholds_of(ctx.settings), ensure_ascii=False, sort_keys=True),
                       findings=text, findings_sha256=digest, generated_at=ctx.now(),
                       generated_by_id=actor.id if actor else None, generated_by_name=actor.name if actor else "system",
                       comment="")
    ctx.session.add(row)
    ctx.session.flush()
    counts = {k: sum(1 for f in found if f["kind"] == k) for k in F.KINDS}
    ctx.record(LedgerTag.AuditReportGenerated, target=_target(row.id), digest=digest,
               detail={"kind": kind, "from": F.iso(start), "to": F.iso(end),
                       "findings": {k: n for k, n in counts.items() if n}})
    return row


def due_period(settings, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The last finished period of `review_schedule` (the day before today, or last Monday to
    Sunday, in JST), or None when nothing is scheduled."""
    if settings.review_schedule not in ("daily", "weekly"):
        return None
    today = now.astimezone(JST).date()
    if settings.review_schedule == "daily":
        first, days = today - dt.timedelta(days=1), 1
    else:
        first, days = today - dt.timedelta(days=today.weekday() + 7), 7
    start = dt.datetime.combine(first, dt.time(), tzinfo=JST)
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=days)).astimezone(dt.timezone.utc)


def generate_due(ctx: Context) -> ReviewReport | None:
    """The scheduled report of the last finished period, unless it exists already."""
    period = due_period(ctx.settings, ctx.now())
    if period is None or is_done(ctx.session, ctx.settings.review_schedule, period[0]):
        return None
    return generate(ctx, start=period[0], end=period[1], kind=ctx.settings.review_schedule)


def is_done(session, kind: str, start: dt.datetime) -> bool:
    return session.scalar(select(ReviewReport.id).where(ReviewReport.kind == kind,
                                                        ReviewReport.period_start == start).limit(1)) is not None


def list_reports(ctx: Context, *, limit: int = 100) -> list[ReviewReport]:
    """Newest period first, without their PDFs."""
    ctx.require(Action.AuditReportRead, REPORTS)
    return list(ctx.session.scalars(select(ReviewReport).options(defer(ReviewReport.pdf))
                                    .order_by(ReviewReport.period_start.desc(), ReviewReport.generated_at.desc())
                                    .limit(limit)))


def _row(ctx: Context, report_id: str) -> ReviewReport:
    row = ctx.session.get(ReviewReport, report_id) if len(report_id or "") <= 36 else None
    if row is None:
        raise NotFound(f"no review report {report_id}")
    return row


def get(ctx: Context, report_id: str) -> ReviewReport:
    """One report with its findings. Ledger: AuditReportViewed."""
    ctx.require(Action.AuditReportRead, _target(report_id))
    row = _row(ctx, report_id)
    ctx.record(LedgerTag.AuditReportViewed, target=_target(row.id))
    return row


def findings_of(row: ReviewReport) -> list[dict]:
    return json.loads(row.findings or "[]")


def sign_off(ctx: Context, report_id: str, *, comment: str) -> ReviewReport:
    """The audit manager's sign-off: the report as a PDF, signed with the home's key.

    Raises Denied (not the auditor; the console, which is no named person), SamePerson (the
    signer is a subject of a finding), Conflict (signed off already), Invalid (no comment).
    Ledger: AuditReportSignedOff (digest: the PDF's SHA-256)."""
    ctx.require(Action.AuditReportSignoff, _target(report_id))
    actor = ctx.actor
    if actor is None or actor.id is None:
        raise Denied("a review report is signed off by a named audit manager's account")
    row = _row(ctx, report_id)
    if row.signed_at is not None:
        raise Conflict(f"review report {row.id} was signed off by {row.signed_by_name} already")
    comment = (comment or "").strip()
    if not comment:
        raise Invalid("a sign-off needs a comment")
    if actor.name in F.subjects_of(findings_of(row)):
        raise SamePerson("the report's findings are about you: another audit manager signs it off")
    now = ctx.now()
    pdf = render(row, signed_by=actor.name, signed_at=now, comment=comment[:4000])
    sig = DocumentSignature.of(ctx.signer, KIND, pdf)
    # Conditional, so that two sign-offs at once cannot both succeed.
    done = ctx.session.execute(update(ReviewReport).where(ReviewReport.id == row.id, ReviewReport.signed_at.is_(None))
                               .values(signed_at=now, signed_by_id=actor.id, signed_by_name=actor.name,
                                       comment=comment[:4000], pdf=pdf, pdf_sha256=sig.sha256,
                                       signature=sig.signature, key_id=sig.key_id)
                               .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"review report {row.id} was signed off already")
    ctx.session.refresh(row)
    ctx.record(LedgerTag.AuditReportSignedOff, target=_target(row.id), digest=sig.sha256, reason=comment[:2000])
    return row


def document(ctx: Context, report_id: str) -> tuple[bytes, DocumentSignature]:
    """The signed PDF and its signature. Raises NotFound before the sign-off.
    Ledger: AuditReportViewed (format pdf)."""
    ctx.require(Action.AuditReportRead, _target(report_id))
    row = _row(ctx, report_id)
    if row.pdf is None:
        raise NotFound(f"review report {row.id} is not signed off yet")
    ctx.record(LedgerTag.AuditReportViewed, target=_target(row.id), digest=row.pdf_sha256, detail={"format": "pdf"})
    return row.pdf, DocumentSignature(KIND, row.pdf_sha256 or "", row.key_id or "", row.signature or "")


# -- the PDF ---------------------------------------------------------------------------------
def local(t: dt.datetime | str | None) -> str:
    if not t:
        return ""
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(JST).strftime("%Y-%m-%d %H:%M")


THRESHOLDS_JA = {
    "review_working_hours": "勤務時間 (JST)", "review_weekends_off": "土日は時間外",
    "review_many_patients": "多数患者: 人数", "review_many_patients_minutes": "多数患者: 分",
    "review_failed_logins": "ログイン失敗: 回数", "review_failed_logins_minutes": "ログイン失敗: 分",
    "review_exports_min": "書き出し・印刷: 件数"}


def detail_text(f: dict) -> str:
    """One line of a finding's particulars, in Japanese."""
    d = f.get("detail") or {}
    parts = []
    if f["kind"] == "break_glass":
        parts.append(f"理由: {d.get('reason', '')}")
        parts.append(f"その下のアクセス {d.get('accesses', 0)} 件")
        parts.append("アラート確認済" if d.get("signed_off") else "アラート未確認")
    if d.get("minutes"):
        parts.append(f"{d['minutes']} 分以内")
    if d.get("surname"):
        parts.append(f"姓 {d['surname']}")
    if d.get("reasons"):
        parts.append("、".join({"account disabled": "無効のアカウント", "account locked": "ロック中"}.get(r, r)
                              for r in d["reasons"]))
    if d.get("locked"):
        parts.append("ロックに至った")
    if d.get("origins"):
        parts.append("端末 " + ", ".join(d["origins"][:5]))
    if d.get("tags"):
        parts.append("、".join(f"{events.name_of(t)} ×{n}" for t, n in sorted(d["tags"].items())))
    return " / ".join(parts)


def _value(v) -> str:
    return ("はい" if v else "いいえ") if isinstance(v, bool) else str(v)


def render(row: ReviewReport, *, signed_by: str, signed_at: dt.datetime, comment: str) -> bytes:
    found = findings_of(row)
    thresholds = json.loads(row.thresholds or "{}")
    head = Section("概要 (Summary)", [
        ("報告番号 (Report)", row.id),
        ("種類 (Kind)", KIND_JA.get(row.kind, row.kind)),
        ("対象期間 (Period, JST)", f"{local(row.period_start)} 〜 {local(row.period_end)}"),
        ("作成 (Generated)", f"{row.generated_by_name}  {local(row.generated_at)}"),
        ("監査ログの範囲 (Ledger entries)", f"#{row.first_seq} 〜 #{row.last_seq}" if row.first_seq else "（なし）"),
        ("所見の SHA-256 (Findings)", row.findings_sha256),
        ("判定基準 (Thresholds)", "、".join(f"{THRESHOLDS_JA.get(k, k)} {_value(v)}" for k, v in sorted(thresholds.items()))),
        ("所見の件数 (Findings)", "、".join(f"{F.KIND_NAMES[k][0]} {n}" for k in F.KINDS
                                          if (n := sum(1 for f in found if f["kind"] == k))) or "なし"),
    ])
    sections = [head]
    for kind in F.KINDS:
        rows = [(f["subject"], str(f["count"]), str(f["patient_count"]), local(f["first"]), local(f["last"]),
                 detail_text(f)) for f in found if f["kind"] == kind]
        sections.append(Section(f"{F.KIND_NAMES[kind][0]} ({F.KIND_NAMES[kind][1]})", rows,
                                columns=("対象", "件数", "患者数", "最初", "最後", "詳細"),
                                widths=(1.6, 0.6, 0.7, 1.4, 1.4, 3)))
    sections.append(Section("確認 (Sign-off)", [("確認者 (Signed off by)", signed_by),
                                                ("日時 (At)", local(signed_at)), ("コメント (Comment)", comment)]))
    pdf, _ = render_pdf(title="監査レビュー報告書 (Audit review report)",
                        subtitle=f"kura  報告番号 {row.id}  {KIND_JA.get(row.kind, row.kind)}",
                        sections=sections, mark=f"監査レビュー報告 {row.id}")
    return pdf
