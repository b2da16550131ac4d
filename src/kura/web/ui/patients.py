"""The patient screens: search as you type (ID, kanji, kana, birth date), registration, the
patient page (demographics, insurance, visits, charges, invoices, documents, studies), the
entry forms of each record type, the summary print view and PDF, and the disclosure export
(カルテ開示). Searches and reads go through records.service, which decides and records.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from kura.access.actions import Action
from kura.access.policy import Target
from kura.access.roles import ROLE_GRANTS
from kura.errors import Invalid, NotFound
from kura.records import disclosure, patients, printout, resources
from kura.records import service as records
from kura.records.kana import normalise
from kura.text import parse_wareki
from kura.web.deps import kura_of, work
from kura.web.ui import forms, handout
from kura.web.ui.records import (DONE, BreakGlass, _form, attachment_of, guarded, uploaded,
                                 version_row)
from kura.web.i18n import language_of
from kura.web.ui.render import PERSON_ROLES, PageDep, can, redirect, render, role_label

__all__ = ["router", "interpret"]

router = APIRouter(prefix="/patients", include_in_schema=False)

Q = Annotated[str, Query(max_length=100)]
RESULTS = 30
_DATE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})$")


def interpret(q: str) -> list[list[tuple[str, str]]]:
    """The FHIR searches a free-text query stands for: 患者ID (digits), birth date
    (1970-01-02, 1970/1/2, 19700102, or 和暦: S45.1.2, 昭和45年1月2日, H1.1.8), else a kanji
    or kana name prefix."""
    text = normalise(q)
    if not text:
        return []
    era_day = parse_wareki(q)
    if era_day is not None:
        return [[("birthdate", era_day.isoformat())]]
    searches: list[list[tuple[str, str]]] = []
    m = _DATE.match(text)
    if m:
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
            searches.append([("birthdate", day.isoformat())])
        except ValueError:
            pass
    if text.isdigit():
        searches.append([("identifier", text)])
    elif not m:
        searches.append([("name", q.strip())])
    return searches


def _search(ctx, q: str) -> tuple[list[dict], int, list[str]]:
    """The visible matches, their total, and the ids of restricted matches a clinician may
    open with break-glass (shown without any of their content)."""
    seen: dict[str, dict] = {}
    restricted: list[str] = []
    total = 0
    for pairs in interpret(q):
        restricted += [i for i in records.restricted_matches(ctx, "Patient", pairs) if i not in restricted]
        page = records.search(ctx, "Patient", [*pairs, ("_count", str(RESULTS))])
        total += page.total
        for v in page.versions:
            res = v.resource()
            kanji, kana = resources.names_of(res)
            seen.setdefault(v.id, {**version_row(v), "kanji": kanji, "kana": kana,
                                   "mrn": forms.values_of(res).get("mrn", ""), "birth": res.get("birthDate", ""),
                                   "gender": res.get("gender", "")})
    return list(seen.values()), total, [i for i in restricted if i not in seen]


@router.get("")
def search_page(request: Request, auth: PageDep, q: Q = "", done: str = ""):
    rows: list = []
    total = 0
    restricted: list = []
    with work(request, auth) as ctx:
        # The empty page too needs the search right; the search itself asks again and records.
        ctx.require(Action.RecordsRecordSearch, Target(kind="Patient"))
        if q.strip():
            rows, total, restricted = _search(ctx, q)
    return render(request, "patients/search.html", {"q": q, "rows": rows, "total": total, "searched": bool(q.strip()),
                                                    "restricted": restricted,
                                                    "done": "Emergency access has ended." if done == "emergency-ended" else None,
                                                    "can_register": can(auth, Action.RecordsRecordCreate, "Patient")})


@router.get("/search")
def search_fragment(request: Request, auth: PageDep, q: Q = ""):
    """The results list alone (HTML fragment) for the search-as-you-type script."""
    rows: list = []
    total = 0
    restricted: list = []
    with work(request, auth) as ctx:
        # The empty page too needs the search right; the search itself asks again and records.
        ctx.require(Action.RecordsRecordSearch, Target(kind="Patient"))
        if q.strip():
            rows, total, restricted = _search(ctx, q)
    return render(request, "patients/_results.html", {"q": q, "rows": rows, "total": total, "restricted": restricted,
                                                      "searched": bool(q.strip())})


# -- registration ---------------------------------------------------------------------------
def _new_page(request: Request, rtype: str, values: dict, *, patient=None, error: str | None = None,
              status: int = 200, kind: str = "", duplicates: list | None = None):
    return render(request, "patients/new.html", {"rtype": rtype, "fields": forms.FORMS[rtype], "values": values,
                                                 "patient": patient, "error": error, "kind": kind,
                                                 "duplicates": duplicates or []}, status=status)


@router.get("/new")
def new_patient(request: Request, auth: PageDep):
    with work(request, auth) as ctx:
        ctx.require(Action.RecordsRecordCreate, Target(kind="Patient"))
    return _new_page(request, "Patient", {"label": "N"})


@router.post("")
async def register(request: Request, auth: PageDep):
    """Register a patient. A likely duplicate (same kana name and birth date) is shown
    first; the clerk saves anyway only by saying so (the `not_duplicate` box)."""
    values, _ = await _form(request)
    try:
        resource = forms.build("Patient", values, patient_id=None)
        mrn = values.get("mrn", "").strip()
        with work(request, auth) as ctx:
            patients.check_patient(resource, today=patients.today_of(ctx))
            dups = [] if values.get("not_duplicate") else patients.likely_duplicates(ctx, resource)
            if any(forms.values_of(d.resource()).get("mrn") == mrn for d in dups):
                dups = []  # the same 患者ID: a re-sent registration, answered by the conditional create
            if not dups:
                v = records.create(ctx, resource, if_none_exist=f"identifier={resources.MRN_SYSTEM}|{mrn}")
    except Invalid as exc:
        return _new_page(request, "Patient", values, error=str(exc), status=400)
    if dups:
        rows = [{**version_row(d), "mrn": forms.values_of(d.resource()).get("mrn", ""),
                 "birth": d.resource().get("birthDate", "")} for d in dups]
        return _new_page(request, "Patient", values, duplicates=rows, status=409,
                         error="A patient with the same kana name and birth date is registered already.")
    return redirect(f"/patients/{v.id}?done={'created' if v.created else 'exists'}")


# -- the patient page -------------------------------------------------------------------------
def _studies(ctx, summary, mrn: str) -> list[dict]:
    """Imaging studies: the archive's own list for the 患者ID when the user may search it,
    and the FHIR ImagingStudy mirror from the records store."""
    out: dict[str, dict] = {}
    for v in summary.get("studies", []):
        res = v.resource()
        out[v.id] = {"uid": v.id, "date": res.get("started", ""), "description": res.get("description", ""),
                     "modalities": ", ".join(m.get("code", "") for m in res.get("modality") or []),
                     "status": v.status}
    # Not under break-glass: the archive's search would raise an alert per label it opens;
    # break-glass is for this patient's records, and the FHIR mirror above lists the studies.
    if mrn and not ctx.break_glass_reason and ctx.allows(Action.ImagingStudySearch,
                                                          Target(kind="ImagingStudy")).allowed:
        from kura.imaging import service as imaging
        for s in imaging.studies_for_patient(ctx, mrn):
            d = s.study_date
            out[s.study_uid] = {"uid": s.study_uid, "date": f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d,
                                "description": s.description, "modalities": s.modalities.replace("\\", ", "),
                                "status": s.status, "flagged": s.flagged}
    return sorted(out.values(), key=lambda r: r["date"], reverse=True)


def _hidden_studies(ctx, mrn: str) -> int:
    """Studies of this patient the user's roles cannot open (so the page does not say there are none)."""
    if not mrn or ctx.allows(Action.ImagingStudySearch, Target(kind="ImagingStudy")).allowed:
        return 0
    from kura.imaging import service as imaging
    return imaging.count_for_patient(ctx, mrn)


