"""Who a ledger entry's patient and user are, for the audit manager.

The ledger names a patient by the id its store uses: the FHIR Patient's logical id (records)
or the DICOM Patient ID (images, usually the hospital's patient number). Numbers and names are
sealed in the records store, so a typed number or name is found through the blind index
(records.reads.matching_records), never by reading plaintext. Showing a patient's number and
name needs Action.AuditPatientIdentify and leaves one AuditPatientIdentified entry per patient,
naming that patient, so the patient's own access history shows it (R23, R25).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from sqlalchemy import func, or_, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import KuraError
from kura.identity.models import User
from kura.imaging.models import ImagingPatient
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import resources
from kura.records.models import Record
from kura.records.reads import matching_records
from kura.records.store import content_of, get_version
from kura.records.canonical import loads
from kura.tombstones import is_disposed

__all__ = ["PatientRef", "find_patients", "patients_of", "users_matching", "user_names"]

LIMIT = 20
DISPOSED = "(廃棄済みの患者)"  # shown for a patient whose data was lawfully disposed of


@dataclasses.dataclass(frozen=True)
class PatientRef:
    """A patient as the audit manager sees them: number, names, and every id the ledger may
    use for them (the FHIR id and the DICOM Patient IDs of their images)."""

    id: str  # FHIR Patient id, or the DICOM Patient ID of images with no registered patient
    number: str
    name: str
    kana: str
    ledger_ids: tuple[str, ...]

    @property
    def label(self) -> str:
        return " ".join(x for x in (self.number, self.name) if x) or "(患者番号なし)"


def _ref_of_record(ctx: Context, rec: Record) -> PatientRef:
    try:
        res = loads(content_of(ctx, rec, get_version(ctx, rec)))
    except KuraError:  # disposed of (key destroyed) or failing its integrity check
        return PatientRef(rec.logical_id, "", DISPOSED, "", (rec.logical_id,))
    kanji, kana = resources.names_of(res)
    values = [str(i.get("value")) for i in res.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    number = next((str(i.get("value")) for i in res.get("identifier") or []
                   if isinstance(i, dict) and i.get("system") == resources.MRN_SYSTEM and i.get("value")),
                  values[0] if values else "")
    dicom = list(ctx.session.scalars(select(ImagingPatient.patient_id).where(
        or_(ImagingPatient.fhir_patient_id == rec.logical_id, ImagingPatient.patient_id.in_(values)))))
    ids = tuple(dict.fromkeys([rec.logical_id, *values, *dicom]))
    return PatientRef(rec.logical_id, number, kanji, kana, ids)


def _identified(ctx: Context, refs: Iterable[PatientRef], why: str) -> None:
    for ref in refs:
        ctx.record(LedgerTag.AuditPatientIdentified, target=Target(kind="Patient", id=ref.id, patient_id=ref.id),
                   detail={"for": why})


def find_patients(ctx: Context, searches: list[list[tuple[str, str]]], *, why: str = "ledger filter") -> list[PatientRef]:
    """The patients a typed number or name stands for (`searches`: FHIR search pairs, as the
    patient screens interpret a query), whatever their labels, and images whose DICOM
    Patient ID is the typed number but belong to no registered patient.
    Raises Denied. Ledger: AuditPatientIdentified for each patient found."""
    ctx.require(Action.AuditPatientIdentify, Target(kind="Patient"))
    refs: dict[str, PatientRef] = {}
    for pairs in searches:
        for rec in matching_records(ctx, "Patient", pairs, limit=LIMIT):
            refs.setdefault(rec.logical_id, _ref_of_record(ctx, rec))
        numbers = [v for k, v in pairs if k == "identifier"]
        known = {i for r in refs.values() for i in r.ledger_ids}
        for ip in ctx.session.scalars(select(ImagingPatient).where(ImagingPatient.patient_id.in_(numbers))):
            if ip.patient_id not in known:
                refs.setdefault(ip.patient_id, PatientRef(ip.patient_id, ip.patient_id, ip.name, "", (ip.patient_id,)))
    out = list(refs.values())[:LIMIT]
    _identified(ctx, out, why)
    return out


def patients_of(ctx: Context, ledger_ids: Iterable[str], *, why: str = "ledger view",
                known: Iterable[PatientRef] = ()) -> dict[str, PatientRef]:
    """Each ledger patient id → the patient it names (ids naming nothing known are left out).
    `known`: patients this unit of work identified already (not recorded again).
    Raises Denied. Ledger: AuditPatientIdentified for each patient shown."""
    ids = sorted({i for i in ledger_ids if i})
    if not ids:
        return {}
    ctx.require(Action.AuditPatientIdentify, Target(kind="Patient"))
    given = {i: ref for ref in known for i in ref.ledger_ids}
    out: dict[str, PatientRef] = {i: given[i] for i in ids if i in given}
    ids = [i for i in ids if i not in given]
    by_fhir: dict[str, PatientRef] = {}
    for rec in ctx.session.scalars(select(Record).where(Record.rtype == "Patient", Record.logical_id.in_(ids))):
        by_fhir[rec.logical_id] = out[rec.logical_id] = _ref_of_record(ctx, rec)
    rest = [i for i in ids if i not in out]
    if rest:
        for ip in ctx.session.scalars(select(ImagingPatient).where(ImagingPatient.patient_id.in_(rest))):
            if ip.fhir_patient_id:
                if ip.fhir_patient_id not in by_fhir:
                    rec = ctx.session.scalar(select(Record).where(Record.rtype == "Patient",
                                                                  Record.logical_id == ip.fhir_patient_id))
                    if rec is not None:
                        by_fhir[rec.logical_id] = _ref_of_record(ctx, rec)
                if ip.fhir_patient_id in by_fhir:
                    out[ip.patient_id] = by_fhir[ip.fhir_patient_id]
                    continue
            out[ip.patient_id] = PatientRef(ip.patient_id, ip.patient_id, ip.name, "", (ip.patient_id,))
    for pid in [i for i in ids if i not in out]:
        if is_disposed(ctx, "Patient", pid) is not None:  # lawfully disposed: no name is left
            out[pid] = PatientRef(pid, "", DISPOSED, "", (pid,))
    for pid in [i for i in ids if i not in out][:LIMIT]:
        # Images recorded under a DICOM Patient ID with no index row (yet): the patient number.
        for rec in matching_records(ctx, "Patient", [("identifier", pid)], limit=1):
            if rec.logical_id not in by_fhir:
                by_fhir[rec.logical_id] = _ref_of_record(ctx, rec)
            out[pid] = by_fhir[rec.logical_id]
    _identified(ctx, {r.id: r for r in out.values() if r.id not in {g.id for g in given.values()}}.values(), why)
    return out


def users_matching(ctx: Context, text: str) -> tuple[str, ...]:
    """The user names (as the ledger records them) a typed user stands for: the user name
    itself, or part of a user name or display name. Always includes `text` itself, so an
    entry of a since-renamed or system actor is still found."""
    text = text.strip()
    if not text:
        return ()
    like = f"%{text.lower()}%"
    names = ctx.session.scalars(select(User.username).where(
        or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like))).limit(50))
    return tuple(dict.fromkeys([text, *names]))


def user_names(ctx: Context, names: Iterable[str]) -> dict[str, str]:
    """User name → display name, for the users among `names`."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    return {u.username: u.display_name for u in ctx.session.scalars(select(User).where(User.username.in_(wanted)))
            if u.display_name}
