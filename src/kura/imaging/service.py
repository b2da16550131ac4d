"""The image archive's services: store, find, retrieve, and the 検像 confirm / return.

Every function takes the unit of work's Context first, asks the access policy through
``ctx.require`` / ``ctx.allows``, writes its ledger entry with ``ctx.record``, and flushes,
never commits (STYLE.md §4). Instances are stored byte for byte as received, content-
addressed and sealed under the patient's data key; a SOP Instance is never overwritten
(CONTRACT.md, Images): identical bytes again are a success stored once, different bytes
become a new version while the study is unconfirmed and are refused once it is confirmed
(MHLW guideline §6 確定操作 for images; R41, R60).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Iterable, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target
from kura.blobs.crypto import new_key, open_sealed, seal, unwrap_key, wrap_key
from kura.classes import service as classes
from kura.classes.models import ManagementClass
from kura.db.base import new_id
from kura.errors import Conflict, IntegrityFailure, Invalid, NotFound
from kura.imaging import instance as parsing
from kura.imaging.instance import InstanceInfo
from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.fhir import imaging_study_resource
from kura.imaging.names import normalise, search_key
from kura.imaging.query import Query, result_dataset, statement
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["StoreResult", "Retrievable", "RegisteredPatient", "RecordsPort", "RECORDS", "store_instance", "find", "find_datasets", "retrieve",
           "get_study", "studies_for_patient", "worklist", "confirm", "return_study",
           "study_target", "allowed_labels", "series_of", "instances_of"]

RECORD_TYPE = "ImagingStudy"


@dataclasses.dataclass(frozen=True)
class RegisteredPatient:
    """A patient registered in the records store, as the archive compares demographics."""

    fhir_id: str
    names: frozenset[str]  # normalised names (kanji, kana, alphabetic), family+given joined
    birth_date: str = ""  # YYYYMMDD
    sex: str = ""  # DICOM M / F / O


class RecordsPort(Protocol):
    """What the archive needs of the records store. records and imaging are independent
    layers, so the composition root (kura.app) supplies the implementation as RECORDS."""

    def registered_patient(self, ctx: Context, patient_id: str) -> RegisteredPatient | None: ...

    def study_changed(self, ctx: Context, resource: dict, *, confirmed: bool) -> None: ...


# Wired by kura.app; None: DICOM demographics are kept as received and no FHIR mirror is kept.
RECORDS: RecordsPort | None = None


@dataclasses.dataclass(frozen=True)
class StoreResult:
    """What became of one received instance. `refused` names why it was not stored."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    sha256: str
    version: int = 0
    duplicate: bool = False
    refused: str = ""

    @property
    def stored(self) -> bool:
        return not self.refused


@dataclasses.dataclass(frozen=True)
class Retrievable:
    """One instance to send, with the data key needed to open it outside the transaction
    (a long C-GET or WADO-RS transfer must not hold a database transaction open)."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    sha256: str
    size: int
    key: bytes = dataclasses.field(repr=False)

    def read(self, blobs) -> bytes:
        """The instance's bytes exactly as received. Raises IntegrityFailure on any mismatch."""
        data = open_sealed(self.key, blobs.get(self.sha256), _aad(self.sha256))
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise IntegrityFailure(f"instance {self.sop_uid} does not match its hash")
        return data


def _aad(sha: str) -> bytes:
    return b"imaging:" + sha.encode()


def _key_label(patient: ImagingPatient) -> str:
    return f"imaging-patient:{patient.id}"


def patient_key(ctx: Context, patient: ImagingPatient) -> bytes:
    return unwrap_key(ctx.master_key, patient.wrapped_key, _key_label(patient))


# -- access ---------------------------------------------------------------------------------

def _class(ctx: Context, code: str, cache: dict | None = None) -> ManagementClass:
    if cache is not None and code in cache:
        return cache[code]
    mc = classes.get_class(ctx, code)
    if cache is not None:
        cache[code] = mc
    return mc


def study_target(ctx: Context, study: ImagingStudy, cache: dict | None = None) -> Target:
    return classes.target_for(_class(ctx, study.class_code, cache), kind=RECORD_TYPE,
                              id=study.study_uid, patient_id=study.patient_id,
                              confidentiality=study.confidentiality)