def _flagged_studies(ctx, mrn: str) -> int:
    """Studies under this 患者ID awaiting patient matching, for those who resolve them."""
    if not mrn or not ctx.allows(Action.ImagingStudyReconcile, Target(kind="ImagingStudy")).allowed:
        return 0
    from kura.imaging import reconcile
    return reconcile.count_flagged_for_patient(ctx, mrn)


def image_readers(request: Request) -> str:
    """The roles that may view images, as the UI names them (e.g. 医師、看護師、診療放射線技師)."""
    lang = language_of(request, kura_of(request).settings.language)
    roles = [r for r in PERSON_ROLES if Action.ImagingStudyRead in ROLE_GRANTS.get(r, {})]
    return "、".join(role_label(r, lang) for r in roles) if lang == "ja" else ", ".join(role_label(r, lang) for r in roles)


@router.api_route("/{pid}", methods=["GET", "POST"])
def patient_page(request: Request, auth: PageDep, pid: str, done: str = "", break_glass: BreakGlass = ""):
    def view(ctx):
        summary = records.patient_summary(ctx, pid)
        pv = summary["patient"][0]
        res = pv.resource()
        mrn = forms.values_of(res).get("mrn", "")
        # Newest first: each title starts with its date (受診日, 実施日, 請求日, …).
        sections = {k: sorted(({**version_row(v), "attachment": attachment_of(v.resource())} for v in vs),
                              key=lambda r: r["title"], reverse=True)
                    for k, vs in summary.items() if k not in ("patient", "studies")}
        return render(request, "patients/patient.html", {
            "pv": pv, "p": version_row(pv), "rows": resources.summary_rows(res), "sections": sections,
            "studies": _studies(ctx, summary, mrn), "hidden_studies": _hidden_studies(ctx, mrn),
            "flagged_studies": _flagged_studies(ctx, mrn),
            "image_readers": image_readers(request), "done": DONE.get(done) or (
                "This patient ID is registered already; here is the patient." if done == "exists" else None),
            "break_glass": bool(break_glass.strip()),
            "can_write": {k: ctx.allows(Action.RecordsRecordCreate, Target(kind=t)).allowed
                          for k, t in forms.KINDS.items()},
            "can_export": ctx.allows(Action.RecordsRecordExport, printout.target_of_version(ctx, pv)).allowed,
            "can_print": ctx.allows(Action.RecordsRecordPrint, printout.target_of_version(ctx, pv)).allowed,
        })

    return guarded(request, auth, view, break_glass)


