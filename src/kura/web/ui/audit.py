"""The audit manager's screens: the ledger (filters in the URL, keyset paging, an entry's
details, CSV and PDF of the filtered view), a patient's access history, verification and
checkpoints, and alerts grouped for one sign-off. Every view and export is itself recorded
(R25) by kura.audit.service and kura.oversight."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.audit import events
from kura.audit import service as audit
from kura.errors import Invalid, NotFound
from kura.ledger.models import Checkpoint, LedgerEntry
from kura.ledger.service import latest_checkpoint
from kura.ledger.tags import LedgerTag
from kura.limits import within_int
from kura.oversight import lookup, reports
from kura.web.deps import kura_of, work
from kura.web.i18n import language_of
from kura.web.ui.patients import interpret
from kura.web.ui.render import LOCAL_TZ, PageDep, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/audit", include_in_schema=False)

PURPOSE = "HSYSADMIN"
PAGE_SIZE = 50
FILTERS = ("user", "patient", "kind", "tag", "outcome", "purpose", "source", "since", "until")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Q = Annotated[str, Query(max_length=200)]
Key = Annotated[int | None, Query(ge=1)]


def _lang(request: Request) -> str:
    return language_of(request, kura_of(request).settings.language)


def _day(value: str, field: str, *, end: bool = False) -> dt.datetime | None:
    """A date (YYYY-MM-DD, hospital time; `end`: through the end of that day) or a date and
    time (datetime-local) as an aware datetime."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
            return start + dt.timedelta(days=1) if end else start
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: not a date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


class _Form:
    """The filter as typed (the URL's query) and what it resolves to."""

    def __init__(self, values: dict[str, str]):
        self.values = {k: (values.get(k) or "").strip() for k in FILTERS}

    def query(self, **extra) -> str:
        return urlencode({**{k: v for k, v in self.values.items() if v}, **extra})

    def resolve(self, ctx) -> tuple[audit.Filter, list[lookup.PatientRef]]:
        v = self.values
        if v["kind"] and v["kind"] not in events.KINDS:
            raise Invalid("unknown action kind")
        if v["purpose"] and v["purpose"] not in events.PURPOSES:
            raise Invalid("unknown purpose of use")
        if v["source"] and v["source"] not in events.SOURCES:
            raise Invalid("unknown source")
        if v["outcome"] not in ("", "ok", "failed"):
            raise Invalid("unknown outcome")
        patients: list[lookup.PatientRef] = []
        ids: tuple[str, ...] | None = None
        if v["patient"]:
            if _UUID.match(v["patient"]):
                found = lookup.patients_of(ctx, [v["patient"]], why="ledger filter")
                patients = list(found.values())
                ids = tuple(found[v["patient"]].ledger_ids) if v["patient"] in found else (v["patient"],)
            else:
                patients = lookup.find_patients(ctx, interpret(v["patient"]))
                ids = tuple(i for p in patients for i in p.ledger_ids)
        flt = audit.Filter(
            actors=lookup.users_matching(ctx, v["user"]) if v["user"] else None, patients=ids,
            tags=tuple(events.kind_tags(v["kind"])) if v["kind"] else None, tag=v["tag"],
            outcome=v["outcome"], purpose=v["purpose"], source=v["source"],
            since=_day(v["since"], "from"), until=_day(v["until"], "until", end=True))
        return flt, patients

    def words(self, lang: str) -> str:
        """The filter in words, for the PDF's heading."""
        v, out = self.values, []
        names = {"user": "利用者", "patient": "患者", "kind": "操作", "tag": "タグ", "outcome": "結果",
                 "purpose": "利用目的", "source": "経路", "since": "から", "until": "まで"}
        shown = {"kind": lambda x: events.label({k: t[:2] for k, t in events.KINDS.items()}, x, lang),
                 "purpose": lambda x: events.label(events.PURPOSES, x, lang),
                 "source": lambda x: events.label(events.SOURCES, x, lang),
                 "outcome": lambda x: {"ok": "成功", "failed": "失敗"}.get(x, x)}
        for k in FILTERS:
            if v[k]:
                out.append(f"{names[k]}: {shown.get(k, lambda x: x)(v[k])}")
        return "、".join(out)


def _choices(lang: str) -> dict:
    pick = (lambda t: t[0]) if lang == "ja" else (lambda t: t[1])
    return {"kinds": [(k, pick(t)) for k, t in events.KINDS.items()],
            "purposes": [(k, pick(t)) for k, t in events.PURPOSES.items()],
            "sources": [(k, pick(t)) for k, t in events.SOURCES.items()]}