def allowed_labels(ctx: Context, action: Action) -> list[tuple[str, str]]:
    """The (class, confidentiality) pairs whose studies the caller may `action`.

    Search results are filtered in SQL by these pairs, so limit/offset stay exact. A pair
    reachable only by break-glass is included and the break-glass is recorded (an alert).
    """
    pairs = []
    for mc in ctx.session.scalars(select(ManagementClass).order_by(ManagementClass.code)):
        for label in CONFIDENTIALITY:
            target = classes.target_for(mc, kind=RECORD_TYPE, id=None, patient_id=None,
                                        confidentiality=label)
            decision = ctx.allows(action, target)
            if decision.allowed:
                if decision.break_glass:
                    ctx.require(action, target)
                pairs.append((mc.code, label))
    return pairs


def _study(ctx: Context, study_uid: str) -> ImagingStudy:
    study = ctx.session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
    if study is None:
        raise NotFound(f"no study {study_uid}")
    return study


def _visible_study(ctx: Context, study_uid: str, action: Action) -> ImagingStudy:
    """The study, after the access check (Denied is recorded; adapters map it to 403/404)."""
    study = _study(ctx, study_uid)
    ctx.require(action, study_target(ctx, study))
    return study


# -- store ----------------------------------------------------------------------------------

def _get_or_create(ctx: Context, model, where, make):
    """Select, else insert in a savepoint; on a concurrent insert (PostgreSQL) select again."""
    row = ctx.session.scalar(select(model).where(where))
    if row is not None:
        return row, False
    try:
        with ctx.session.begin_nested():
            row = make()
            ctx.session.add(row)
            ctx.session.flush()
        return row, True
    except IntegrityError:
        row = ctx.session.scalar(select(model).where(where))
        if row is None:
            raise
        return row, False


def _demographics(info: InstanceInfo) -> dict:
    return {"name": info.patient_name.full, "birth_date": info.birth_date, "sex": info.sex}


def _disagreement(known: dict, got: dict) -> str:
    diffs = [f"{k}: {known[k]!r} ≠ {got[k]!r}" for k in ("name", "birth_date", "sex")
             if known[k] and got[k] and known[k] != got[k]]
    return "; ".join(diffs)


