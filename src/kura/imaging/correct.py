"""The review of a study whose patient does not match (issue 10): both sets of demographics
side by side, then link it to the right registered patient, correct its patient attributes,
or send it back (kura.imaging.service.return_study).

A correction is a new version (ImagingCorrection) with a reason; the received bytes are
never rewritten, and the corrected header is what retrieval serves (kura.imaging.pir, IHE
PIR). The clerk — the records side — may review and link a study to a registered patient
(the attributes then come from the registration, not from free text); writing other values
into the images' header is the technologist's (ImagingStudyCorrect), who answers for them.
"""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.db.base import new_id
from kura.errors import Invalid, NotFound
from kura.imaging import link, reconcile
from kura.imaging.keys import owner_of
from kura.imaging.labels import effective_label
from kura.imaging.link import RegisteredPatient
from kura.imaging.models import ImagingCorrection, ImagingPatient, ImagingStudy
from kura.imaging.names import PersonName, search_key, split_person_name
from kura.imaging.service import RECORD_TYPE, get_study_row
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["Review", "review_target", "review", "link_to_patient", "link_to_identifier", "NO_PATIENT", "correct", "person_name", "corrections"]

SEXES = ("M", "F", "O")
NO_PATIENT = "No registered patient has this patient ID."


def review_target(ctx: Context, study: ImagingStudy) -> Target:
    """The access target of a study's demographics: its effective label and patient, but not
    its class's usage scope — the review shows who the images claim to be, never the images,
    so the clerk (outside the image class's scope) may resolve the records side."""
    return Target(kind=RECORD_TYPE, id=study.study_uid, patient_id=study.patient_id,
                  confidentiality=effective_label(ctx, study))


@dataclasses.dataclass(frozen=True)
class Review:
    study: ImagingStudy
    received: dict[str, str]  # the patient attributes as the modality sent them
    current: dict[str, str]  # as served now (after corrections)
    registered: RegisteredPatient | None  # the registered patient of the study's Patient ID
    differs: frozenset[str]  # the fields that disagree: name, birth_date, sex
    history: list[ImagingCorrection]


def _values(study: ImagingStudy) -> dict[str, str]:
    return {"patient_id": study.patient_id, "patient_name": study.patient_name,
            "name_ideographic": study.name_ideographic.replace("^", " ").strip(),
            "name_phonetic": study.name_phonetic.replace("^", " ").strip(),
            "name_alphabetic": study.name_alphabetic.replace("^", " ").strip(),
            "birth_date": study.birth_date, "sex": study.sex}


def corrections(ctx: Context, study: ImagingStudy) -> list[ImagingCorrection]:
    return list(ctx.session.scalars(select(ImagingCorrection).where(ImagingCorrection.study_ref == study.id)
                                    .order_by(ImagingCorrection.version)))


def _differs(registered: RegisteredPatient | None, study: ImagingStudy) -> frozenset[str]:
    if registered is None:
        return frozenset()
    out = set()
    diff = reconcile.study_differences(registered, study)
    # the words link.differences writes for each field
    if "氏名" in diff:
        out.add("name")
    if "生年月日" in diff:
        out.add("birth_date")
    if "性別" in diff:
        out.add("sex")
    return frozenset(out)


def review(ctx: Context, study_uid: str) -> Review:
    """Both sets of demographics: the study's (as received and as served) and the registered
    patient's. Raises NotFound, Denied. Ledger: ImagingStudyRead (review)."""
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    study = get_study_row(ctx, study_uid)
    target = review_target(ctx, study)
    ctx.require(Action.ImagingStudyReconcile, target)
    records = link.port(ctx)
    registered = records.registered_patient(ctx, study.patient_id) if records is not None else None
    history = corrections(ctx, study)
    received = json.loads(history[0].original) if history else _values(study)
    ctx.record(LedgerTag.ImagingStudyRead, target=target, detail={"review": True})
    return Review(study=study, received=received, current=_values(study), registered=registered,
                  differs=_differs(registered, study), history=history)


def person_name(*, ideographic: str = "", phonetic: str = "", alphabetic: str = "") -> str:
    """A DICOM PN from names as people type them ("山田 太郎"): family^given per group."""
    def group(text: str) -> str:
        parts = " ".join((text or "").replace("　", " ").split()).split(" ", 1)
        return "^".join(p for p in parts if p)
    return PersonName(group(alphabetic), group(ideographic), group(phonetic)).full


def link_to_patient(ctx: Context, study_uid: str, *, fhir_patient_id: str, reason: str) -> ImagingStudy:
    """Link the study to the registered Patient `fhir_patient_id`: its patient attributes
    become that registration's (Patient ID = the patient's 患者ID). Raises Invalid (no
    reason), NotFound (no such study or patient), Denied. Ledger: ImagingStudyCorrected."""
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    records = link.port(ctx)
    registered = records.find_registered(ctx, fhir_patient_id) if records is not None else None
    if registered is None or not registered.identifier:
        raise NotFound(f"no registered Patient {fhir_patient_id}")
    ctx.require(Action.RecordsRecordSearch, Target(kind="Patient"))
    name = person_name(ideographic=registered.name, phonetic=registered.kana)
    return _apply(ctx, study_uid, action=Action.ImagingStudyReconcile, kind="link", reason=reason,
                  values={"patient_id": registered.identifier, "patient_name": name,
                          "birth_date": registered.birth_date, "sex": registered.sex})


