"""The incident register (regulation §12; R74–R76): theft, loss, leak, intrusion, malware.

What happened and when, who reported it, the timeline; the affected patients computed from
the ledger (which patients the account, peer or terminal concerned touched in the window);
and the deadlines of the report to the 個人情報保護委員会 (個人情報保護法 §26, 施行規則 §8):
速報 promptly — within 3–5 days of discovery — and 確報 within 30 days, 60 when the leak
was caused by a malicious act. The screens remind until each report is filed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import ColumnElement, func, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid, NotFound
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.registers.models import Incident

__all__ = ["KINDS", "SUBJECTS", "record", "note", "file_report", "close", "list_incidents", "get",
           "affected_patients", "deadlines", "Deadline", "reminders"]

KINDS = {"theft": "盗難", "loss": "紛失", "leak": "漏えい", "intrusion": "不正アクセス", "malware": "マルウェア感染"}
SUBJECTS = {"account": "利用者アカウント", "peer": "DICOM 接続先", "terminal": "端末 (IP アドレス)"}
PRELIMINARY_DAYS = 5  # 速報: 「速やかに」, in practice 3–5 days of discovery (PPC guidance): the later bound
FINAL_DAYS, FINAL_MALICIOUS_DAYS = 30, 60  # 確報


def _target(i: Incident | str) -> Target:
    return Target(kind="Incident", id=i if isinstance(i, str) else i.id)


def _when(value, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise Invalid(f"{name} needs a time zone")
        return value
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"{name} is not a date and time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone(dt.timedelta(hours=9)))  # hospital time (JST)


def record(ctx: Context, *, kind: str, title: str, discovered_at, reported_by: str, description: str = "",
           occurred_at=None, malicious: bool = False, subject_kind: str = "", subject_id: str = "",
           window_start=None, window_end=None) -> Incident:
    """Open an incident. Raises Denied, Invalid. Ledger: RegisterIncidentRecorded."""
    ctx.require(Action.RegisterIncidentManage, Target(kind="Incident"))
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if not (title or "").strip() or not (reported_by or "").strip():
        raise Invalid("an incident needs a title and who reported it")
    if subject_kind and subject_kind not in SUBJECTS:
        raise Invalid(f"subject must be one of {', '.join(SUBJECTS)}")
    found = _when(discovered_at, "discovered_at")
    if found is None:
        raise Invalid("an incident needs the time it was discovered")
    start, end = _when(window_start, "window_start"), _when(window_end, "window_end")
    if start and end and end < start:
        raise Invalid("the window ends before it starts")
    who = ctx.actor.name if ctx.actor else "system"
    i = Incident(kind=kind, title=title.strip()[:400], description=(description or "").strip(), malicious=bool(malicious),
                 occurred_at=_when(occurred_at, "occurred_at"), discovered_at=found,
                 reported_by=reported_by.strip()[:200], subject_kind=subject_kind or "",
                 subject_id=(subject_id or "").strip()[:200], window_start=start, window_end=end,
                 recorded_by_name=who, recorded_at=ctx.now(),
                 timeline=json.dumps([{"at": ctx.now().isoformat(), "by": who, "text": "登録 (recorded)"}],
                                     ensure_ascii=False))
    ctx.session.add(i)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterIncidentRecorded, target=_target(i), reason=i.title,
               detail={"kind": kind, "malicious": i.malicious, "subject": f"{subject_kind}:{i.subject_id}"},
               alert=True)
    return i


def get(ctx: Context, incident_id: str) -> Incident:
    ctx.require(Action.RegisterEntryRead, _target(incident_id))
    i = ctx.session.get(Incident, incident_id)
    if i is None:
        raise NotFound(f"no incident {incident_id}")
    return i


def _change(ctx: Context, incident_id: str, text: str, **detail) -> Incident:
    ctx.require(Action.RegisterIncidentManage, _target(incident_id))
    i = ctx.session.get(Incident, incident_id)
    if i is None:
        raise NotFound(f"no incident {incident_id}")
    if i.closed_at is not None:
        raise Conflict(f"incident {incident_id} is closed")
    who = ctx.actor.name if ctx.actor else "system"
    i.timeline = json.dumps([*json.loads(i.timeline or "[]"), {"at": ctx.now().isoformat(), "by": who, "text": text}],
                            ensure_ascii=False)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterIncidentUpdated, target=_target(i), reason=text[:2000], detail=detail)
    return i


def note(ctx: Context, incident_id: str, text: str) -> Incident:
    """Add a line to the timeline. Raises Denied, NotFound, Invalid, Conflict (closed)."""
    if not (text or "").strip():
        raise Invalid("a timeline entry needs text")
    return _change(ctx, incident_id, text.strip(), step="note")


def file_report(ctx: Context, incident_id: str, which: str) -> Incident:
    """Record that the 速報 ("preliminary") or 確報 ("final") was filed with the 個人情報保護委員会."""
    if which not in ("preliminary", "final"):
        raise Invalid("which report: preliminary (速報) or final (確報)")
    i = _change(ctx, incident_id, "速報を提出 (preliminary report filed)" if which == "preliminary"
                else "確報を提出 (final report filed)", step=f"{which}-report")
    setattr(i, f"{which}_filed_at", ctx.now())
    ctx.session.flush()
    return i


def close(ctx: Context, incident_id: str, summary: str) -> Incident:
    if not (summary or "").strip():
        raise Invalid("closing an incident needs a summary")
    i = _change(ctx, incident_id, f"終結 (closed): {summary.strip()}", step="closed")
    i.closed_at = ctx.now()
    ctx.session.flush()
    return i


def list_incidents(ctx: Context) -> list[Incident]:
    ctx.require(Action.RegisterEntryRead, Target(kind="Incident"))
    return list(ctx.session.scalars(select(Incident).order_by(Incident.discovered_at.desc())))


def affected_patients(ctx: Context, i: Incident) -> list[tuple[str, int]]:
    """(patient id, entries) the account, peer or terminal concerned touched in the window,
    from the ledger. Empty when the incident names no subject."""
    if not i.subject_kind or not i.subject_id:
        return []
    where: list[ColumnElement[bool]] = [LedgerEntry.patient_id.is_not(None)]
    if i.subject_kind == "account":
        where.append(LedgerEntry.actor_name == i.subject_id.lower())
    elif i.subject_kind == "peer":
        where.append(LedgerEntry.actor_name == f"dicom:{i.subject_id}")
    else:
        where.append(LedgerEntry.origin.startswith(i.subject_id))
    if i.window_start:
        where.append(LedgerEntry.at >= i.window_start)
    if i.window_end:
        where.append(LedgerEntry.at <= i.window_end)
    return [(pid, n) for pid, n in ctx.session.execute(
        select(LedgerEntry.patient_id, func.count()).where(*where).group_by(LedgerEntry.patient_id)
        .order_by(LedgerEntry.patient_id))]


@dataclasses.dataclass(frozen=True)
class Deadline:
    report: str  # preliminary | final
    due: dt.date
    filed: bool
    overdue: bool
    remind: bool  # show a reminder on the screens


def deadlines(i: Incident, today: dt.date) -> list[Deadline]:
    found = i.discovered_at.astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    out = []
    for report, days in (("preliminary", PRELIMINARY_DAYS),
                         ("final", FINAL_MALICIOUS_DAYS if i.malicious else FINAL_DAYS)):
        due = found + dt.timedelta(days=days)
        filed = getattr(i, f"{report}_filed_at") is not None
        out.append(Deadline(report, due, filed, not filed and today > due, not filed and i.closed_at is None))
    return out


def reminders(ctx: Context, today: dt.date) -> list[tuple[Incident, Deadline]]:
    """The reports not yet filed of open incidents, soonest first — shown on every screen of
    those who manage incidents until filed. No access check beyond the caller's (screens ask)."""
    out = []
    for i in ctx.session.scalars(select(Incident).where(Incident.closed_at.is_(None))):
        for d in deadlines(i, today):
            if d.remind:
                out.append((i, d))
    return sorted(out, key=lambda x: x[1].due)
