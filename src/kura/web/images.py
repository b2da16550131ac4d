"""Images over HTTP: the technologist's image check (検像) — confirm or send back a study —
and one study's confidentiality label (issue 7)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kura.imaging import relabel
from kura.imaging import service as imaging
from kura.imaging.labels import effective_label
from kura.errors import Conflict
from kura.web.deps import AuthDep, kura_of, work
from kura.web.i18n import gettext_for, language_of

__all__ = ["router"]

router = APIRouter(prefix="/api/studies", tags=["images"])


def _study_json(study) -> dict:
    return {"study_uid": study.study_uid, "status": study.status, "by": study.status_by,
            "at": study.status_at.isoformat() if study.status_at else None,
            "reason": study.status_reason, "instances": study.num_instances}


@router.post("/{study_uid}/confirm")
def confirm(study_uid: str, request: Request, auth: AuthDep):
    """検像 (確定): freeze the study's current instance set as confirmed by the caller.
    A flagged study is refused with 409 and says why in the user's language (Japanese first)."""
    try:
        with work(request, auth) as ctx:
            return _study_json(imaging.confirm(ctx, study_uid))
    except Conflict as exc:
        if str(exc) != imaging.FLAGGED:
            raise
        lang = language_of(request, kura_of(request).settings.language)
        return JSONResponse({"detail": gettext_for(lang)(imaging.FLAGGED), "flagged": True,
                             "review": f"/images/studies/{study_uid}/review"}, status_code=409)


class ReturnBody(BaseModel):
    reason: str


@router.post("/{study_uid}/return")
def send_back(study_uid: str, body: ReturnBody, request: Request, auth: AuthDep):
    """Send the study back with a reason; corrected instances then arrive as new versions."""
    with work(request, auth) as ctx:
        return _study_json(imaging.return_study(ctx, study_uid, reason=body.reason))


class LabelBody(BaseModel):
    label: str
    reason: str = ""


@router.put("/{study_uid}/confidentiality")
def set_confidentiality(study_uid: str, body: LabelBody, request: Request, auth: AuthDep):
    """Set the study's own v3 label (N/R/V) with a reason (raising and lowering alike). The
    answer names the effective label: the highest of this, the class's and the patient's."""
    with work(request, auth) as ctx:
        study = relabel.set_study_label(ctx, study_uid, label=body.label, reason=body.reason)
        return {"study_uid": study.study_uid, "label": study.confidentiality,
                "effective": effective_label(ctx, study)}
