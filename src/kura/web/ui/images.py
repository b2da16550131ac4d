"""The image screens: study search, the technologist's 検像 worklist, the study page with its
viewer, confirm / send back, the study's confidentiality label, and key-image printing.

Frames reach the viewer as PNG through WADO-RS /rendered (same origin, the session cookie),
so every frame shown passes the access check and is a ledger entry there. Printing goes
through kura.imaging.printing, which burns the watermark in and writes the ledger entry.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query as Q, Request
from fastapi.responses import Response

from kura.access.actions import Action
from kura.errors import Conflict, Invalid
from kura.imaging import printing, reconcile, relabel
from kura.imaging import service as imaging
from kura.imaging.labels import effective_label
from kura.imaging.query import Query
from kura.web.deps import work
from kura.web.ui.records import BreakGlass, guarded
from kura.web.ui.render import PageDep, can, redirect, render, safe_next

__all__ = ["router", "PRESETS"]

router = APIRouter(prefix="/images", include_in_schema=False)

KIND = "ImagingStudy"
SEARCH_LIMIT = 100

# Window presets (name, center, width), as radiology reads them; labelled in study.html.
PRESETS = [("lung", -600, 1500), ("mediastinum", 50, 350), ("bone", 300, 2000), ("brain", 40, 80)]
# v3 Confidentiality codes and their words (looked up in the catalogue by value).
LABELS = (("N", "Normal"), ("R", "Restricted"), ("V", "Very restricted"))
MODALITIES = ("CT", "MR", "CR", "DX", "US", "MG", "NM", "PT", "XA", "RF", "OT")

Text = Annotated[str, Q(max_length=64)]
Frame = Annotated[int, Q(ge=1, le=100000)]


class _BadForm(Exception):
    """A search field the form cannot use; the code names the message in _flash.html."""


def _date(value: str) -> str:
    digits = value.replace("-", "").strip()
    if digits and (len(digits) != 8 or not digits.isdigit()):
        raise _BadForm("date")
    return digits


def _keys(form: dict[str, str]) -> dict[str, str]:
    keys = {}
    if form["pid"]:
        keys["PatientID"] = form["pid"].replace("*", "") + "*"
    if form["name"]:
        keys["PatientName"] = form["name"]
    low, high = _date(form["since"]), _date(form["until"])
    if low or high:
        keys["StudyDate"] = f"{low}-{high}" if low != high else low
    if form["modality"]:
        if form["modality"] not in MODALITIES:
            raise _BadForm("modality")
        keys["ModalitiesInStudy"] = form["modality"]
    return keys


def _name(study) -> dict:
    return {"kanji": study.name_ideographic.replace("^", " ").strip(),
            "kana": study.name_phonetic.replace("^", " ").strip(),
            "alpha": study.name_alphabetic.replace("^", " ").strip()}


def _row(study) -> dict:
    d = study.study_date
    return {"uid": study.study_uid, "patient_id": study.patient_id, "name": _name(study),
            "date": f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d,
            "modalities": study.modalities.replace("\\", " / "), "description": study.description,
            "accession": study.accession_number, "series": study.num_series, "instances": study.num_instances,
            "status": study.status, "status_by": study.status_by, "status_at": study.status_at,
            "status_reason": study.status_reason, "flagged": study.flagged, "flag_reason": study.flag_reason,
            "birth_date": study.birth_date, "sex": study.sex}


@router.get("")
def index(request: Request, auth: PageDep, pid: Text = "", name: Text = "", since: Text = "",
          until: Text = "", modality: Text = "", done: Text = ""):
    form = {"pid": pid.strip(), "name": name.strip(), "since": since.strip(), "until": until.strip(),
            "modality": modality.strip().upper()}
    may_confirm = can(auth, Action.ImagingStudyConfirm, KIND)
    may_reconcile = can(auth, Action.ImagingStudyReconcile, KIND)
    error, results, pending, unmatched = None, [], [], 0
    try:
        keys = _keys(form)
    except _BadForm as exc:
        keys, error = None, str(exc)
    with work(request, auth) as ctx:
        if may_confirm:
            pending = [_row(s) for s in imaging.worklist(ctx)]
        if may_reconcile:
            unmatched = reconcile.count_unmatched(ctx)
        if keys is not None:
            query = Query(level="STUDY", keys=keys, fuzzy=True, limit=SEARCH_LIMIT)
            results = [_row(row[0]) for row in imaging.find(ctx, query)]
    return render(request, "images/index.html", {
        "form": form, "results": results, "worklist": pending, "may_confirm": may_confirm,
        "modalities": MODALITIES, "searched": any(form.values()), "limit": SEARCH_LIMIT,
        "error": error, "done": done, "may_reconcile": may_reconcile, "unmatched": unmatched,
        "flagged": sum(1 for s in pending if s["flagged"])}, status=400 if error else 200)


@router.api_route("/studies/{study_uid}", methods=["GET", "POST"])
def study_page(study_uid: str, request: Request, auth: PageDep, done: Text = "", error: Text = "",
               break_glass: BreakGlass = ""):
    """The viewer. A study beyond the user's clearance asks a clinician for a break-glass
    reason once; the images then load under that break-glass (kura.operation)."""
    return guarded(request, auth, lambda ctx: _study_view(ctx, request, auth, study_uid, done, error), break_glass)


def _study_view(ctx, request: Request, auth, study_uid: str, done: str, error: str):
    study = imaging.get_study(ctx, study_uid)
    series = []
    for s in imaging.series_of(ctx, study):
        # One entry per image to show: a multi-frame instance contributes each of its frames.
        sops, frames = [], []
        for inst in imaging.instances_of(ctx, s):
            count = inst.frames or 1
            sops += [inst.sop_uid] * count
            frames += list(range(1, count + 1)) if count > 1 else [0]
        series.append({"uid": s.series_uid, "number": s.series_number, "modality": s.modality,
                       "description": s.description, "body_part": s.body_part, "sops": sops,
                       "frames": frames})
    row = _row(study)
    row["label"], row["effective_label"] = study.confidentiality, effective_label(ctx, study)
    viewer = {"study": study_uid, "series": [{"uid": s["uid"], "modality": s["modality"],
                                              "body_part": s["body_part"], "sops": s["sops"],
                                              "frames": s["frames"]} for s in series],
              "presets": [{"name": n, "center": c, "width": w} for n, c, w in PRESETS]}
    return render(request, "images/study.html", {
        "study": row, "series": series, "presets": PRESETS,
        "viewer_json": json.dumps(viewer, separators=(",", ":")),
        "may_confirm": can(auth, Action.ImagingStudyConfirm, KIND) and row["status"] != "confirmed",
        "may_reconcile": can(auth, Action.ImagingStudyReconcile, KIND),
        "may_return": can(auth, Action.ImagingStudyReturn, KIND) and row["status"] == "draft",
        "may_print": can(auth, Action.ImagingStudyPrint, KIND),
        "may_label": can(auth, Action.ImagingStudyLabel, KIND), "labels": LABELS,
        "done": done, "error": error})


def _back(study_uid: str, next_url: str, **params) -> str:
    target = safe_next(next_url) if next_url else f"/images/studies/{quote(study_uid, safe='')}"
    target = target.split("?", 1)[0]
    return f"{target}?{urlencode(params)}"


@router.post("/studies/{study_uid}/confirm")
def confirm(study_uid: str, request: Request, auth: PageDep,
            next: Annotated[str, Form(max_length=300)] = ""):
    """検像 (確定) from the UI: the same service call as POST /api/studies/{uid}/confirm."""
    try:
        with work(request, auth) as ctx:
            imaging.confirm(ctx, study_uid)
    except Conflict as exc:
        return redirect(_back(study_uid, "", error="flagged" if str(exc) == imaging.FLAGGED else "conflict"))
    except Invalid:
        return redirect(_back(study_uid, "", error="empty"))
    return redirect(_back(study_uid, next, done="confirmed"))


@router.post("/studies/{study_uid}/return")
def send_back(study_uid: str, request: Request, auth: PageDep,
              reason: Annotated[str, Form(max_length=2000)] = "",
              next: Annotated[str, Form(max_length=300)] = ""):
    try:
        with work(request, auth) as ctx:
            imaging.return_study(ctx, study_uid, reason=reason)
    except Conflict:
        return redirect(_back(study_uid, "", error="conflict"))
    except Invalid:
        return redirect(_back(study_uid, "", error="reason"))
    return redirect(_back(study_uid, next, done="returned"))


@router.post("/studies/{study_uid}/confidentiality")
def set_label(study_uid: str, request: Request, auth: PageDep,
              label: Annotated[str, Form(max_length=1)] = "",
              reason: Annotated[str, Form(max_length=2000)] = ""):
    """The study's own confidentiality label, with a reason: the same service call as
    PUT /api/studies/{uid}/confidentiality."""
    try:
        with work(request, auth) as ctx:
            relabel.set_study_label(ctx, study_uid, label=label, reason=reason)
    except Invalid:
        return redirect(_back(study_uid, "", error="label-reason" if not reason.strip() else "label"))
    return redirect(_back(study_uid, "", done="labelled"))


def _window(window: str) -> tuple[float | None, float | None]:
    if not window:
        return None, None
    try:
        center, width = (float(v) for v in window.split(",")[:2])
    except ValueError:
        raise Invalid("window is center,width") from None
    if not (-100000 < center < 100000 and 1 <= width < 200000):
        raise Invalid("window out of range")
    return center, width


def _printout(request: Request, auth, study_uid: str, sop: str, window: str, frame: int, media_type: str):
    center, width = _window(window)
    with work(request, auth) as ctx:
        out = printing.key_image(ctx, study_uid, sop, center=center, width=width, frame=frame,
                                 media_type=media_type, printed_by=f"{auth.display_name} ({auth.username})")
        study = _row(out.study)
    return out, study


@router.get("/studies/{study_uid}/print")
def print_view(study_uid: str, request: Request, auth: PageDep, sop: Annotated[str, Q(max_length=64)],
               window: Text = "", frame: Frame = 1):
    """The key image's print view: the watermarked page (burned in) and a print button.
    Producing it is the printout, so it is recorded (ImagingStudyPrinted)."""
    out, study = _printout(request, auth, study_uid, sop, window, frame, "image/png")
    return render(request, "images/print.html", {
        "study": study, "sop": sop, "window": window, "watermark": out.watermark,
        "page_uri": "data:image/png;base64," + base64.b64encode(out.data).decode(),
        "digest": out.sha256, "printed_at": out.printed_at,
        "pdf_url": (f"/images/studies/{quote(study_uid, safe='')}/print.pdf?"
                    f"{urlencode({'sop': sop, 'window': window, 'frame': frame})}")})


@router.get("/studies/{study_uid}/print.pdf")
def print_pdf(study_uid: str, request: Request, auth: PageDep, sop: Annotated[str, Q(max_length=64)],
              window: Text = "", frame: Frame = 1):
    out, _ = _printout(request, auth, study_uid, sop, window, frame, "application/pdf")
    return Response(out.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="key-image-{out.sha256[:12]}.pdf"'})