def store_instance(ctx: Context, data: bytes, *, transfer_syntax: str | None = None,
                   sop_class_uid: str | None = None, sop_instance_uid: str | None = None,
                   ) -> StoreResult:
    """Store one instance exactly as received.

    `data` is a Part 10 file, or — with `transfer_syntax`, `sop_class_uid` and
    `sop_instance_uid` from the DIMSE request — a bare data set, framed deterministically
    (a Part 10 file lacking only the preamble gets the zero preamble and 'DICM').
    Raises Invalid (malformed), Denied. Returns a refused result (not an error, so the alert
    commits) for different bytes under a SOP Instance of a confirmed study.
    Ledger: ImagingInstanceStored (digest = SHA-256 of the stored bytes),
    ImagingInstanceRefused (alert), ImagingStudyFlagged (alert) on disagreeing demographics.
    """
    if transfer_syntax is not None:
        data = parsing.wrap_part10(data, transfer_syntax=transfer_syntax,
                                   sop_class_uid=sop_class_uid or "", sop_instance_uid=sop_instance_uid or "")
    else:
        data = parsing.add_preamble(data)
    info = parsing.parse(data)
    if sop_instance_uid and info.sop_uid != sop_instance_uid:
        raise Invalid("the data set's SOP Instance UID differs from the request's")
    if sop_class_uid and info.sop_class_uid != sop_class_uid:
        raise Invalid("the data set's SOP Class UID differs from the request's")
    # Storing reveals nothing of what is stored, so the check is on the action, not on the
    # study's label: a modality stores into any class (it cannot know the classes).
    target = Target(kind=RECORD_TYPE, id=info.study_uid, patient_id=info.patient_id or None)
    ctx.require(Action.ImagingInstanceStore, target)
    sha = hashlib.sha256(data).hexdigest()
    result = StoreResult(sop_uid=info.sop_uid, sop_class_uid=info.sop_class_uid,
                         study_uid=info.study_uid, sha256=sha)
    detail = {"sop_instance_uid": info.sop_uid, "sop_class_uid": info.sop_class_uid,
              "series_uid": info.series_uid, "transfer_syntax": info.transfer_syntax, "size": len(data)}

    versions = list(ctx.session.scalars(select(ImagingInstance).where(
        ImagingInstance.sop_uid == info.sop_uid).order_by(ImagingInstance.version)))
    if versions:
        same = next((v for v in versions if v.sha256 == sha), None)
        if same is not None:
            ctx.record(LedgerTag.ImagingInstanceStored, target=target, digest=sha,
                       detail={**detail, "version": same.version, "duplicate": True})
            return dataclasses.replace(result, version=same.version, duplicate=True)
        owner = ctx.session.get(ImagingStudy, versions[-1].study_ref)
        if owner.study_uid != info.study_uid:
            raise Invalid(f"SOP Instance {info.sop_uid} belongs to another study")
        if owner.status == "confirmed":
            reason = "different bytes under a SOP Instance UID of a confirmed study (never overwritten)"
            ctx.record(LedgerTag.ImagingInstanceRefused, target=target, outcome=8, digest=sha,
                       reason=reason, detail=detail, alert=True)
            return dataclasses.replace(result, refused=reason)

    now = ctx.now()
    patient, _ = _get_or_create(
        ctx, ImagingPatient, ImagingPatient.patient_id == info.patient_id,
        lambda: _new_patient(ctx, info))
    demographics = _demographics(info)
    mc = classes.default_for(ctx, RECORD_TYPE)
    study, new_study = _get_or_create(
        ctx, ImagingStudy, ImagingStudy.study_uid == info.study_uid,
        lambda: ImagingStudy(
            study_uid=info.study_uid, patient_ref=patient.id, patient_id=info.patient_id,
            patient_name=info.patient_name.full, name_alphabetic=info.patient_name.alphabetic[:200],
            name_ideographic=info.patient_name.ideographic[:200],
            name_phonetic=info.patient_name.phonetic[:200], name_search=search_key(info.patient_name)[:800],
            birth_date=info.birth_date, sex=info.sex, study_date=info.study_date,
            study_time=info.study_time, accession_number=info.accession_number,
            study_id=info.study_id, description=info.study_description,
            referring_physician=info.referring_physician, modalities="", status="draft",
            class_code=mc.code, confidentiality=mc.confidentiality, created_at=now, updated_at=now))
    if study.status == "confirmed":
        reason = "a new instance for a confirmed study (confirmed studies are frozen)"
        ctx.record(LedgerTag.ImagingInstanceRefused, target=target, outcome=8, digest=sha,
                   reason=reason, detail=detail, alert=True)
        return dataclasses.replace(result, refused=reason)
    if study.patient_id != info.patient_id:
        flag = f"instance {info.sop_uid} names patient {info.patient_id!r}, the study {study.patient_id!r}"
    elif new_study:
        known = {"name": patient.name, "birth_date": patient.birth_date, "sex": patient.sex}
        flag = ((_match_registered(ctx, patient, info) if RECORDS is not None else "")
                or _disagreement(known, demographics))
    else:
        flag = _disagreement({"name": study.patient_name, "birth_date": study.birth_date,
                              "sex": study.sex}, demographics)
    series, new_series = _get_or_create(
        ctx, ImagingSeries, ImagingSeries.series_uid == info.series_uid,
        lambda: ImagingSeries(series_uid=info.series_uid, study_ref=study.id, modality=info.modality,
                              series_number=info.series_number, description=info.series_description,
                              body_part=info.body_part, created_at=now))
    if series.study_ref != study.id:
        raise Invalid(f"series {info.series_uid} belongs to another study")

    # The blob is written (fsync, rename, directory fsync) before the index row; the row and
    # the ledger entry commit together afterwards, and only then does the adapter answer.
    ctx.blobs.put(sha, seal(patient_key(ctx, patient), data, _aad(sha)))
    version = versions[-1].version + 1 if versions else 1
    for old in versions:
        old.current = False
    ctx.session.add(ImagingInstance(
        sop_uid=info.sop_uid, version=version, current=True, series_ref=series.id, study_ref=study.id,
        sop_class_uid=info.sop_class_uid, transfer_syntax=info.transfer_syntax,
        instance_number=info.instance_number, rows=info.rows, columns=info.columns,
        frames=info.frames, sha256=sha, size=len(data), stored_at=now,
        stored_by=ctx.actor.name if ctx.actor else "anonymous", origin=ctx.origin))
    if not versions:
        series.num_instances += 1
        study.num_instances += 1
    if new_series:
        study.num_series += 1
    modalities = [m for m in study.modalities.split("\\") if m]
    if info.modality and info.modality not in modalities:
        study.modalities = "\\".join(sorted(modalities + [info.modality]))[:100]
    if study.status == "returned":
        study.status, study.status_reason = "draft", ""  # corrected images re-sent: back to check
    study.updated_at = now
    if flag and not study.flagged:
        study.flagged, study.flag_reason = True, flag[:2000]
        ctx.record(LedgerTag.ImagingStudyFlagged, target=target, reason=flag,
                   detail={"study_uid": study.study_uid}, alert=True)
    ctx.session.flush()
    if new_study or new_series:
        _sync(ctx, study)
    ctx.record(LedgerTag.ImagingInstanceStored, target=target, digest=sha,
               detail={**detail, "version": version})
    return dataclasses.replace(result, version=version)


