"""What the audit review report (R27) finds in one period of the ledger.

Each finding names a subject (a user, or an account name for login attempts), how often, when
first and last, the patients involved (their ids) and up to MAX_SEQS ledger entries to look
up. The thresholds come from the settings (`review_*`) and are stored with the report.

Names are sealed, so "a patient with the user's own surname" is found through the blind name
index (kura.records.patients.patient_ids_named): the user's family name — the first word of the
account's display name, or, when it has no space, each of its first one to four characters —
is blinded as an exact name part and compared with the patients' tokens. No record is opened
and no name is read, so the audit manager (who may not read records, R17) can run it; the
price is that a given name equal to the user's surname matches too, which the reviewer sees.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import zoneinfo
from typing import Any

from sqlalchemy import or_, select

from kura.identity.models import User
from kura.ledger.models import AlertSignoff, LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.patients import patient_ids_named, staff_patient_ids

__all__ = ["collect", "iso", "KINDS", "KIND_NAMES", "EXPORT_TAGS", "thresholds_of", "subjects_of", "surname_candidates"]

JST = zoneinfo.ZoneInfo("Asia/Tokyo")
MAX_SEQS = 20
MAX_PATIENTS = 50

KINDS = ("off_hours", "many_patients", "same_surname", "staff_patient", "failed_logins", "disabled_account",
         "break_glass", "exports")
KIND_NAMES = {
    "off_hours": ("時間外のアクセス", "Access outside working hours"),
    "many_patients": ("短時間に多数の患者", "Many patients in a short time"),
    "same_surname": ("同姓の患者へのアクセス", "Patients with the user's own surname"),
    "staff_patient": ("職員患者へのアクセス", "Access to staff-patients"),
    "failed_logins": ("ログイン失敗の集中", "Bursts of failed logins"),
    "disabled_account": ("無効・ロック中のアカウントへの試行", "Attempts on disabled or locked accounts"),
    "break_glass": ("緊急アクセス (break-glass)", "Break-glass"),
    "exports": ("書き出し・印刷", "Exports and printouts"),
}
# What carries patient data out of kura: exports, printouts, patient media, ledger exports.
EXPORT_TAGS = (LedgerTag.RecordsRecordExported, LedgerTag.RecordsRecordPrinted, LedgerTag.ImagingStudyPrinted,
               LedgerTag.RegisterMediaRecorded, LedgerTag.AuditLedgerExported)
_LOGIN_REFUSED = ("account disabled", "account locked")


def thresholds_of(settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in (
        "review_working_hours", "review_weekends_off", "review_many_patients", "review_many_patients_minutes",
        "review_failed_logins", "review_failed_logins_minutes", "review_exports_min")}


def iso(t: dt.datetime) -> str:
    t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _finding(kind: str, subject: str, rows: list, *, patients=(), **detail) -> dict[str, Any]:
    ats = [r.at for r in rows]
    pats = sorted({p for p in patients if p})
    return {"kind": kind, "subject": subject, "count": len(rows), "first": iso(min(ats)), "last": iso(max(ats)),
            "patients": pats[:MAX_PATIENTS], "patient_count": len(pats),
            "seqs": sorted(r.seq for r in rows)[:MAX_SEQS], "detail": detail}


def surname_candidates(display_name: str) -> list[str]:
    """The family name a display name may start with (Japanese order: family first)."""
    words = display_name.replace("\u3000", " ").split()
    if not words:
        return []
    if len(words) > 1:
        return [words[0]]
    name = words[0]
    return [name[:n] for n in range(1, min(4, len(name) - 1) + 1)]


def _off_hours(settings, at: dt.datetime) -> bool:
    local = (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(JST)
    if settings.review_weekends_off and local.weekday() >= 5:
        return True
    start, end = settings.working_hours()
    minute = local.hour * 60 + local.minute
    return not start <= minute < end


def _bursts(rows: list, key, *, window: dt.timedelta, threshold: int) -> list[list]:
    """Maximal runs of `rows` (sorted by time) in which some `window` holds `threshold` or more
    distinct keys: each run is returned once, with every row that took part."""
    out: list[list] = []
    win: collections.deque = collections.deque()
    counts: collections.Counter = collections.Counter()
    burst: list = []
    for r in rows:
        win.append(r)
        counts[key(r)] += 1
        while r.at - win[0].at > window:
            old = win.popleft()
            counts[key(old)] -= 1
            if not counts[key(old)]:
                del counts[key(old)]
        if len(counts) >= threshold:
            burst.extend(x for x in win if not burst or x.seq > burst[-1].seq)
        elif burst:
            out.append(burst)
            burst = []
    if burst:
        out.append(burst)
    return out


def collect(ctx: Context, start: dt.datetime, end: dt.datetime) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """The findings of [start, end), and the first and last ledger seq read. Reads the ledger
    and the search index only; the caller checks access and ledgers the report."""
    s, session = ctx.settings, ctx.session
    in_period = (LedgerEntry.at >= start, LedgerEntry.at < end)
    cols = (LedgerEntry.seq, LedgerEntry.at, LedgerEntry.tag, LedgerEntry.actor_id, LedgerEntry.actor_name,
            LedgerEntry.patient_id, LedgerEntry.target_id, LedgerEntry.origin, LedgerEntry.reason)
    access = list(session.execute(select(*cols).where(
        *in_period, LedgerEntry.patient_id.is_not(None), LedgerEntry.actor_id.is_not(None),
        or_(LedgerEntry.tag.startswith("records:"), LedgerEntry.tag.startswith("imaging:")))
        .order_by(LedgerEntry.seq)))
    by_actor: dict[str, list] = collections.defaultdict(list)
    for r in access:
        by_actor[r.actor_name].append(r)
    found: list[dict[str, Any]] = []

    for actor, rows in by_actor.items():
        off = [r for r in rows if _off_hours(s, r.at)]
        if off:
            found.append(_finding("off_hours", actor, off, patients=[r.patient_id for r in off]))
        for burst in _bursts(rows, lambda r: r.patient_id, window=dt.timedelta(minutes=s.review_many_patients_minutes),
                             threshold=s.review_many_patients):
            found.append(_finding("many_patients", actor, burst, patients=[r.patient_id for r in burst],
                                  minutes=s.review_many_patients_minutes))

    staff = staff_patient_ids(ctx) if access else set()
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.actor_id for r in access})))}
    for actor, rows in by_actor.items():
        touched = {r.patient_id for r in rows}
        user = users.get(rows[0].actor_id)
        names = surname_candidates(user.display_name) if user else []
        same = touched & patient_ids_named(ctx, names) if names else set()
        if same:
            hit = [r for r in rows if r.patient_id in same]
            found.append(_finding("same_surname", actor, hit, patients=same, surname=names[0] if len(names) == 1 else ""))
        staffed = touched & staff
        if staffed:
            hit = [r for r in rows if r.patient_id in staffed]
            found.append(_finding("staff_patient", actor, hit, patients=staffed))

    logins = list(session.execute(select(*cols).where(
        *in_period, LedgerEntry.tag.in_([str(LedgerTag.AuthLoginFailed), str(LedgerTag.AuthAccountLocked)]))
        .order_by(LedgerEntry.seq)))
    by_name: dict[str, list] = collections.defaultdict(list)
    for r in logins:
        by_name[r.target_id or "-"].append(r)
    for name, rows in sorted(by_name.items()):
        failed = [r for r in rows if r.tag == LedgerTag.AuthLoginFailed]
        for burst in _bursts(failed, lambda r: r.seq, window=dt.timedelta(minutes=s.review_failed_logins_minutes),
                             threshold=s.review_failed_logins):
            found.append(_finding("failed_logins", name, burst, origins=sorted({r.origin for r in burst if r.origin}),
                                  locked=any(r.tag == LedgerTag.AuthAccountLocked for r in rows),
                                  minutes=s.review_failed_logins_minutes))
        refused = [r for r in failed if r.reason in _LOGIN_REFUSED]
        if refused:
            found.append(_finding("disabled_account", name, refused, reasons=sorted({r.reason for r in refused}),
                                  origins=sorted({r.origin for r in refused if r.origin})))

    glass = list(session.execute(select(LedgerEntry, AlertSignoff.seq).outerjoin(
        AlertSignoff, AlertSignoff.seq == LedgerEntry.seq).where(
        *in_period, LedgerEntry.tag == str(LedgerTag.AccessBreakGlassStarted)).order_by(LedgerEntry.seq)))
    if glass:
        under: collections.Counter = collections.Counter()
        for (detail,) in session.execute(select(LedgerEntry.detail).where(
                LedgerEntry.seq > glass[0][0].seq, LedgerEntry.at < end + dt.timedelta(minutes=s.break_glass_minutes),
                LedgerEntry.detail.like('%"break_glass":%'))):
            seq = json.loads(detail).get("break_glass")
            if isinstance(seq, int):
                under[seq] += 1
        for e, signed in glass:
            stated = json.loads(e.detail or "{}").get("break_glass_reason") or e.reason
            found.append(_finding("break_glass", e.actor_name, [e], patients=[e.patient_id], reason=stated,
                                  accesses=under[e.seq], signed_off=signed is not None))

    exports = list(session.execute(select(*cols).where(*in_period, LedgerEntry.tag.in_([str(t) for t in EXPORT_TAGS]))
                                   .order_by(LedgerEntry.seq)))
    by_exporter: dict[str, list] = collections.defaultdict(list)
    for r in exports:
        by_exporter[r.actor_name].append(r)
    for actor, rows in by_exporter.items():
        if len(rows) >= s.review_exports_min:
            found.append(_finding("exports", actor, rows, patients=[r.patient_id for r in rows],
                                  tags=dict(collections.Counter(str(r.tag) for r in rows))))

    found.sort(key=lambda f: (KINDS.index(f["kind"]), f["subject"], f["first"]))
    seqs = session.execute(select(LedgerEntry.seq).where(*in_period).order_by(LedgerEntry.seq).limit(1)).scalar()
    last = session.execute(select(LedgerEntry.seq).where(*in_period).order_by(LedgerEntry.seq.desc()).limit(1)).scalar()
    return found, seqs, last


def subjects_of(findings: list[dict[str, Any]]) -> set[str]:
    """The user and account names the findings are about."""
    return {f["subject"] for f in findings}