def _filter_values(request: Request) -> _Form:
    return _Form({k: request.query_params.get(k, "")[:200] for k in FILTERS})


@router.get("")
def ledger(request: Request, auth: PageDep, before: Key = None, after: Key = None):
    form = _filter_values(request)
    lang = _lang(request)
    error: str | None = None
    rows: list[reports.Row] = []
    patients: list[lookup.PatientRef] = []
    pg: audit.Page | None = None
    try:
        with work(request, auth, PURPOSE) as ctx:
            flt, patients = form.resolve(ctx)
            pg = audit.page(ctx, flt, before=before, after=after, limit=PAGE_SIZE)
            rows = reports.rows_of(ctx, pg.entries, lang=lang, known=patients)
    except Invalid as exc:
        error = str(exc)
    return render(request, "audit/ledger.html", {
        "form": form.values, "rows": rows, "error": error, "patients": patients, **_choices(lang),
        "searched_patient": bool(form.values["patient"]),
        "older_url": f"/audit?{form.query(before=pg.older)}" if pg and pg.older else None,
        "newer_url": f"/audit?{form.query(after=pg.newer)}" if pg and pg.newer else None,
        "newest_url": f"/audit?{form.query()}" if before or after else None,
        "csv_url": f"/audit/export.csv?{form.query()}", "pdf_url": f"/audit/export.pdf?{form.query()}",
    }, status=400 if error else 200)


@router.get("/entries/{seq}")
def entry(request: Request, auth: PageDep, seq: int):
    """One entry in full: every recorded field, its hashes, and what it was recorded under."""
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AuditLedgerRead, audit.LEDGER)
        e = ctx.session.get(LedgerEntry, seq) if within_int(seq) else None
        if e is None:
            raise NotFound(f"no ledger entry {seq}")
        ctx.record(LedgerTag.AuditLedgerRead, target=audit.LEDGER, detail={"seq": seq})
        row = reports.rows_of(ctx, [e], lang=_lang(request))[0]
    try:
        detail = json.dumps(json.loads(e.detail), ensure_ascii=False, indent=1, sort_keys=True) if e.detail not in ("", "{}") else ""
    except ValueError:
        detail = e.detail
    under = None
    if '"break_glass":' in (e.detail or ""):
        try:
            under = int(json.loads(e.detail)["break_glass"])
        except (ValueError, KeyError, TypeError):
            under = None
    return render(request, "audit/entry.html", {"r": row, "e": e, "detail": detail, "under": under})


def _download(data: bytes, media: str, filename: str) -> Response:
    return Response(content=data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@router.get("/export.csv")
def export_csv(request: Request, auth: PageDep):
    form = _filter_values(request)
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AuditLedgerExport, audit.LEDGER)
        flt, patients = form.resolve(ctx)
        data, _n, _cut = reports.export_csv(ctx, flt, lang=_lang(request), known=patients)
        stamp = ctx.now().astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S")
    return _download(data, "text/csv; charset=utf-8", f"audit-log-{stamp}.csv")


@router.get("/export.pdf")
def export_pdf(request: Request, auth: PageDep):
    form = _filter_values(request)
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AuditLedgerExport, audit.LEDGER)
        flt, patients = form.resolve(ctx)
        out = reports.export_pdf(ctx, flt, filter_text=form.words(_lang(request)), known=patients)
    return _download(out.pdf, "application/pdf", out.filename)


# -- a patient's access history ----------------------------------------------------------------
@router.get("/patients")
def history_search(request: Request, auth: PageDep, q: Q = ""):
    """Find the patient of a disclosure request (誰が私の記録を見たか) by number or name."""
    found: list[lookup.PatientRef] = []
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AuditLedgerRead, audit.LEDGER)
        ctx.require(Action.AuditPatientIdentify, Target(kind="Patient"))
        if q.strip():
            found = lookup.find_patients(ctx, interpret(q), why="access history search")
    return render(request, "audit/history_search.html", {"q": q, "found": found, "searched": bool(q.strip())})