def _match_registered(ctx: Context, patient: ImagingPatient, info: InstanceInfo) -> str:
    """Link the DICOM Patient ID to the registered FHIR Patient with that identifier; the
    reason to flag the study when the demographics disagree (never merged silently)."""
    registered = RECORDS.registered_patient(ctx, info.patient_id)
    if registered is None:
        return ""
    if patient.fhir_patient_id is None:
        patient.fhir_patient_id = registered.fhir_id
    diffs = []
    names = {normalise(g.replace("^", "")) for g in (info.patient_name.alphabetic, info.patient_name.ideographic,
                                                     info.patient_name.phonetic) if g}
    if names and registered.names and not (names & registered.names):
        diffs.append(f"name {info.patient_name.full!r} is not a registered name of Patient/{registered.fhir_id}")
    if info.birth_date and registered.birth_date and info.birth_date != registered.birth_date:
        diffs.append(f"birth date {info.birth_date} ≠ registered {registered.birth_date}")
    if info.sex and registered.sex and info.sex != registered.sex:
        diffs.append(f"sex {info.sex} ≠ registered {registered.sex}")
    return "; ".join(diffs)


def _sync(ctx: Context, study: ImagingStudy, *, confirmed: bool = False) -> None:
    """Keep the FHIR ImagingStudy in step (when the records store is wired and the patient
    is registered there)."""
    if RECORDS is None:
        return
    patient = ctx.session.get(ImagingPatient, study.patient_ref)
    if patient is None or not patient.fhir_patient_id or study.flagged:
        return
    RECORDS.study_changed(ctx, imaging_study_resource(study, series_of(ctx, study),
                                                      patient_fhir_id=patient.fhir_patient_id),
                          confirmed=confirmed)


def _new_patient(ctx: Context, info: InstanceInfo) -> ImagingPatient:
    patient = ImagingPatient(patient_id=info.patient_id, name=info.patient_name.full,
                             birth_date=info.birth_date, sex=info.sex, wrapped_key=b"",
                             created_at=ctx.now())
    patient.id = new_id()  # the key's label names the row, so the id is chosen before insert
    patient.wrapped_key = wrap_key(ctx.master_key, new_key(), _key_label(patient))
    return patient


# -- find -----------------------------------------------------------------------------------