@router.post("/{pid}/break-glass/end")
def end_break_glass(request: Request, auth: PageDep, pid: str):
    """The emergency is over before its time ran out. Ledger: AccessBreakGlassStopped."""
    with work(request, auth) as ctx:
        ctx.end_break_glass(pid)
    return redirect("/patients?done=emergency-ended")


# -- entry forms of the patient's records -------------------------------------------------------
def _kind(kind: str) -> str:
    if kind not in forms.KINDS:
        raise NotFound(f"no form {kind!r}")
    return forms.KINDS[kind]


def _defaults(rtype: str, now: dt.datetime) -> dict[str, Any]:
    local = now.astimezone(printout.LOCAL_TZ)
    day, moment = local.date().isoformat(), local.strftime("%Y-%m-%dT%H:%M")
    defaults: dict[str, dict[str, Any]] = {"Coverage": {"start": day, "kind": "shaho"}, "Encounter": {"start": moment, "department": "内科"},
            "ChargeItem": {"when": day, "quantity": 1, "code": "112007410"},
            "Invoice": {"date": day, "status": "issued"}, "DocumentReference": {"date": moment, "label": "N"}}
    return defaults[rtype]


@router.get("/{pid}/new/{kind}")
def new_record(request: Request, auth: PageDep, pid: str, kind: str):
    rtype = _kind(kind)
    with work(request, auth) as ctx:
        pv = records.read(ctx, "Patient", pid)
        ctx.require(Action.RecordsRecordCreate, Target(kind=rtype, patient_id=pid))
        now = ctx.now()
    return _new_page(request, rtype, _defaults(rtype, now), patient=version_row(pv), kind=kind)


