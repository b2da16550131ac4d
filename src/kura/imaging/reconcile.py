"""Patient identity reconciliation between the archive and the records store (issue 10).

An emergency CT arrives before the 医事 registration: its DICOM Patient ID is then no
registered Patient's identifier, and the study is *unmatched*. When the Patient is
registered (or its identifier added) the archive links that Patient ID to it, moves the data
key of the images to the patient (kura.keys.service.link), compares each study's
demographics with the registration — flagging a disagreement, never merging silently — and
mirrors the agreeing studies as FHIR ImagingStudy. `reconcile_all` does the same for the
whole archive (``kura images reconcile``), idempotently.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Select, func, select

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target, highest
from kura.classes.models import ManagementClass
from kura.errors import Invalid
from kura.imaging import link
from kura.imaging.link import RegisteredPatient
from kura.imaging.models import ImagingPatient, ImagingStudy
from kura.imaging.query import Query, statement
from kura.imaging.service import RECORD_TYPE, study_target
from kura.keys import service as key_service
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["patient_registered", "link_patient", "reconcile_all", "unmatched", "count_unmatched",
           "flagged", "count_flagged_for_patient", "study_differences"]

Progress = Callable[[str, int, "int | None"], None]


def study_differences(registered: RegisteredPatient, study: ImagingStudy) -> str:
    """Why the study's demographics disagree with the registration, or ""."""
    return link.differences(registered, names=(study.name_alphabetic, study.name_ideographic, study.name_phonetic),
                            full=study.patient_name, birth_date=study.birth_date, sex=study.sex)


def link_patient(ctx: Context, patient: ImagingPatient, registered: RegisteredPatient, *, why: str) -> int:
    """Link the DICOM Patient ID `patient` to the registered Patient: its images' key moves to
    the patient, each study is compared (a disagreement flags it, an alert) and the agreeing
    ones are mirrored. No access check (callers authorised the change that led here).
    Returns how many studies were linked. Ledger: ImagingPatientLinked, ImagingStudyFlagged."""
    patient.fhir_patient_id = registered.fhir_id
    patient.confidentiality = registered.confidentiality
    key_service.link(ctx, key_service.owner_of_dicom(patient.patient_id),
                     key_service.owner_of_patient(registered.fhir_id))
    ctx.session.flush()
    studies = list(ctx.session.scalars(select(ImagingStudy).where(ImagingStudy.patient_ref == patient.id)
                                       .order_by(ImagingStudy.study_uid)))
    flagged_now = []
    for study in studies:
        diff = study_differences(registered, study)
        if diff and not study.flagged:
            study.flagged, study.flag_reason = True, diff[:2000]
            flagged_now.append(study.study_uid)
            ctx.record(LedgerTag.ImagingStudyFlagged, target=study_target(ctx, study), reason=diff,
                       detail={"study_uid": study.study_uid}, alert=True)
        ctx.session.flush()
        link.sync(ctx, study, confirmed=study.status == "confirmed", reason=why)
    ctx.record(LedgerTag.ImagingPatientLinked,
               target=Target(kind="ImagingPatient", id=patient.patient_id, patient_id=registered.fhir_id),
               reason=why, detail={"dicom_patient_id": patient.patient_id, "patient": registered.fhir_id,
                                   "studies": [s.study_uid for s in studies][:200], "flagged": flagged_now})
    return len(studies)


def patient_registered(ctx: Context, registered: RegisteredPatient, identifiers: list[str] | None = None) -> int:
    """The Patient was created or changed: every DICOM Patient ID among its identifiers that
    is linked to no Patient yet is linked to it now. Called by the records store inside the
    unit of work that wrote the Patient (already authorised). Returns the studies linked."""
    ids = sorted(set(identifiers if identifiers is not None else [registered.identifier]) - {""})
    if not ids:
        return 0
    done = 0
    for patient in ctx.session.scalars(select(ImagingPatient).where(ImagingPatient.patient_id.in_(ids),
                                                                     ImagingPatient.fhir_patient_id.is_(None))
                                       .order_by(ImagingPatient.patient_id)):
        done += link_patient(ctx, patient, registered, why=f"Patient/{registered.fhir_id} registered")
    return done