def find(ctx: Context, query: Query) -> list[tuple]:
    """Index rows matching `query` that the caller may see; others are left out, silently.

    Raises Invalid, Denied (no search right at all). Ledger: ImagingStudyQueried.
    """
    ctx.require(Action.ImagingStudySearch, Target(kind=RECORD_TYPE))
    allowed = allowed_labels(ctx, Action.ImagingStudySearch)
    stmt = statement(query, allowed)
    if query.level == "PATIENT":
        rows, seen = [], set()
        for (study,) in ctx.session.execute(stmt):
            if study.patient_id not in seen:
                seen.add(study.patient_id)
                rows.append((study,))
        rows = rows[query.offset:][:query.limit] if query.limit is not None else rows[query.offset:]
    else:
        if query.offset:
            stmt = stmt.offset(query.offset)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)
        rows = [tuple(r) for r in ctx.session.execute(stmt)]
    pid = query.keys.get("PatientID") or None
    ctx.record(LedgerTag.ImagingStudyQueried, target=Target(kind=RECORD_TYPE, patient_id=pid),
               detail={"level": query.level, "keys": {k: v for k, v in query.keys.items() if v},
                       "fuzzy": query.fuzzy, "matches": len(rows)})
    return rows


def find_datasets(ctx: Context, query: Query, keywords: Iterable[str], *,
                  retrieve_aet: str | None = None) -> list:
    """`find`, as response identifiers (pydicom Datasets, text in UTF-8)."""
    keywords = list(keywords)
    return [result_dataset(query.level, row, keywords, retrieve_aet=retrieve_aet)
            for row in find(ctx, query)]


# -- retrieve -------------------------------------------------------------------------------

def retrieve(ctx: Context, query: Query, *, action: Action = Action.ImagingStudyRead) -> list[Retrievable]:
    """The current version of every instance matching `query` that the caller may read.

    An instance-level query names UIDs; studies beyond the caller's clearance are Denied
    when named by StudyInstanceUID (and recorded), left out otherwise.
    Ledger: ImagingStudyRetrieved per study (DICOM 110104 / 110103).
    """
    ctx.require(action, Target(kind=RECORD_TYPE))
    study_uid = query.keys.get("StudyInstanceUID", "")
    if study_uid and "\\" not in study_uid and "*" not in study_uid:
        _visible_study(ctx, study_uid, action)
    image = Query(level="IMAGE", keys={k: v for k, v in query.keys.items()
                                       if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                                                "SOPInstanceUID")})
    rows = list(ctx.session.execute(statement(image, allowed_labels(ctx, action))))
    keys: dict[str, bytes] = {}
    out, per_study = [], {}
    for study, series, inst in rows:
        if study.patient_ref not in keys:
            keys[study.patient_ref] = patient_key(ctx, ctx.session.get(ImagingPatient, study.patient_ref))
        out.append(Retrievable(sop_uid=inst.sop_uid, sop_class_uid=inst.sop_class_uid,
                               study_uid=study.study_uid, series_uid=series.series_uid,
                               transfer_syntax=inst.transfer_syntax, sha256=inst.sha256,
                               size=inst.size, key=keys[study.patient_ref]))
        per_study.setdefault(study.study_uid, (study, []))[1].append(inst.sop_uid)
    for study, sops in per_study.values():
        ctx.record(LedgerTag.ImagingStudyRetrieved, target=study_target(ctx, study),
                   detail={"instances": len(sops), "status": study.status,
                           "sop_instance_uids": sops[:50]})
    return out


# -- the patient's studies, the worklist, 検像 --------------------------------------------------

def get_study(ctx: Context, study_uid: str) -> ImagingStudy:
    """One study's index row (status, confirmation, flags). Raises NotFound, Denied.
    Ledger: ImagingStudyRead."""
    study = _visible_study(ctx, study_uid, Action.ImagingStudyRead)
    ctx.record(LedgerTag.ImagingStudyRead, target=study_target(ctx, study))
    return study


def series_of(ctx: Context, study: ImagingStudy) -> list[ImagingSeries]:
    """The series of a study already obtained through get_study (no further check)."""
    return list(ctx.session.scalars(select(ImagingSeries).where(ImagingSeries.study_ref == study.id)
                                    .order_by(ImagingSeries.series_number, ImagingSeries.series_uid)))


