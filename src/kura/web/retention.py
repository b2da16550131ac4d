"""/api/holds and /api/disposals (CONTRACT.md "Retention, hold and disposal"): JSON in and out,
errors as {"detail"}. Each route is one kura.disposal call in the request's unit of work."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kura.access.purpose import Purpose
from kura.disposal import holds
from kura.disposal import service as disposals
from kura.errors import Invalid
from kura.web.deps import AuthDep, kura_of, work

__all__ = ["router", "header_text"]

router = APIRouter(prefix="/api", tags=["retention"])
PURPOSE = Purpose.HSYSADMIN


def header_text(request: Request, name: str) -> str | None:
    """A text header (CONTRACT.md): percent-encoded UTF-8; a raw non-ASCII value is refused."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.isascii():
        raise Invalid(f"{name} must be percent-encoded UTF-8")
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise Invalid(f"{name} is not valid percent-encoded UTF-8") from None


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class DisposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


def _hold_json(h) -> dict:
    return {"id": h.id, "patient": h.patient_id, "reason": h.reason, "placed_by": h.placed_by_name,
            "placed_at": h.placed_at.isoformat(), "lifted_at": h.lifted_at.isoformat() if h.lifted_at else None,
            "lifted_by": h.lifted_by_name, "lift_reason": h.lift_reason or None}


def _disposal_json(request: Request, d) -> dict:
    out = {"id": d.id, "patient": d.patient_id, "status": d.status, "reason": d.reason,
           "retention_end": d.retention_end, "requested_by": d.requested_by_name,
           "requested_at": d.requested_at.isoformat(), "approved_by": d.approved_by_name,
           "approved_at": d.approved_at.isoformat() if d.approved_at else None}
    if d.status == "done":
        out["certificate"] = str(request.url_for("disposal_certificate", disposal_id=d.id))
        out["signature"] = str(request.url_for("disposal_certificate_signature", disposal_id=d.id))
    return out


@router.post("/holds", status_code=201)
def place_hold(body: HoldIn, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        return {"id": holds.place(ctx, patient_id=body.patient, reason=body.reason).id}


@router.get("/holds")
def list_holds(request: Request, auth: AuthDep, active: bool = False):
    with work(request, auth, PURPOSE) as ctx:
        return [_hold_json(h) for h in holds.list_holds(ctx, active_only=active)]


@router.delete("/holds/{hold_id}", status_code=204)
def lift_hold(hold_id: str, request: Request, auth: AuthDep):
    reason = header_text(request, "x-kura-reason")
    with work(request, auth, PURPOSE) as ctx:
        holds.lift(ctx, hold_id, reason=reason or "")
    return Response(status_code=204)


@router.post("/disposals", status_code=201)
def request_disposal(body: DisposalIn, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        d = disposals.request(ctx, patient_id=body.patient, reason=body.reason)
        return {"id": d.id, "status": d.status, "retention_end": d.retention_end}


@router.get("/disposals")
def list_disposals(request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        return [_disposal_json(request, d) for d in disposals.list_disposals(ctx)]


@router.get("/disposals/{disposal_id}")
def get_disposal(disposal_id: str, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        return _disposal_json(request, disposals.get(ctx, disposal_id))


@router.post("/disposals/{disposal_id}/approve")
def approve_disposal(disposal_id: str, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        d = disposals.approve(ctx, disposal_id)
        body = _disposal_json(request, d)
    disposals.after_approval(kura_of(request), auth.subject, disposal_id)
    return {"status": body["status"], "certificate": body["certificate"], "signature": body["signature"],
            "id": body["id"]}


@router.post("/disposals/{disposal_id}/withdraw")
def withdraw_disposal(disposal_id: str, request: Request, auth: AuthDep):
    reason = header_text(request, "x-kura-reason")
    with work(request, auth, PURPOSE) as ctx:
        return _disposal_json(request, disposals.withdraw(ctx, disposal_id, reason=reason or ""))


@router.get("/disposals/{disposal_id}/certificate", name="disposal_certificate")
def disposal_certificate(disposal_id: str, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        pdf, _ = disposals.certificate_of(ctx, disposal_id)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="disposal-{disposal_id}.pdf"', "Cache-Control": "no-store"})


@router.get("/disposals/{disposal_id}/certificate.sig", name="disposal_certificate_signature")
def disposal_certificate_signature(disposal_id: str, request: Request, auth: AuthDep):
    with work(request, auth, PURPOSE) as ctx:
        _, sig = disposals.certificate_of(ctx, disposal_id)
    return Response(sig.line() + "\n", media_type="text/plain", headers={
        "Content-Disposition": f'attachment; filename="disposal-{disposal_id}.sig"', "Cache-Control": "no-store"})