def link_to_identifier(ctx: Context, study_uid: str, *, identifier: str, reason: str) -> ImagingStudy:
    """`link_to_patient` for the Patient registered under the 患者ID `identifier` (the one
    the images carry, or another). Raises NotFound (no one Patient has it), as link_to_patient."""
    ctx.require(Action.ImagingStudyReconcile, Target(kind=RECORD_TYPE))
    records = link.port(ctx)
    registered = records.registered_patient(ctx, (identifier or "").strip()) if records is not None else None
    if registered is None:
        raise NotFound(NO_PATIENT)
    return link_to_patient(ctx, study_uid, fhir_patient_id=registered.fhir_id, reason=reason)


def correct(ctx: Context, study_uid: str, *, patient_id: str, ideographic: str, phonetic: str,
            alphabetic: str = "", birth_date: str, sex: str, reason: str) -> ImagingStudy:
    """Correct the study's patient attributes (the technologist's). Raises Invalid (no reason,
    no Patient ID, a bad date or sex), NotFound, Denied. Ledger: ImagingStudyCorrected."""
    ctx.require(Action.ImagingStudyCorrect, Target(kind=RECORD_TYPE))
    birth = (birth_date or "").replace("-", "").strip()
    if birth and (len(birth) != 8 or not birth.isdigit()):
        raise Invalid("the birth date is YYYY-MM-DD")
    sex = (sex or "").strip().upper()
    if sex and sex not in SEXES:
        raise Invalid("the sex is M, F or O")
    name = person_name(ideographic=ideographic, phonetic=phonetic, alphabetic=alphabetic)
    return _apply(ctx, study_uid, action=Action.ImagingStudyCorrect, kind="correct", reason=reason,
                  values={"patient_id": (patient_id or "").strip(), "patient_name": name,
                          "birth_date": birth, "sex": sex})


def _imaging_patient(ctx: Context, patient_id: str, study: ImagingStudy) -> ImagingPatient:
    row = ctx.session.scalar(select(ImagingPatient).where(ImagingPatient.patient_id == patient_id))
    if row is None:
        row = ImagingPatient(id=new_id(), patient_id=patient_id, name=study.patient_name,
                             birth_date=study.birth_date, sex=study.sex, created_at=ctx.now())
        ctx.session.add(row)
        ctx.session.flush()
    return row


def _apply(ctx: Context, study_uid: str, *, action: Action, kind: str, reason: str, values: dict[str, str]) -> ImagingStudy:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a correction of a study's patient needs a reason")
    if not values["patient_id"] or len(values["patient_id"]) > 64:
        raise Invalid("the Patient ID is 1 to 64 characters")
    study = get_study_row(ctx, study_uid)
    before = review_target(ctx, study)
    ctx.require(action, before)
    history = corrections(ctx, study)
    original = history[0].original if history else json.dumps(_values(study), ensure_ascii=False)
    old_patient = ctx.session.get_one(ImagingPatient, study.patient_ref)
    key_owner = owner_of(old_patient)
    previous = _values(study)
    name = split_person_name(values["patient_name"])
    study.patient_id, study.patient_name = values["patient_id"], name.full
    study.name_alphabetic, study.name_ideographic = name.alphabetic[:200], name.ideographic[:200]
    study.name_phonetic, study.name_search = name.phonetic[:200], search_key(name)[:800]
    study.birth_date, study.sex = values["birth_date"], values["sex"]
    new_patient = _imaging_patient(ctx, study.patient_id, study)
    study.patient_ref = new_patient.id
    study.updated_at = ctx.now()
    records = link.port(ctx)
    registered = records.registered_patient(ctx, study.patient_id) if records is not None else None
    ctx.session.flush()
    if registered is not None and new_patient.fhir_patient_id is None:
        reconcile.link_patient(ctx, new_patient, registered, why=reason[:2000])
    diff = reconcile.study_differences(registered, study) if registered is not None else ""
    study.flagged, study.flag_reason = bool(diff), diff[:2000]
    version = (history[-1].version + 1) if history else 1
    ctx.session.add(ImagingCorrection(
        study_ref=study.id, version=version, kind=kind, patient_id=study.patient_id,
        patient_name=study.patient_name, birth_date=study.birth_date, sex=study.sex, original=original,
        key_owner=key_owner, reason=reason[:2000], corrected_by=ctx.actor.name if ctx.actor else "system",
        corrected_at=ctx.now()))
    ctx.session.flush()
    after = review_target(ctx, study)
    ctx.require(action, after)
    link.sync(ctx, study, confirmed=study.status == "confirmed", reason=reason[:2000])
    ctx.record(LedgerTag.ImagingStudyCorrected, target=after, reason=reason[:2000],
               detail={"study_uid": study.study_uid, "kind": kind, "version": version,
                       "from": previous, "to": _values(study), "flagged": study.flagged,
                       "patient": registered.fhir_id if registered is not None else None})
    return study
