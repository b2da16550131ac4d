"""台帳: equipment and media disposal, incidents (with the PPC report deadlines), the emergency
switch, the print and export register. Each page is one kura.registers / kura.identity call
in the request's unit of work; the services check access and write the ledger."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request

from kura.access.actions import Action
from kura.access.policy import Target
from kura.access.purpose import Purpose
from kura.errors import Conflict, Invalid, NotFound, SamePerson
from kura.identity import emergency
from kura.records.disclosure import PURPOSES
from kura.registers import equipment, incidents, media, prints
from kura.disposal.retention import today
from kura.web.deps import work
from kura.web.ui import handout
from kura.web.ui.render import PageDep, redirect, render

__all__ = ["router", "DONE"]

router = APIRouter(prefix="/registers", include_in_schema=False)
PURPOSE = Purpose.HOPERAT

DONE = {"recorded": "The entry has been recorded.", "approved": "The entry has been approved.",
        "switched": "The emergency switch is on.", "lifted": "The emergency switch has been lifted.",
        "updated": "The incident has been updated.", "marked": "The medium has been checked in."}
REPORTS = {"preliminary": "Preliminary report (速報)", "final": "Final report (確報)"}

Short = Annotated[str, Form(max_length=400)]
Long = Annotated[str, Form(max_length=4000)]


def _may(ctx, action: Action, kind: str) -> bool:
    return ctx.allows(action, Target(kind=kind)).allowed


# -- equipment and media disposal --------------------------------------------------------------
def _equipment_page(request: Request, auth, *, done: str = "", error: str | None = None, form: dict | None = None,
                    status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = equipment.list_entries(ctx)
        may = _may(ctx, Action.RegisterEquipmentManage, "EquipmentDisposal")
        me = ctx.actor.id if ctx.actor else None
    return render(request, "registers/equipment.html",
                  {"rows": rows, "may": may, "me": me, "kinds": equipment.KINDS, "methods": equipment.METHODS,
                   "form": form or {}, "done": DONE.get(done), "error": error}, status=status)


@router.get("/equipment")
def equipment_list(request: Request, auth: PageDep, done: str = ""):
    return _equipment_page(request, auth, done=done)


@router.post("/equipment")
def equipment_record(request: Request, auth: PageDep, item_kind: Short = "", description: Short = "",
                     serial: Short = "", method: Short = "", performed_by: Short = "", performed_on: Short = "",
                     certificate_ref: Short = "", note: Long = ""):
    form = dict(item_kind=item_kind, description=description, serial=serial, method=method,
                performed_by=performed_by, performed_on=performed_on, certificate_ref=certificate_ref, note=note)
    try:
        with work(request, auth, PURPOSE) as ctx:
            equipment.record(ctx, **form)
    except Invalid as exc:
        return _equipment_page(request, auth, error=str(exc), form=form, status=400)
    return redirect("/registers/equipment?done=recorded")


@router.post("/equipment/{entry_id}/approve")
def equipment_approve(request: Request, auth: PageDep, entry_id: str):
    try:
        with work(request, auth, PURPOSE) as ctx:
            equipment.approve(ctx, entry_id)
    except SamePerson:
        return _equipment_page(request, auth, error="You recorded this entry: another person must approve it.",
                               status=403)
    except (Conflict, NotFound) as exc:
        return _equipment_page(request, auth, error=str(exc), status=409)
    return redirect("/registers/equipment?done=approved")


# -- incidents ---------------------------------------------------------------------------------
@router.get("/incidents")
def incident_list(request: Request, auth: PageDep, done: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        rows = incidents.list_incidents(ctx)
        day = today(ctx)
        may = _may(ctx, Action.RegisterIncidentManage, "Incident")
        due = incidents.reminders(ctx, day)
    return render(request, "registers/incidents.html",
                  {"rows": [(i, incidents.deadlines(i, day)) for i in rows], "may": may, "due": due,
                   "kinds": incidents.KINDS, "subjects": incidents.SUBJECTS, "reports": REPORTS,
                   "done": DONE.get(done), "form": {}})


@router.post("/incidents")
def incident_record(request: Request, auth: PageDep, kind: Short = "", title: Short = "", description: Long = "",
                    discovered_at: Short = "", occurred_at: Short = "", reported_by: Short = "",
                    malicious: Short = "", subject_kind: Short = "", subject_id: Short = "",
                    window_start: Short = "", window_end: Short = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            i = incidents.record(ctx, kind=kind, title=title, description=description, discovered_at=discovered_at,
                                 occurred_at=occurred_at or None, reported_by=reported_by, malicious=bool(malicious),
                                 subject_kind=subject_kind, subject_id=subject_id, window_start=window_start or None,
                                 window_end=window_end or None)
            iid = i.id
    except Invalid as exc:
        with work(request, auth, PURPOSE) as ctx:
            rows = incidents.list_incidents(ctx)
            day = today(ctx)
        return render(request, "registers/incidents.html",
                      {"rows": [(i, incidents.deadlines(i, day)) for i in rows], "may": True, "due": [],
                       "kinds": incidents.KINDS, "subjects": incidents.SUBJECTS, "reports": REPORTS,
                       "error": str(exc), "form": {"kind": kind, "title": title, "description": description,
                                                    "reported_by": reported_by}}, status=400)
    return redirect(f"/registers/incidents/{iid}?done=recorded")


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, auth: PageDep, incident_id: str, done: str = "", error: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        i = incidents.get(ctx, incident_id)
        affected = incidents.affected_patients(ctx, i)
        day = today(ctx)
        may = _may(ctx, Action.RegisterIncidentManage, "Incident")
        out = {"i": i, "timeline": json.loads(i.timeline or "[]"), "affected": affected,
               "deadlines": incidents.deadlines(i, day), "may": may, "kinds": incidents.KINDS,
               "subjects": incidents.SUBJECTS, "reports": REPORTS, "done": DONE.get(done), "error": error or None}
    return render(request, "registers/incident.html", out)


def _incident_change(request: Request, auth, incident_id: str, call):
    try:
        with work(request, auth, PURPOSE) as ctx:
            call(ctx)
    except (Invalid, Conflict) as exc:
        from urllib.parse import quote
        return redirect(f"/registers/incidents/{incident_id}?error={quote(str(exc))}")
    return redirect(f"/registers/incidents/{incident_id}?done=updated")


@router.post("/incidents/{incident_id}/note")
def incident_note(request: Request, auth: PageDep, incident_id: str, text: Long = ""):
    return _incident_change(request, auth, incident_id, lambda ctx: incidents.note(ctx, incident_id, text))


@router.post("/incidents/{incident_id}/report/{which}")
def incident_report(request: Request, auth: PageDep, incident_id: str, which: str):
    return _incident_change(request, auth, incident_id, lambda ctx: incidents.file_report(ctx, incident_id, which))


@router.post("/incidents/{incident_id}/close")
def incident_close(request: Request, auth: PageDep, incident_id: str, summary: Long = ""):
    return _incident_change(request, auth, incident_id, lambda ctx: incidents.close(ctx, incident_id, summary))


# -- the emergency switch ----------------------------------------------------------------------
def _emergency_page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = emergency.list_switches(ctx)
    return render(request, "registers/emergency.html", {"rows": rows, "done": DONE.get(done), "error": error},
                  status=status)


@router.get("/emergency")
def emergency_page(request: Request, auth: PageDep, done: str = ""):
    return _emergency_page(request, auth, done=done)


@router.post("/emergency")
def emergency_on(request: Request, auth: PageDep, scope: Short = "", target: Short = "", reason: Long = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            emergency.switch_on(ctx, scope=scope, target=target, reason=reason)
    except (Invalid, Conflict, NotFound) as exc:
        return _emergency_page(request, auth, error=str(exc), status=400)
    return redirect("/registers/emergency?done=switched")


@router.post("/emergency/{switch_id}/lift")
def emergency_off(request: Request, auth: PageDep, switch_id: str, reason: Long = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            emergency.switch_off(ctx, switch_id, reason=reason)
    except (Invalid, Conflict, NotFound) as exc:
        return _emergency_page(request, auth, error=str(exc), status=400)
    return redirect("/registers/emergency?done=lifted")


# -- printouts and exports ---------------------------------------------------------------------
@router.get("/prints")
def print_register(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        rows = prints.print_register(ctx)
    return render(request, "registers/prints.html", {"rows": rows})


# -- patient media -----------------------------------------------------------------------------
def _media_page(request: Request, auth, *, done: str = "", error: str | None = None, made: dict | None = None,
                status: int = 200, form: dict | None = None):
    with work(request, auth, PURPOSE) as ctx:
        rows = media.list_media(ctx)
        may = _may(ctx, Action.RegisterMediaManage, "PatientMedium")
    return render(request, "registers/media.html",
                  {"rows": [(m, json.loads(m.studies)) for m in rows], "may": may, "purposes": PURPOSES,
                   "made": made, "form": form or {}, "done": DONE.get(done), "error": error}, status=status)


@router.get("/media")
def media_list(request: Request, auth: PageDep, done: str = ""):
    return _media_page(request, auth, done=done)


@router.post("/media")
def media_make(request: Request, auth: PageDep, dicom_patient_id: Short = "", purpose: Short = "",
               recipient: Short = ""):
    form = {"dicom_patient_id": dicom_patient_id, "purpose": purpose, "recipient": recipient}
    try:
        with work(request, auth) as ctx:
            m, data = media.make_medium(ctx, dicom_patient_id=dicom_patient_id.strip(), purpose=purpose,
                                        recipient=recipient)
            made = {"medium_id": m.medium_id, "sha256": m.image_sha256, "files": len(json.loads(m.contents))}
    except (Invalid, NotFound) as exc:
        return _media_page(request, auth, error=str(exc), form=form, status=400)
    made["token"] = handout.keep(auth.user_id, handout.Handout(data, f"{made['medium_id']}.zip", "application/zip",
                                                               str(made["sha256"])))
    return _media_page(request, auth, made=made, status=201)


@router.get("/media/download/{token}")
def media_download(request: Request, auth: PageDep, token: str):
    return handout.take(auth.user_id, token)


@router.post("/media/{medium_id}/mark")
def media_mark(request: Request, auth: PageDep, medium_id: str, state: Short = "", note: Long = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            media.mark(ctx, medium_id, returned=state == "returned", destroyed=state == "destroyed", note=note)
    except (Conflict, NotFound) as exc:
        return _media_page(request, auth, error=str(exc), status=409)
    return redirect("/registers/media?done=marked")