def reconcile_all(ctx: Context, progress: Progress | None = None) -> dict[str, int]:
    """Link every unmatched DICOM Patient ID whose Patient is registered, and make sure every
    linked, unflagged study has its FHIR ImagingStudy (written only when missing or out of
    step, so a second run changes nothing). Raises Denied, Invalid (no records store).
    Ledger: ImagingPatientLinked per link, ImagingArchiveReconciled (the totals)."""
    ctx.require(Action.ImagingArchiveReconcile, Target(kind="ImagingPatient"))
    records = link.port(ctx)
    if records is None:
        raise Invalid("the records store is not connected to the archive")
    tick = progress or (lambda stage, done, total: None)
    unlinked = list(ctx.session.scalars(select(ImagingPatient).where(ImagingPatient.fhir_patient_id.is_(None))
                                        .order_by(ImagingPatient.patient_id)))
    linked = studies = 0
    for i, patient in enumerate(unlinked, 1):
        registered = records.registered_patient(ctx, patient.patient_id)
        if registered is not None:
            studies += link_patient(ctx, patient, registered, why="kura images reconcile")
            linked += 1
        tick("Patient IDs matched against the registrations", i, len(unlinked))
    mirrored = list(ctx.session.scalars(
        select(ImagingStudy).join(ImagingPatient, ImagingStudy.patient_ref == ImagingPatient.id)
        .where(ImagingPatient.fhir_patient_id.is_not(None), ImagingStudy.flagged.is_(False))
        .order_by(ImagingStudy.study_uid)))
    for i, study in enumerate(mirrored, 1):
        link.sync(ctx, study, confirmed=study.status == "confirmed", reason="kura images reconcile")
        tick("Linked studies brought in step", i, len(mirrored))
    totals = {"patients_linked": linked, "studies_linked": studies, "studies_checked": len(mirrored),
              "unmatched_patients": len(unlinked) - linked,
              "flagged_studies": ctx.session.scalar(select(func.count()).select_from(ImagingStudy)
                                                    .where(ImagingStudy.flagged.is_(True))) or 0}
    ctx.record(LedgerTag.ImagingArchiveReconciled, target=Target(kind="ImagingPatient"), detail=totals)
    return totals


def _reachable(ctx: Context) -> list[tuple[str, str]]:
    """(class, label) pairs whose studies' demographics the caller may review: by clearance
    only, not the class's usage scope (kura.imaging.correct.review_target). Break-glass is
    not offered for a list."""
    pairs = []
    for mc in ctx.session.scalars(select(ManagementClass).order_by(ManagementClass.code)):
        for label in CONFIDENTIALITY:
            target = Target(kind=RECORD_TYPE, confidentiality=highest(mc.confidentiality, label))
            decision = ctx.allows(Action.ImagingStudyReconcile, target)
            if decision.allowed and not decision.break_glass:
                pairs.append((mc.code, label))
    return pairs


def _unmatched_stmt(ctx: Context) -> Select[*tuple[Any, ...]]:
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    allowed = _reachable(ctx)
    orphans = select(ImagingPatient.id).where(ImagingPatient.fhir_patient_id.is_(None))
    return statement(Query(level="STUDY", keys={}), allowed).where(ImagingStudy.patient_ref.in_(orphans))


def unmatched(ctx: Context, *, limit: int = 200) -> list[ImagingStudy]:
    """Studies whose DICOM Patient ID is no registered Patient's identifier, newest first —
    for the clerks and technologists to resolve (register the patient, or link the study).
    Raises Denied. Ledger: ImagingStudyQueried."""
    rows = list(ctx.session.scalars(_unmatched_stmt(ctx).limit(limit)))
    ctx.record(LedgerTag.ImagingStudyQueried, target=Target(kind=RECORD_TYPE),
               detail={"unmatched": True, "matches": len(rows)})
    return rows


def count_unmatched(ctx: Context) -> int:
    """How many studies are unmatched (the worklist's count). Raises Denied. No ledger entry:
    a number reveals no study."""
    stmt = _unmatched_stmt(ctx).order_by(None)
    return ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def count_flagged_for_patient(ctx: Context, patient_id: str) -> int:
    """How many studies under one DICOM Patient ID await review (the patient page's note for
    those who resolve them). Raises Denied. No ledger entry: a number reveals no study."""
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    return ctx.session.scalar(select(func.count()).select_from(ImagingStudy).where(
        ImagingStudy.patient_id == patient_id, ImagingStudy.flagged.is_(True))) or 0


def flagged(ctx: Context, *, limit: int = 200) -> list[ImagingStudy]:
    """Studies flagged for disagreeing demographics, awaiting review, oldest first.
    Raises Denied. Ledger: ImagingStudyQueried."""
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    allowed = _reachable(ctx)
    stmt = statement(Query(level="STUDY", keys={}), allowed).where(ImagingStudy.flagged.is_(True))
    rows = list(ctx.session.scalars(stmt.order_by(None).order_by(ImagingStudy.created_at).limit(limit)))
    ctx.record(LedgerTag.ImagingStudyQueried, target=Target(kind=RECORD_TYPE),
               detail={"flagged": True, "matches": len(rows)})
    return rows