def _range(since: str, until: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    return _day(since, "from"), _day(until, "until", end=True)


@router.get("/patients/{pid}")
def history(request: Request, auth: PageDep, pid: str, since: Q = "", until: Q = ""):
    try:
        start, end = _range(since, until)
    except Invalid as exc:
        return render(request, "audit/history.html", {"error": str(exc), "ref": None, "rows": [],
                                                      "since": since, "until": until}, status=400)
    with work(request, auth, PURPOSE) as ctx:
        ref, rows = reports.access_history(ctx, pid, lang=_lang(request), since=start, until=end)
    query = urlencode({k: v for k, v in (("since", since), ("until", until)) if v})
    return render(request, "audit/history.html", {"ref": ref, "rows": rows, "since": since, "until": until,
                                                  "error": None,
                                                  "pdf_url": f"/audit/patients/{ref.id}/report.pdf" + (f"?{query}" if query else "")})


@router.get("/patients/{pid}/report.pdf")
def history_pdf(request: Request, auth: PageDep, pid: str, since: Q = "", until: Q = ""):
    start, end = _range(since, until)
    with work(request, auth, PURPOSE) as ctx:
        out = reports.access_history_pdf(ctx, pid, since=start, until=end)
    return _download(out.pdf, "application/pdf", out.filename)


# -- integrity -----------------------------------------------------------------------------------
_INTACT = re.compile(r"^ledger intact: (\d+) entries, (\d+) checkpoints verified$")
_BROKEN_AT = re.compile(r"^ledger broken at entry (\d+): (.*)$")


def verdict(line: str, _) -> str:
    """kura.ledger.verify's one-line verdict in the UI language."""
    m = _INTACT.match(line or "")
    if m:
        return _("Ledger intact: %(n)s entries and %(c)s signed checkpoints verified.", n=m[1], c=m[2])
    m = _BROKEN_AT.match(line or "")
    if m:
        return _("Ledger broken at entry %(seq)s: %(problem)s", seq=m[1], problem=m[2])
    if (line or "").startswith("ledger broken: "):
        return _("Ledger broken: %(problem)s", problem=line.removeprefix("ledger broken: "))
    return line


@router.get("/integrity")
def integrity(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        entries, _ = audit.browse(ctx, audit.Filter(tag=str(LedgerTag.AuditLedgerVerified)), limit=10)
        runs = reports.rows_of(ctx, entries, lang=_lang(request))
        # Read after browse() has done the access check (AuditLedgerRead).
        latest = latest_checkpoint(ctx.session)
        checkpoints = list(ctx.session.scalars(
            select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc()).limit(10)))
    return render(request, "audit/integrity.html", {"runs": runs, "latest": latest, "checkpoints": checkpoints,
                                                    "verdict": verdict})


@router.post("/verify")
def verify(request: Request, auth: PageDep):
    """Runs verification now; its result is a ledger entry, which the integrity page shows."""
    with work(request, auth, PURPOSE) as ctx:
        audit.verify(ctx)
    return redirect("/audit/integrity")


@router.post("/checkpoint")
def checkpoint(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        audit.checkpoint(ctx)
    return redirect("/audit/integrity")


# -- alerts -----------------------------------------------------------------------------------
def _alerts_page(request: Request, auth, view: str, error: str | None = None, error_seq: int | None = None,
                 status: int = 200, done: bool = False):
    lang = _lang(request)
    with work(request, auth, PURPOSE) as ctx:
        groups = audit.alert_groups(ctx, open_only=view != "signed")
        every = [e for g in groups for e in (*g.members, *g.reads, *([g.ended] if g.ended else []))]
        words = {r.seq: r for r in reports.rows_of(ctx, every, lang=lang, why="alert review")}
    cards = [{"g": g, "head": words[g.head.seq], "members": [words[e.seq] for e in g.members],
              "reads": [words[e.seq] for e in g.reads], "ended": words[g.ended.seq] if g.ended else None,
              "minutes": _detail(g.head).get("minutes"), "stated": _detail(g.head).get("break_glass_reason")}
             for g in groups]
    return render(request, "audit/alerts.html", {"cards": cards, "view": view, "error": error,
                                                 "error_seq": error_seq, "done": done}, status=status)


def _detail(e: LedgerEntry) -> dict:
    try:
        out = json.loads(e.detail or "{}")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


@router.get("/alerts")
def alerts(request: Request, auth: PageDep, view: Annotated[str, Query(pattern="^(open|signed)$")] = "open",
           done: str = ""):
    return _alerts_page(request, auth, view, done=bool(done))


@router.post("/alerts/{seq}/sign-off")
def sign_off(request: Request, auth: PageDep, seq: int, note: Annotated[str, Form(max_length=2000)] = "",
             members: Annotated[list[int] | None, Form()] = None):
    """Sign off the alert group headed by `seq` (its `members`, as the page listed them)."""
    seqs = [seq, *[m for m in (members or []) if m != seq]][:audit.MAX_ALERTS]
    try:
        with work(request, auth, PURPOSE) as ctx:
            audit.sign_off_group(ctx, seqs=seqs, note=note)
    except Invalid as exc:
        return _alerts_page(request, auth, "open", str(exc), seq, 400)
    return redirect("/audit/alerts?done=1")