def instances_of(ctx: Context, series: ImagingSeries) -> list[ImagingInstance]:
    """Current instances of a series obtained through get_study/series_of, in slice order."""
    return list(ctx.session.scalars(
        select(ImagingInstance).where(ImagingInstance.series_ref == series.id,
                                      ImagingInstance.current.is_(True))
        .order_by(ImagingInstance.instance_number, ImagingInstance.sop_uid)))


def studies_for_patient(ctx: Context, patient_id: str) -> list[ImagingStudy]:
    """The studies of one DICOM Patient ID the caller may see, newest first.
    Ledger: ImagingStudyQueried."""
    return [row[0] for row in find(ctx, Query(level="STUDY", keys={"PatientID": patient_id}))]


def worklist(ctx: Context, *, limit: int = 200) -> list[ImagingStudy]:
    """The technologist's worklist: studies awaiting 検像 (draft), oldest first.
    Raises Denied without the confirm right. Ledger: ImagingStudyQueried."""
    ctx.require(Action.ImagingStudyConfirm, Target(kind=RECORD_TYPE))
    allowed = allowed_labels(ctx, Action.ImagingStudyConfirm)
    stmt = statement(Query(level="STUDY", keys={}), allowed).where(ImagingStudy.status == "draft")
    rows = list(ctx.session.scalars(stmt.order_by(None).order_by(ImagingStudy.created_at).limit(limit)))
    ctx.record(LedgerTag.ImagingStudyQueried, target=Target(kind=RECORD_TYPE),
               detail={"worklist": True, "matches": len(rows)})
    return rows


def _set_status(ctx: Context, study_uid: str, action: Action, *, status: str, reason: str,
                tag: LedgerTag) -> ImagingStudy:
    study = _visible_study(ctx, study_uid, action)
    if study.status == "confirmed":
        raise Conflict(f"study {study_uid} is already confirmed (confirmed studies are frozen)")
    if status == "confirmed" and study.num_instances == 0:
        raise Invalid("a study without instances cannot be confirmed")
    study.status, study.status_reason = status, reason
    study.status_by = ctx.actor.name if ctx.actor else ""
    study.status_at = study.updated_at = ctx.now()
    ctx.session.flush()
    _sync(ctx, study, confirmed=status == "confirmed")
    digest = _instance_set_digest(ctx, study)
    ctx.record(tag, target=study_target(ctx, study), digest=digest, reason=reason,
               detail={"instances": study.num_instances, "series": study.num_series})
    return study


def _instance_set_digest(ctx: Context, study: ImagingStudy) -> str:
    """SHA-256 over the sorted (SOP Instance UID, SHA-256) of the current versions: the
    instance set the confirmation froze, committed in the ledger."""
    rows = ctx.session.execute(select(ImagingInstance.sop_uid, ImagingInstance.sha256).where(
        ImagingInstance.study_ref == study.id, ImagingInstance.current.is_(True))
        .order_by(ImagingInstance.sop_uid))
    return hashlib.sha256("".join(f"{a} {b}\n" for a, b in rows).encode()).hexdigest()


def confirm(ctx: Context, study_uid: str) -> ImagingStudy:
    """The technologist's image check (検像, the 確定 for images; MHLW guideline §6): the
    study's current instance set is frozen as confirmed by the calling user.
    Raises NotFound, Denied, Conflict (already confirmed), Invalid (empty study).
    Ledger: ImagingStudyConfirmed, digest = hash of the frozen instance set."""
    return _set_status(ctx, study_uid, Action.ImagingStudyConfirm, status="confirmed", reason="",
                       tag=LedgerTag.ImagingStudyConfirmed)


def return_study(ctx: Context, study_uid: str, *, reason: str) -> ImagingStudy:
    """Send a study back to the modality with a reason (検像 failed); corrected instances
    may then be sent as new versions. Raises Invalid (no reason), NotFound, Denied, Conflict.
    Ledger: ImagingStudyReturned."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("sending a study back needs a reason")
    return _set_status(ctx, study_uid, Action.ImagingStudyReturn, status="returned",
                       reason=reason[:2000], tag=LedgerTag.ImagingStudyReturned)


def count_instances(ctx: Context) -> int:
    return ctx.session.scalar(select(func.count()).select_from(ImagingInstance)) or 0
