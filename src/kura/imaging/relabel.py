"""Changing a study's confidentiality: one study's own label (by a person, with a reason), and
every study of a patient when the registered Patient's label changes (kura.imaging.labels).

Both write ImagingStudyLabelled per study — an alert when the study's effective label goes
down — and keep the FHIR ImagingStudy's meta.security in step (kura.imaging.link.sync).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target, rank
from kura.errors import Invalid
from kura.imaging import link
from kura.imaging.models import ImagingPatient, ImagingStudy
from kura.imaging.service import RECORD_TYPE, get_study_row, study_target
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["set_study_label", "patient_label_changed"]


def set_study_label(ctx: Context, study_uid: str, *, label: str, reason: str) -> ImagingStudy:
    """Set one study's own v3 label (N, R or V). Raising and lowering both need a reason.

    The study's effective label stays the highest of this, its class's and its patient's, so
    lowering the own label never exposes a restricted patient's images. As for a record, the
    caller must be cleared for the study both before and after the change (nobody labels a
    study out of their own reach, nor opens one by relabelling it).
    Raises Denied (role, clearance), Invalid (label, no reason), NotFound.
    Ledger: ImagingStudyLabelled (the reason; an alert when the effective label goes down).
    """
    # The type-level right first, so a role without it is refused (and recorded) whatever the body.
    ctx.require(Action.ImagingStudyLabel, Target(kind=RECORD_TYPE))
    label = (label or "").strip().upper()
    if label not in CONFIDENTIALITY:
        raise Invalid("label must be N, R or V (v3 Confidentiality)")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("changing a study's confidentiality needs a reason")
    study = get_study_row(ctx, study_uid)
    before = study_target(ctx, study)
    ctx.require(Action.ImagingStudyLabel, before)
    if study.confidentiality == label:
        return study
    previous, study.confidentiality, study.updated_at = study.confidentiality, label, ctx.now()
    after = study_target(ctx, study)
    ctx.require(Action.ImagingStudyLabel, after)
    ctx.session.flush()
    link.sync(ctx, study, confirmed=study.status == "confirmed", reason=reason[:2000])
    _record(ctx, study, before, after, reason=reason[:2000], detail={"from": previous, "to": label})
    return study


def patient_label_changed(ctx: Context, *, fhir_patient_id: str, identifiers: list[str], label: str) -> int:
    """The registered Patient `fhir_patient_id` is now labelled `label`: every study of it takes
    the label at once. Its images are those linked to it, and those under a DICOM Patient ID
    equal to one of its `identifiers` not (yet) linked to any Patient.

    Called by the records store inside the unit of work that changed the Patient, which has
    authorised that change; no further access check. Returns how many studies changed.
    Raises nothing of its own. Ledger: ImagingStudyLabelled per study (alert when lowered).
    """
    if label not in CONFIDENTIALITY:
        raise Invalid("label must be N, R or V")
    owned = ImagingPatient.fhir_patient_id == fhir_patient_id
    if identifiers:
        owned = or_(owned, and_(ImagingPatient.fhir_patient_id.is_(None),
                                ImagingPatient.patient_id.in_(sorted(set(identifiers)))))
    changed = 0
    for patient in ctx.session.scalars(select(ImagingPatient).where(owned, ImagingPatient.confidentiality != label)
                                       .order_by(ImagingPatient.patient_id)):
        studies = list(ctx.session.scalars(select(ImagingStudy).where(ImagingStudy.patient_ref == patient.id)
                                           .order_by(ImagingStudy.study_uid)))
        before = {s.id: study_target(ctx, s) for s in studies}
        previous, patient.confidentiality = patient.confidentiality, label
        ctx.session.flush()
        why = f"Patient/{fhir_patient_id} labelled {label}"
        for study in studies:
            after = study_target(ctx, study)
            link.sync(ctx, study, confirmed=study.status == "confirmed", reason=why)
            _record(ctx, study, before[study.id], after, reason=why,
                    detail={"patient": {"from": previous, "to": label}, "source": f"Patient/{fhir_patient_id}"})
            changed += 1
    return changed


def _record(ctx: Context, study: ImagingStudy, before: Target, after: Target, *, reason: str,
            detail: dict[str, Any]) -> None:
    lowered = rank(after.confidentiality) < rank(before.confidentiality)
    ctx.record(LedgerTag.ImagingStudyLabelled, target=after, reason=reason, alert=True if lowered else None,
               detail={**detail, "effective": {"from": before.confidentiality, "to": after.confidentiality},
                       "study_uid": study.study_uid})
