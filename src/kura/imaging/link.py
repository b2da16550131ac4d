"""The archive's link to the records store: the DICOM Patient ID matched to the registered
FHIR Patient, and the FHIR ImagingStudy kept in step with each study (README).

kura.records and kura.imaging are independent layers, so the archive states what it needs
as RecordsPort and the composition root (kura.app, which may import both) supplies it to
every unit of work as ``ctx.records_port``. Unset, DICOM demographics are kept as received
and compared only with what the archive saw first; no FHIR mirror is written.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, cast

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kura.imaging.fhir import imaging_study_resource
from kura.imaging.instance import InstanceInfo
from kura.imaging.labels import effective_label
from kura.imaging.models import ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.names import normalise
from kura.keys import service as key_service
from kura.operation import Context

__all__ = ["RegisteredPatient", "RecordsPort", "aliases", "port", "match_registered", "differences", "sync"]


@dataclasses.dataclass(frozen=True)
class RegisteredPatient:
    """A patient registered in the records store, as the archive compares demographics."""

    fhir_id: str
    names: frozenset[str]  # normalised names (kanji, kana, alphabetic), family+given joined
    birth_date: str = ""  # YYYYMMDD
    sex: str = ""  # DICOM M / F / O
    confidentiality: str = "N"  # the Patient record's v3 label: every study of the patient is at least this
    name: str = ""  # as the screens show it (kanji), for the side-by-side review
    kana: str = ""
    identifier: str = ""  # the 患者ID the images should carry as their Patient ID


class RecordsPort(Protocol):
    def registered_patient(self, ctx: Context, patient_id: str) -> RegisteredPatient | None:
        """The one Patient whose identifier is `patient_id`, or None (none, or ambiguous)."""

    def find_registered(self, ctx: Context, fhir_patient_id: str) -> RegisteredPatient | None:
        """The registered Patient `fhir_patient_id`, or None."""

    def study_changed(self, ctx: Context, resource: dict[str, Any], *, confirmed: bool, reason: str = "") -> None:
        """Write ImagingStudy `resource` (meta.security = the study's effective label) as a new
        version when it or its label changed; `reason` goes into that version."""


def aliases(session: Session, patient_id: str) -> tuple[str, ...]:
    """The other names of the patient `patient_id` names: for a FHIR Patient id, the DICOM
    Patient IDs linked to it; for a DICOM Patient ID, its FHIR Patient id (and that patient's
    other Patient IDs). A break-glass on one covers all (kura.operation)."""
    if not patient_id:
        return ()
    rows = list(session.execute(select(ImagingPatient.patient_id, ImagingPatient.fhir_patient_id).where(
        or_(ImagingPatient.patient_id == patient_id, ImagingPatient.fhir_patient_id == patient_id))))
    fhir = {f for _, f in rows if f}
    if fhir - {patient_id}:
        rows += session.execute(select(ImagingPatient.patient_id, ImagingPatient.fhir_patient_id).where(
            ImagingPatient.fhir_patient_id.in_(sorted(fhir)))).all()
    names = {n for row in rows for n in row if n and row[1]}
    return tuple(sorted(names - {patient_id}))


def port(ctx: Context) -> RecordsPort | None:
    """The records store as the composition root wired it into the unit of work, or None."""
    return cast("RecordsPort | None", ctx.records_port)


def match_registered(ctx: Context, patient: ImagingPatient, info: InstanceInfo) -> str:
    """Link the DICOM Patient ID to the registered FHIR Patient with that identifier; returns
    the reason to flag the study when the demographics disagree (never merged silently)."""
    records = port(ctx)
    if records is None:
        return ""
    registered = records.registered_patient(ctx, info.patient_id)
    if registered is None:
        return ""
    if patient.fhir_patient_id is None:
        patient.fhir_patient_id = registered.fhir_id
        # images that came first were sealed under the Patient ID's own key: now the patient's
        key_service.link(ctx, key_service.owner_of_dicom(patient.patient_id),
                         key_service.owner_of_patient(registered.fhir_id))
    # The registered patient's label covers the images too, disagreeing demographics or not
    # (a flagged study is still the images of someone registered under this ID).
    if patient.fhir_patient_id == registered.fhir_id:
        patient.confidentiality = registered.confidentiality
    pn = info.patient_name
    return differences(registered, names=(pn.alphabetic, pn.ideographic, pn.phonetic), full=pn.full,
                       birth_date=info.birth_date, sex=info.sex)


def differences(registered: RegisteredPatient, *, names: tuple[str, ...], full: str, birth_date: str,
                sex: str) -> str:
    """Why demographics received with images disagree with the registered patient ("" when
    they agree): a name none of whose groups is a registered name, another birth date or sex.
    In Japanese, for the staff who read it on the worklist and the auditor's alerts."""
    diffs = []
    given = {normalise(g.replace("^", "")) for g in names if g}
    if given and registered.names and not (given & registered.names):
        diffs.append(f"氏名「{full.replace('^', ' ')}」は登録されている氏名と一致しません")
    if birth_date and registered.birth_date and birth_date != registered.birth_date:
        diffs.append(f"生年月日 {_day(birth_date)} ≠ 登録 {_day(registered.birth_date)}")
    if sex and registered.sex and sex != registered.sex:
        diffs.append(f"性別 {_SEX_JA.get(sex, sex)} ≠ 登録 {_SEX_JA.get(registered.sex, registered.sex)}")
    return "、".join(diffs)


_SEX_JA = {"M": "男", "F": "女", "O": "その他"}


def _day(da: str) -> str:
    """A DICOM date (YYYYMMDD) as YYYY-MM-DD; anything else as it is."""
    return f"{da[:4]}-{da[4:6]}-{da[6:]}" if len(da) == 8 and da.isdigit() else da


def sync(ctx: Context, study: ImagingStudy, *, confirmed: bool = False, reason: str = "") -> None:
    """Keep the FHIR ImagingStudy in step (its series, its 検像 status and its effective
    label in meta.security), when the patient is registered and the study is not flagged."""
    records = port(ctx)
    if records is None:
        return
    patient = ctx.session.get(ImagingPatient, study.patient_ref)
    if patient is None or not patient.fhir_patient_id or study.flagged:
        return
    series = list(ctx.session.scalars(select(ImagingSeries).where(ImagingSeries.study_ref == study.id)
                                      .order_by(ImagingSeries.series_number, ImagingSeries.series_uid)))
    resource = imaging_study_resource(study, series, patient_fhir_id=patient.fhir_patient_id,
                                      label=effective_label(ctx, study))
    records.study_changed(ctx, resource, confirmed=confirmed, reason=reason)