@router.post("/{pid}/new/{kind}")
async def create_record(request: Request, auth: PageDep, pid: str, kind: str):
    rtype = _kind(kind)
    values, upload = await _form(request)
    try:
        att = await uploaded(upload)
        if rtype == "DocumentReference" and att is None:
            raise Invalid("choose the file of the document")
        resource = forms.build(rtype, values, patient_id=pid, attachment=att)
        with work(request, auth) as ctx:
            v = records.create(ctx, resource)
    except Invalid as exc:
        with work(request, auth) as ctx:
            pv = records.read(ctx, "Patient", pid)
        return _new_page(request, rtype, values, patient=version_row(pv), error=str(exc), status=400, kind=kind)
    return redirect(f"/records/{rtype}/{v.id}?done=created")


# -- summary print view, PDF, disclosure export ---------------------------------------------------
@router.get("/{pid}/print")
def print_view(request: Request, auth: PageDep, pid: str):
    with work(request, auth) as ctx:
        summary = records.patient_summary(ctx, pid)
        pv = summary["patient"][0]
        mark = printout.watermark_text(auth.username, ctx.now())
        printout.record_printed(ctx, printout.target_of_version(ctx, pv), digest=pv.sha256,
                                detail={"format": "html", "summary": True, "watermark": mark})
    return render(request, "records/print.html", {
        "title": f"患者サマリー {resources.title_of(pv.resource())}", "mark": mark, "rtype": "Patient", "id": pid,
        "sections": printout.summary_sections(summary), "back": f"/patients/{pid}", "pdf": f"/patients/{pid}/pdf"})


@router.get("/{pid}/pdf")
def summary_pdf(request: Request, auth: PageDep, pid: str):
    with work(request, auth) as ctx:
        out = printout.print_summary(ctx, pid)
    return Response(content=out.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{out.filename}"', "Cache-Control": "no-store",
                             "X-Kura-SHA256": out.sha256})


Text = Annotated[str, Form(max_length=200)]


@router.post("/{pid}/export")
def export(request: Request, auth: PageDep, pid: str, purpose: Annotated[str, Form(max_length=32)] = "",
           recipient: Text = "", note: Annotated[str, Form(max_length=500)] = ""):
    """カルテ開示 (regulation §10): the patient's records as an AES-256 ZIP (FHIR Bundle, PDF,
    attachments, manifest) for a stated purpose and recipient; the password is shown once."""
    try:
        with work(request, auth) as ctx:
            out = disclosure.export_patient(ctx, pid, purpose=purpose, recipient=recipient, note=note)
    except Invalid as exc:
        return render(request, "patients/export.html",
                      {"pid": pid, "purposes": disclosure.PURPOSES, "error": str(exc),
                       "form": {"purpose": purpose, "recipient": recipient, "note": note}}, status=400)
    token = handout.keep(auth.user_id, handout.Handout(out.data, out.filename, "application/zip", out.sha256))
    return render(request, "patients/export.html",
                  {"pid": pid, "done": True, "password": out.password, "token": token, "sha256": out.sha256,
                   "filename": out.filename, "recipient": recipient,
                   "purpose": disclosure.PURPOSES.get(purpose, purpose)}, status=201)


@router.get("/{pid}/export")
def export_form(request: Request, auth: PageDep, pid: str):
    with work(request, auth) as ctx:
        records.read(ctx, "Patient", pid)  # the patient exists and the caller may read it
    return render(request, "patients/export.html", {"pid": pid, "purposes": disclosure.PURPOSES, "form": {}})


@router.get("/{pid}/export/{token}")
def export_download(request: Request, auth: PageDep, pid: str, token: str):
    """The encrypted ZIP, once, to the user who made it."""
    return handout.take(auth.user_id, token)
