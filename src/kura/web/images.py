"""The technologist's image check (検像) over HTTP: confirm or send back a study."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kura.imaging import service as imaging
from kura.web.deps import AuthDep, work

__all__ = ["router"]

router = APIRouter(prefix="/api/studies", tags=["images"])


def _study_json(study) -> dict:
    return {"study_uid": study.study_uid, "status": study.status, "by": study.status_by,
            "at": study.status_at.isoformat() if study.status_at else None,
            "reason": study.status_reason, "instances": study.num_instances}


@router.post("/{study_uid}/confirm")
def confirm(study_uid: str, request: Request, auth: AuthDep):
    """検像 (確定): freeze the study's current instance set as confirmed by the caller."""
    with work(request, auth) as ctx:
        return _study_json(imaging.confirm(ctx, study_uid))


class ReturnBody(BaseModel):
    reason: str


@router.post("/{study_uid}/return")
def send_back(study_uid: str, body: ReturnBody, request: Request, auth: AuthDep):
    """Send the study back with a reason; corrected instances then arrive as new versions."""
    with work(request, auth) as ctx:
        return _study_json(imaging.return_study(ctx, study_uid, reason=body.reason))
