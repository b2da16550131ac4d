"""Accounts by request and approval (利用申請, R10), the user duties (利用者の責務) and their
acknowledgement, and the training records (R82).

Each page calls one kura.identity service inside the request's unit of work; the services
check access (AdminRequestCreate/Decide/Read, AdminDutiesManage, SelfDutiesAcknowledge,
AdminTrainingManage/Read) and write the ledger entries.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target
from kura.errors import Conflict, Invalid, NotFound
from kura.identity import duties, lifecycle, requests, training
from kura.identity import service as identity
from kura.web.deps import AuthPendingDep, kura_of, work
from kura.web.i18n import language_of
from kura.web.ui.render import PERSON_ROLES, PageDep, qr_data_uri, redirect, render

__all__ = ["router", "DONE", "STATES", "COURSE_STATES"]

router = APIRouter(include_in_schema=False)

PURPOSE = "HSYSADMIN"
REQUESTS = Target(kind="AccountRequest")
TRAINING = Target(kind="Training")

DONE = {"submitted": "The request has been sent to the system administrator.",
        "refused": "The request has been refused.", "approved": "The request has been approved.",
        "published": "The new version has been published. Every user acknowledges it at their next sign-in.",
        "training": "The training has been recorded."}
STATES = {"pending": "Pending", "approved": "Approved by the administrator", "refused": "Refused by the administrator"}
KINDS = {"create": "New account", "change": "Change of roles, clearance or end date"}
COURSE_STATES = {"never": "Never taken", "expired": "Expired", "soon": "Expires soon", "ok": "Valid"}

Text = Annotated[str, Form(max_length=200)]
LongText = Annotated[str, Form(max_length=2000)]
Choices = Annotated[list[str], Form()]


# -- the user duties: acknowledgement ------------------------------------------------------

@router.get("/account/duties")
def duties_page(request: Request, auth: AuthPendingDep, error: str = ""):
    if auth.must_change_password:
        return redirect("/account/password")
    with work(request, auth, "HOPERAT") as ctx:
        text = duties.current(ctx)
        view = {"version": text.version, "text": text.text, "published_at": text.published_at} if text else None
    return render(request, "accounts/duties.html", {"duties": view, "pending": bool(auth.duties_due),
                                                    "error": error or None})


@router.post("/account/duties")
def acknowledge(request: Request, auth: AuthPendingDep, version: Annotated[int, Form(ge=1)] = 0):
    if auth.must_change_password:
        return redirect("/account/password")
    try:
        with work(request, auth, "HOPERAT") as ctx:
            duties.acknowledge(ctx, user=identity.get_user(ctx, auth.username), version=version)
    except Conflict:
        return redirect("/account/duties?error=" + quote("The user duties have changed: please read the current version."))
    return redirect("/")


# -- the user duties: the administrator's text ---------------------------------------------

@router.get("/admin/duties")
def duties_admin(request: Request, auth: PageDep, done: str = ""):
    return _duties_admin_page(request, auth, done=DONE.get(done))


def _duties_admin_page(request: Request, auth, *, draft: str | None = None, error: str | None = None,
                       done: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = duties.versions(ctx)
        all_versions = [{"version": v.version, "text": v.text, "published_at": v.published_at,
                         "published_by": v.published_by, "sha256": v.sha256} for v in rows]
        people = duties.standings(ctx)
    if draft is None:
        draft = rows[0].text if rows else duties.SUGGESTED
    return render(request, "accounts/duties_admin.html",
                  {"versions": all_versions, "draft": draft, "people": people, "error": error, "done": done},
                  status=status)


@router.post("/admin/duties")
def publish_duties(request: Request, auth: PageDep, text: Annotated[str, Form(max_length=20000)] = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            duties.publish(ctx, text=text)
    except Invalid as exc:
        return _duties_admin_page(request, auth, draft=text, error=str(exc), status=400)
    return redirect("/admin/duties?done=published")


# -- account requests ------------------------------------------------------------------

def _request_row(r) -> dict:
    return {"id": r.id, "kind": r.kind, "username": r.username, "display_name": r.display_name,
            "department": r.department, "roles": [x for x in r.roles.split(",") if x], "clearance": r.clearance,
            "end_date": r.end_date, "reason": r.reason, "state": r.state, "requested_by": r.requested_by_name,
            "requested_at": r.requested_at, "decided_by": r.decided_by_name, "decided_at": r.decided_at,
            "decision_reason": r.decision_reason}


@router.get("/accounts/requests")
def request_list(request: Request, auth: PageDep, done: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        rows = [_request_row(r) for r in requests.list_requests(ctx)]
        may_ask = ctx.allows(Action.AdminRequestCreate, REQUESTS).allowed
        may_decide = ctx.allows(Action.AdminRequestDecide, REQUESTS).allowed
    return render(request, "accounts/requests.html",
                  {"rows": rows, "states": STATES, "kinds": KINDS, "may_ask": may_ask, "may_decide": may_decide,
                   "done": DONE.get(done)})


def _new_request_page(request: Request, form: dict | None = None, error: str | None = None, status: int = 200):
    return render(request, "accounts/request_new.html",
                  {"roles": PERSON_ROLES, "levels": CONFIDENTIALITY, "kinds": KINDS,
                   "form": form or {"kind": "create", "clearance": "N", "roles": []}, "error": error}, status=status)


@router.get("/accounts/requests/new")
def new_request(request: Request, auth: PageDep, kind: str = "create", username: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AdminRequestCreate, REQUESTS)
    form = {"kind": kind if kind in KINDS else "create", "clearance": "N", "roles": [], "username": username}
    return _new_request_page(request, form)


@router.post("/accounts/requests")
def submit_request(request: Request, auth: PageDep, kind: Text = "create", username: Text = "",
                   display_name: Text = "", department: Text = "",
                   clearance: Annotated[str, Form(max_length=1)] = "N", end_date: Text = "",
                   reason: LongText = "", roles: Choices = []):  # noqa: B006 (FastAPI copies defaults)
    form = {"kind": kind, "username": username, "display_name": display_name, "department": department,
            "clearance": clearance, "end_date": end_date, "reason": reason, "roles": roles}
    try:
        with work(request, auth, PURPOSE) as ctx:
            requests.submit(ctx, kind=kind, username=username, display_name=display_name, department=department,
                            roles=roles, clearance=clearance, end_date=end_date or None, reason=reason)
    except Conflict as exc:
        return _new_request_page(request, form, str(exc), 409)
    except (Invalid, NotFound) as exc:
        return _new_request_page(request, form, str(exc), 400)
    return redirect("/accounts/requests?done=submitted")


def _request_page(request: Request, auth, req_id: str, error: str | None = None, status: int = 200,
                  done: str | None = None):
    with work(request, auth, PURPOSE) as ctx:
        row = _request_row(requests.get_request(ctx, req_id))
        may_decide = ctx.allows(Action.AdminRequestDecide, REQUESTS).allowed
        mine = row["requested_by"] == auth.username
    return render(request, "accounts/request.html",
                  {"r": row, "states": STATES, "kinds": KINDS, "may_decide": may_decide and not mine,
                   "mine": mine, "error": error, "done": done}, status=status)


@router.get("/accounts/requests/{req_id}")
def show_request(request: Request, auth: PageDep, req_id: str, done: str = ""):
    return _request_page(request, auth, req_id, done=DONE.get(done))


@router.post("/accounts/requests/{req_id}/approve")
def approve_request(request: Request, auth: PageDep, req_id: str, note: LongText = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            done = requests.approve(ctx, req_id, note=note)
            name, password, uri = done.user.username, done.password, done.uri
    except (Invalid, Conflict) as exc:
        return _request_page(request, auth, req_id, str(exc), 400)
    if uri is None:
        return redirect(f"/accounts/requests/{req_id}?done=approved")
    # Shown once: the one-time password and the secret are never displayed again.
    return render(request, "admin/user_secret.html",
                  {"username": name, "uri": uri, "qr": qr_data_uri(uri), "reset": False, "password": password},
                  status=201)


@router.post("/accounts/requests/{req_id}/refuse")
def refuse_request(request: Request, auth: PageDep, req_id: str, reason: LongText = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            requests.refuse(ctx, req_id, reason=reason)
    except (Invalid, Conflict) as exc:
        return _request_page(request, auth, req_id, str(exc), 400)
    return redirect("/accounts/requests?done=refused")


# -- end dates (the administrator's user page) ------------------------------------------

@router.post("/admin/users/{username}/end-date")
def set_end_date(request: Request, auth: PageDep, username: str, end_date: Text = "", reason: LongText = ""):
    from kura.web.ui.admin import _user_page

    try:
        with work(request, auth, PURPOSE) as ctx:
            lifecycle.set_end_date(ctx, username=username, end_date=end_date or None, reason=reason)
    except (Invalid, Conflict) as exc:
        return _user_page(request, auth, username, str(exc), 400)
    return redirect(f"/admin/users/{username}?done=end_date")


# -- training ---------------------------------------------------------------------------

def _course(code: str, lang: str) -> str:
    ja, en = training.COURSES.get(code, (code, code))
    return ja if lang == "ja" else en


@router.get("/training")
def training_list(request: Request, auth: PageDep, done: str = ""):
    lang = language_of(request, kura_of(request).settings.language)
    with work(request, auth, PURPOSE) as ctx:
        rows = [{"id": r.id, "username": u.username, "display_name": u.display_name, "course": _course(r.course, lang),
                 "title": r.title, "completed_on": r.completed_on, "expires_on": r.expires_on,
                 "evidence": r.evidence_name or ("✓" if r.evidence_blob else ""), "has_evidence": bool(r.evidence_blob),
                 "recorded_by": r.recorded_by} for r, u in training.list_records(ctx)]
        due = [{"username": s.username, "display_name": s.display_name, "department": s.department,
                "last_on": s.last_on, "expires_on": s.expires_on, "state": state}
               for s, state in training.due_report(ctx)]
        may_record = ctx.allows(Action.AdminTrainingManage, TRAINING).allowed
    return render(request, "accounts/training.html",
                  {"rows": rows, "due": due, "states": COURSE_STATES, "may_record": may_record,
                   "rule": kura_of(request).settings.training_rule, "done": DONE.get(done)})


def _training_form(request: Request, form: dict | None = None, error: str | None = None, status: int = 200):
    lang = language_of(request, kura_of(request).settings.language)
    with work(request, request.state.auth, PURPOSE) as ctx:
        users = training.people(ctx)
    return render(request, "accounts/training_new.html",
                  {"users": users, "courses": [(c, _course(c, lang)) for c in training.COURSES],
                   "form": form or {"course": training.ANNUAL}, "error": error}, status=status)


@router.get("/training/new")
def new_training(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AdminTrainingManage, TRAINING)
    return _training_form(request)


@router.post("/training")
async def save_training(request: Request, auth: PageDep):
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("evidence")
    data = name = content_type = None
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read() or None
        name, content_type = upload.filename, upload.content_type
    try:
        with work(request, auth, PURPOSE) as ctx:
            training.record(ctx, username=values.get("username", ""), course=values.get("course", ""),
                            completed_on=values.get("completed_on", ""), expires_on=values.get("expires_on") or None,
                            title=values.get("title", ""), note=values.get("note", ""), evidence=data,
                            evidence_name=name or "", evidence_type=content_type or "")
    except (Invalid, NotFound) as exc:
        return _training_form(request, values, str(exc), 400)
    return redirect("/training?done=training")


@router.get("/training/{record_id}/evidence")
def training_evidence(request: Request, auth: PageDep, record_id: str):
    with work(request, auth, PURPOSE) as ctx:
        data, row = training.evidence(ctx, record_id)
        name, content_type = row.evidence_name or "evidence", row.evidence_type or "application/octet-stream"
    return Response(data, media_type=content_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
