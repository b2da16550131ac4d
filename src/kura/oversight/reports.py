"""The ledger as the audit manager reads it: rows in words (event names, patients by number and
name, users by name, JST), the filtered view exported as CSV (UTF-8 with BOM, for Excel) or
PDF, and a patient's access history (誰が私の記録を見たか) for a disclosure request.

Every view and export is itself a ledger entry (R25): AuditLedgerRead for a view,
AuditLedgerExported for a file, and AuditPatientIdentified for each patient shown by name.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import zoneinfo
from typing import Iterable

from kura.access.actions import Action
from kura.access.policy import Target
from kura.access.roles import ROLE_LABELS, Role
from kura.audit import events
from kura.audit import service as audit
from kura.errors import NotFound
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.oversight import lookup
from kura.records.printout import Printout, render_listing, watermark_text

__all__ = ["Row", "rows_of", "export_csv", "export_pdf", "access_history", "access_history_pdf",
           "MAX_CSV", "MAX_PDF"]

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")
MAX_CSV = 100_000  # rows in one CSV file; narrow the filter for more
MAX_PDF = 2_000  # rows in one PDF
MAX_HISTORY = 5_000
# A patient's access history: everything done with their records and images, but not the
# audit manager's own look-ups of the ledger (which name the patient, and are in the ledger).
ACCESS_TAGS = tuple(sorted(t.value for t in LedgerTag if not t.value.startswith("audit:")))


@dataclasses.dataclass(frozen=True)
class Row:
    """One ledger entry in words."""

    seq: int
    at: dt.datetime  # JST
    tag: str
    event: str
    event_id: str
    event_type: str
    actor: str  # display name (user name)
    username: str
    roles: str
    patient: str  # number and name
    patient_id: str
    purpose: str
    source: str
    outcome: str
    failed: bool
    target: str
    what: str  # the target's kind in words
    reason: str
    alert: bool
    entry: LedgerEntry


def _jst(at: dt.datetime) -> dt.datetime:
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(LOCAL_TZ)


def _roles(roles: str, lang: str) -> str:
    out = []
    for r in filter(None, roles.split(",")):
        try:
            ja, en = ROLE_LABELS[Role(r)]
            out.append(ja if lang == "ja" else en)
        except (ValueError, KeyError):
            out.append(r)
    return "、".join(out) if lang == "ja" else ", ".join(out)


def _principal(name: str, lang: str) -> str:
    """The words for an actor that is not a user account ("" for a user)."""
    if name == "anonymous":
        return "未認証の接続" if lang == "ja" else "unauthenticated"
    if name == "system":
        return "システム" if lang == "ja" else "system"
    if name.startswith("console:"):
        return f"サーバーのコンソール ({name.removeprefix('console:')})" if lang == "ja" else f"server console ({name.removeprefix('console:')})"
    return ""


def rows_of(ctx: Context, entries: list[LedgerEntry], *, lang: str = "ja", why: str = "ledger view",
            known: Iterable[lookup.PatientRef] = ()) -> list[Row]:
    """`entries` in words. Patients are shown by number and name when the caller may identify
    them (AuditPatientIdentify; each one shown is recorded once per unit of work: `known` are
    those identified already), else by their ledger id."""
    pids = {e.patient_id for e in entries if e.patient_id}
    patients = lookup.patients_of(ctx, pids, why=why, known=known) if pids and ctx.allows(
        Action.AuditPatientIdentify, Target(kind="Patient")).allowed else {}
    users = {**lookup.user_names(ctx, (e.actor_name for e in entries)),
             **{e.actor_name: _principal(e.actor_name, lang) for e in entries if _principal(e.actor_name, lang)}}
    out = []
    for e in entries:
        ev = events.event_of(e.tag)
        p = patients.get(e.patient_id or "")
        name = users.get(e.actor_name)
        out.append(Row(
            seq=e.seq, at=_jst(e.at), tag=e.tag, event=events.name_of(e.tag, lang), event_id=ev.event_id,
            event_type=ev.type_code or "", actor=(name if _principal(e.actor_name, lang) else f"{name} ({e.actor_name})")
            if name and name != e.actor_name else e.actor_name,
            username=e.actor_name, roles=_roles(e.roles, lang),
            patient=p.label if p else (e.patient_id or ""), patient_id=e.patient_id or "",
            purpose=events.label(events.PURPOSES, e.purpose, lang) if e.purpose else "",
            source=events.label(events.SOURCES, audit.source_of(e.origin, e.detail), lang),
            outcome=events.label(events.OUTCOMES, e.outcome, lang), failed=e.outcome != 0,
            target=f"{e.target_kind}/{e.target_id}" if e.target_id else e.target_kind,
            what=events.label(events.TARGETS, e.target_kind, lang) if e.target_kind else "",
            reason=e.reason, alert=e.alert, entry=e))
    return out


_HEAD = {"ja": ("番号", "日時 (JST)", "操作", "DICOM EventID", "DICOM EventTypeCode", "kura タグ", "利用者", "役割",
                "患者", "利用目的", "経路", "端末", "結果", "対象", "理由", "エントリのハッシュ"),
         "en": ("No.", "Time (JST)", "Event", "DICOM EventID", "DICOM EventTypeCode", "kura tag", "User", "Roles",
                "Patient", "Purpose of use", "Source", "Terminal", "Outcome", "Target", "Reason", "Entry hash")}


def _export_entry(ctx: Context, flt: audit.Filter, fmt: str, count: int, sha: str, **extra) -> None:
    ctx.record(LedgerTag.AuditLedgerExported, target=Target(kind="Ledger", patient_id=extra.pop("patient_id", None)),
               digest=sha, detail={"format": fmt, "entries": count, **flt.described(), **extra})


def _collect(ctx: Context, flt: audit.Filter, cap: int) -> tuple[list[LedgerEntry], bool]:
    out: list[LedgerEntry] = []
    for e in audit.entries_of(ctx, flt):
        if len(out) == cap:
            return out, True
        out.append(e)
    return out, False


def export_csv(ctx: Context, flt: audit.Filter, *, lang: str = "ja",
               known: Iterable[lookup.PatientRef] = ()) -> tuple[bytes, int, bool]:
    """The filtered view as CSV: UTF-8 with BOM (Excel opens it as such), CRLF, newest first,
    at most MAX_CSV rows; (bytes, rows, truncated). Raises Denied.
    Ledger: AuditLedgerExported (format, filter, rows, SHA-256 of the file)."""
    ctx.require(Action.AuditLedgerExport, audit.LEDGER)
    entries, truncated = _collect(ctx, flt, MAX_CSV)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(_HEAD["ja" if lang == "ja" else "en"])
    for r in rows_of(ctx, entries, lang=lang, why="ledger export", known=known):
        w.writerow([r.seq, r.at.strftime("%Y-%m-%d %H:%M:%S"), r.event, r.event_id, r.event_type, r.tag, r.actor,
                    r.roles, r.patient, r.purpose, r.source, r.entry.origin, r.outcome, r.target, r.reason,
                    r.entry.leaf_hash])
    data = ("\ufeff" + buf.getvalue()).encode("utf-8")
    _export_entry(ctx, flt, "csv", len(entries), hashlib.sha256(data).hexdigest(), truncated=truncated)
    return data, len(entries), truncated


def _mark(ctx: Context) -> str:
    return watermark_text(ctx.actor.name if ctx.actor else "system", ctx.now())


def _filter_words(flt: audit.Filter) -> str:
    return "、".join(f"{k}={v}" for k, v in flt.described().items()) or "なし"


def export_pdf(ctx: Context, flt: audit.Filter, *, filter_text: str = "",
               known: Iterable[lookup.PatientRef] = ()) -> Printout:
    """The filtered view as a PDF (Japanese), at most MAX_PDF rows. Raises Denied.
    Ledger: AuditLedgerExported."""
    ctx.require(Action.AuditLedgerExport, audit.LEDGER)
    entries, truncated = _collect(ctx, flt, MAX_PDF)
    rows = rows_of(ctx, entries, why="ledger export", known=known)
    now = _jst(ctx.now())
    table = [(str(r.seq), r.at.strftime("%Y-%m-%d %H:%M:%S"), r.actor, r.event, r.patient, r.purpose,
              r.source, r.outcome, r.reason[:200]) for r in rows]
    note = f"{len(rows)} 件" + (f"（先頭 {MAX_PDF} 件。条件を絞って再出力してください）" if truncated else "")
    pdf, pages = render_listing(
        title="監査ログ", mark=_mark(ctx),
        subtitle=f"出力: {ctx.actor.name if ctx.actor else 'system'}  {now:%Y-%m-%d %H:%M} (JST)",
        facts=[("条件", filter_text or _filter_words(flt))], note=note,
        columns=("番号", "日時 (JST)", "利用者", "操作", "患者", "利用目的", "経路", "結果", "理由"),
        widths=(0.7, 1.6, 1.8, 1.7, 2.0, 1.0, 0.9, 0.9, 2.4), rows=table)
    sha = hashlib.sha256(pdf).hexdigest()
    _export_entry(ctx, flt, "pdf", len(rows), sha, truncated=truncated)
    return Printout(pdf, f"audit-log-{now:%Y%m%d%H%M%S}.pdf", sha, pages)


# -- a patient's access history ---------------------------------------------------------------
def _patient(ctx: Context, patient_id: str) -> lookup.PatientRef:
    ctx.require(Action.AuditLedgerRead, audit.LEDGER)
    refs = lookup.patients_of(ctx, [patient_id], why="access history")
    ref = refs.get(patient_id)
    if ref is None:
        raise NotFound(f"no patient {patient_id}")
    return ref


def access_history(ctx: Context, patient_id: str, *, lang: str = "ja",
                   since: dt.datetime | None = None, until: dt.datetime | None = None) -> tuple[lookup.PatientRef, list[Row]]:
    """Who accessed the patient's records and images, when, why (purpose) and from where,
    newest first (at most MAX_HISTORY entries; the audit manager's own ledger work left out,
    ACCESS_TAGS), for a disclosure request. Raises Denied,
    NotFound. Ledger: AuditLedgerRead naming the patient."""
    ref = _patient(ctx, patient_id)
    flt = audit.Filter(patients=ref.ledger_ids, since=since, until=until, tags=ACCESS_TAGS)
    entries, _ = _collect(ctx, flt, MAX_HISTORY)
    rows = rows_of(ctx, entries, lang=lang, why="access history", known=[ref])
    ctx.record(LedgerTag.AuditLedgerRead, target=Target(kind="Ledger", patient_id=ref.id),
               detail={"access_history": ref.id, "shown": len(rows)})
    return ref, rows


def access_history_pdf(ctx: Context, patient_id: str, *, since: dt.datetime | None = None,
                       until: dt.datetime | None = None) -> Printout:
    """The access history as a printable report (A4, Japanese, watermarked).
    Raises Denied (AuditLedgerExport), NotFound. Ledger: AuditLedgerExported naming the patient."""
    ctx.require(Action.AuditLedgerExport, audit.LEDGER)
    ref, rows = access_history(ctx, patient_id, since=since, until=until)
    now = _jst(ctx.now())
    period = "、".join(x for x in (since and f"{_jst(since):%Y-%m-%d} から", until and f"{_jst(until):%Y-%m-%d} まで") if x)
    facts = [("患者番号", ref.number), ("氏名", ref.name), ("フリガナ", ref.kana), ("期間", period or "全期間"),
             ("件数", f"{len(rows)} 件"), ("作成", f"{ctx.actor.name if ctx.actor else 'system'}  {now:%Y-%m-%d %H:%M} (JST)")]
    table = [(r.at.strftime("%Y-%m-%d %H:%M"), r.actor, r.roles, r.event, r.what, r.purpose, r.source,
              r.outcome, r.reason[:160]) for r in rows]
    pdf, pages = render_listing(
        title="アクセス履歴（診療記録・画像）", mark=_mark(ctx),
        subtitle="この患者の記録と画像に、いつ、誰が、どの目的でアクセスしたかの一覧です（監査ログより）。",
        facts=[f for f in facts if f[1]],
        columns=("日時 (JST)", "利用者", "役割", "操作", "対象", "利用目的", "経路", "結果", "理由"),
        widths=(1.4, 1.9, 1.2, 1.5, 1.0, 1.0, 0.9, 0.7, 2.2), rows=table)
    sha = hashlib.sha256(pdf).hexdigest()
    _export_entry(ctx, audit.Filter(), "pdf", len(rows), sha, patient_id=ref.id, access_history=ref.id)
    return Printout(pdf, f"access-history-{now:%Y%m%d%H%M%S}.pdf", sha, pages)
