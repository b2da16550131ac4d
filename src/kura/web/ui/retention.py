"""保存期間・廃棄: the disposal worklist, legal holds and the two-person disposal, on screen.

Each page calls one kura.disposal service inside the request's unit of work; the services
ask the policy (RetentionDisposalRead/Request/Approve, RetentionHoldPlace/Lift) and write
the ledger entries. Nothing here decides who may do what.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from kura.access.actions import Action
from kura.access.policy import Target
from kura.access.purpose import Purpose
from kura.disposal import holds
from kura.disposal import service as disposals
from kura.disposal.worklist import worklist
from kura.errors import Conflict, Invalid, NotFound, SamePerson
from kura.web.deps import kura_of, work
from kura.web.ui.render import PageDep, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/retention", include_in_schema=False)
PURPOSE = Purpose.HSYSADMIN

DONE = {"requested": "The disposal has been requested. Another administrator or the operations manager approves it.",
        "approved": "The data has been disposed of; the signed certificate is below.",
        "held": "The legal hold has been placed.", "lifted": "The legal hold has been lifted.",
        "withdrawn": "The disposal request has been withdrawn."}
STATES = {"ended": "Retention ended", "running": "In retention", "held": "Legal hold",
          "pending": "Waiting for approval"}

Reason = Annotated[str, Form(max_length=2000)]
PatientField = Annotated[str, Form(max_length=64)]


def _may(ctx, action: Action) -> bool:
    return ctx.allows(action, Target(kind="Patient")).allowed


def _page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200,
          everyone: bool = False):
    with work(request, auth, PURPOSE) as ctx:
        rows = worklist(ctx, everyone=everyone)
        may = {"request": _may(ctx, Action.RetentionDisposalRequest), "hold": _may(ctx, Action.RetentionHoldPlace)}
        active = holds.list_holds(ctx, active_only=True)
    return render(request, "retention/worklist.html",
                  {"rows": rows, "may": may, "states": STATES, "holds": active, "everyone": everyone,
                   "done": DONE.get(done), "error": error}, status=status)


@router.get("")
def worklist_page(request: Request, auth: PageDep, done: str = "", all: bool = False):
    return _page(request, auth, done=done, everyone=all)


@router.post("/disposals")
def request_disposal(request: Request, auth: PageDep, patient: PatientField = "", reason: Reason = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            disposals.request(ctx, patient_id=patient, reason=reason)
    except (Invalid, Conflict, NotFound) as exc:
        return _page(request, auth, error=str(exc), status=409 if isinstance(exc, Conflict) else 400)
    return redirect("/retention/disposals?done=requested")


@router.post("/holds")
def place_hold(request: Request, auth: PageDep, patient: PatientField = "", reason: Reason = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            holds.place(ctx, patient_id=patient, reason=reason)
    except (Invalid, NotFound) as exc:
        return _page(request, auth, error=str(exc), status=400)
    return redirect("/retention?done=held")


@router.post("/holds/{hold_id}/lift")
def lift_hold(request: Request, auth: PageDep, hold_id: str, reason: Reason = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            holds.lift(ctx, hold_id, reason=reason)
    except (Invalid, Conflict, NotFound) as exc:
        return _page(request, auth, error=str(exc), status=400)
    return redirect("/retention?done=lifted")


def _disposals_page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = disposals.list_disposals(ctx)
        may_approve = _may(ctx, Action.RetentionDisposalApprove)
        me = ctx.actor
    return render(request, "retention/disposals.html",
                  {"rows": rows, "may_approve": may_approve, "me_id": me.id if me else None,
                   "done": DONE.get(done), "error": error}, status=status)


@router.get("/disposals")
def disposals_page(request: Request, auth: PageDep, done: str = ""):
    return _disposals_page(request, auth, done=done)


@router.post("/disposals/{disposal_id}/approve")
def approve(request: Request, auth: PageDep, disposal_id: str):
    try:
        with work(request, auth, PURPOSE) as ctx:
            disposals.approve(ctx, disposal_id)
        disposals.after_approval(kura_of(request), auth.subject, disposal_id)
    except SamePerson:
        return _disposals_page(request, auth, error="You requested this disposal: another person must approve it.",
                               status=403)
    except (Conflict, NotFound) as exc:
        return _disposals_page(request, auth, error=str(exc), status=409)
    return redirect("/retention/disposals?done=approved")


@router.post("/disposals/{disposal_id}/withdraw")
def withdraw(request: Request, auth: PageDep, disposal_id: str, reason: Reason = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            disposals.withdraw(ctx, disposal_id, reason=reason)
    except (Invalid, Conflict, NotFound) as exc:
        return _disposals_page(request, auth, error=str(exc), status=400)
    return redirect("/retention/disposals?done=withdrawn")


@router.get("/disposals/{disposal_id}/certificate.pdf")
def certificate(request: Request, auth: PageDep, disposal_id: str):
    with work(request, auth, PURPOSE) as ctx:
        pdf, _ = disposals.certificate_of(ctx, disposal_id)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="disposal-{disposal_id}.pdf"', "Cache-Control": "no-store"})


@router.get("/disposals/{disposal_id}/certificate.sig")
def signature(request: Request, auth: PageDep, disposal_id: str):
    with work(request, auth, PURPOSE) as ctx:
        _, sig = disposals.certificate_of(ctx, disposal_id)
    return Response(sig.line() + "\n", media_type="text/plain", headers={
        "Content-Disposition": f'attachment; filename="disposal-{disposal_id}.sig"', "Cache-Control": "no-store"})
