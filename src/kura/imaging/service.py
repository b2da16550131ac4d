"""The image archive's services: store (kura.imaging.store), find, retrieve, and the 検像
confirm / return.

Every function takes the unit of work's Context first, asks the access policy through
``ctx.require`` / ``ctx.allows``, writes its ledger entry with ``ctx.record``, and flushes,
never commits (STYLE.md §4).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Iterable

from pydicom.dataset import Dataset
from sqlalchemy import func, select

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target, highest
from kura.blobs.store import BlobStore
from kura.classes import service as classes
from kura.classes.models import ManagementClass
from kura.errors import Conflict, IntegrityFailure, Invalid, NotFound
from kura.imaging import link, pir
from kura.imaging.keys import blob_aad, owner_of
from kura.keys import service as key_service
from kura.imaging.labels import patient_label
from kura.imaging.models import ImagingCorrection, ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.query import Query, result_dataset, statement
from kura.imaging.store import Prepared, StoreResult, prepare, prewrite, store_instance
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.tombstones import check as check_disposed

__all__ = ["StoreResult", "Prepared", "prepare", "prewrite", "Retrievable", "store_instance", "find", "find_datasets", "retrieve",
           "record_conversion", "get_study", "studies_for_patient", "worklist", "confirm", "return_study",
           "study_target", "get_study_row", "allowed_labels", "series_of", "instances_of",
           "count_instances", "FLAGGED"]

RECORD_TYPE = "ImagingStudy"
FLAGGED = ("This study is flagged: its patient demographics disagree with the registered patient. "
           "Review it (link it to the right patient, correct it, or send it back) before confirming.")


@dataclasses.dataclass(frozen=True)
class Retrievable:
    """One instance to send, with its patient's data keys to open it outside the transaction
    (a long C-GET or WADO-RS transfer must not hold a database transaction open)."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    sha256: str
    size: int
    keys: dict[bytes, bytes] = dataclasses.field(repr=False)
    # The study's corrected patient attributes (kura.imaging.pir), empty when never corrected.
    header: pir.Header = ()
    corrected_at: str = ""
    patient_id: str = ""

    def read(self, blobs: BlobStore) -> bytes:
        """The instance as served: the bytes exactly as received, verified against their hash,
        with the study's corrected patient attributes written in when it was corrected (IHE
        PIR; the stored bytes stay as received). Raises IntegrityFailure on any mismatch."""
        data = self.received(blobs)
        return pir.apply(data, self.header, corrected_at=self.corrected_at) if self.header else data

    def received(self, blobs: BlobStore) -> bytes:
        """The instance's bytes exactly as received. Raises IntegrityFailure on any mismatch."""
        data = key_service.open_with(self.keys, blobs.get(self.sha256), blob_aad(self.sha256))
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise IntegrityFailure(f"instance {self.sop_uid} does not match its hash")
        return data


# -- access ---------------------------------------------------------------------------------

def _class(ctx: Context, code: str, cache: dict[str, ManagementClass] | None = None) -> ManagementClass:
    if cache is not None and code in cache:
        return cache[code]
    mc = classes.get_class(ctx, code)
    if cache is not None:
        cache[code] = mc
    return mc


def study_target(ctx: Context, study: ImagingStudy, cache: dict[str, ManagementClass] | None = None) -> Target:
    """The access target of a study, labelled as kura.imaging.labels decides: the highest of
    its class's, its own and its patient's label."""
    return classes.target_for(_class(ctx, study.class_code, cache), kind=RECORD_TYPE,
                              id=study.study_uid, patient_id=study.patient_id,
                              confidentiality=highest(study.confidentiality, patient_label(ctx, study)))


def allowed_labels(ctx: Context, action: Action) -> list[tuple[str, str]]:
    """The (class, confidentiality) pairs whose studies the caller may `action`.

    Search results are filtered in SQL by these pairs (kura.imaging.query.visible: a study's
    own label and its patient's label must both be among its class's), so limit/offset stay exact. A pair
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


def get_study_row(ctx: Context, study_uid: str) -> ImagingStudy:
    """The study's index row, with no access check: callers ask the policy next (study_target).
    Raises NotFound."""
    study = ctx.session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
    if study is None:
        check_disposed(ctx, "Study", study_uid)  # lawfully disposed of: Shredded (410), not 404
        raise NotFound(f"no study {study_uid}")
    return study


def _visible_study(ctx: Context, study_uid: str, action: Action) -> ImagingStudy:
    """The study, after the access check (Denied is recorded; adapters map it to 403/404)."""
    study = get_study_row(ctx, study_uid)
    ctx.require(action, study_target(ctx, study))
    return study


# -- find -----------------------------------------------------------------------------------

def find(ctx: Context, query: Query) -> list[tuple[Any, ...]]:
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
                  retrieve_aet: str | None = None) -> list[Dataset]:
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
    named = bool(study_uid) and "\\" not in study_uid and "*" not in study_uid and "?" not in study_uid
    if named:
        # Allowed by name — perhaps under the user's break-glass for its patient, which a
        # label-wide filter cannot know. The query below is pinned to exactly this study by
        # its UID, so it needs no further filter.
        _visible_study(ctx, study_uid, action)
    image = Query(level="IMAGE", keys={k: v for k, v in query.keys.items()
                                       if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                                                "SOPInstanceUID")})
    rows = list(ctx.session.execute(statement(image, None if named else allowed_labels(ctx, action))))
    patient_keys: dict[str, dict[bytes, bytes]] = {}
    corrections: dict[str, tuple[dict[bytes, bytes], pir.Header, str]] = {}
    out: list[Retrievable] = []
    per_study: dict[str, tuple[ImagingStudy, list[str]]] = {}
    for study, series, inst in rows:
        if study.patient_ref not in patient_keys:
            owner = owner_of(ctx.session.get_one(ImagingPatient, study.patient_ref))
            patient_keys[study.patient_ref] = key_service.unwrapped_keys(ctx, owner)
        if study.id not in corrections:
            corrections[study.id] = _corrected(ctx, study, patient_keys[study.patient_ref])
        keys, header, at = corrections[study.id]
        out.append(Retrievable(sop_uid=inst.sop_uid, sop_class_uid=inst.sop_class_uid,
                               study_uid=study.study_uid, series_uid=series.series_uid,
                               transfer_syntax=inst.transfer_syntax, sha256=inst.sha256,
                               size=inst.size, keys=keys, header=header, corrected_at=at,
                               patient_id=study.patient_id))
        per_study.setdefault(study.study_uid, (study, []))[1].append(inst.sop_uid)
    for study, sops in per_study.values():
        ctx.record(LedgerTag.ImagingStudyRetrieved, target=study_target(ctx, study),
                   detail={"instances": len(sops), "status": study.status,
                           "sop_instance_uids": sops[:50]})
    return out


def _corrected(ctx: Context, study: ImagingStudy,
               keys: dict[bytes, bytes]) -> tuple[dict[bytes, bytes], pir.Header, str]:
    """(keys, header, when) for a study's instances: its newest correction's attributes, and
    besides the patient's keys those that sealed the images before the study moved."""
    rows = list(ctx.session.scalars(select(ImagingCorrection).where(ImagingCorrection.study_ref == study.id)
                                    .order_by(ImagingCorrection.version)))
    if not rows:
        return keys, (), ""
    keys = dict(keys)
    for owner in sorted({r.key_owner for r in rows}):
        keys.update(key_service.unwrapped_keys(ctx, owner))
    last = rows[-1]
    header = (("PatientID", last.patient_id), ("PatientName", last.patient_name),
              ("PatientBirthDate", last.birth_date), ("PatientSex", last.sex))
    return keys, header, last.corrected_at.strftime("%Y%m%d%H%M%S")


def record_conversion(ctx: Context, item: Retrievable, *, to: str, reason: str) -> None:
    """Note that `item`, retrieved already, was sent in transfer syntax `to` instead of the
    one it is stored in (the stored bytes are unchanged). Ledger: ImagingInstanceConverted."""
    ctx.record(LedgerTag.ImagingInstanceConverted,
               target=Target(kind=RECORD_TYPE, id=item.study_uid, patient_id=item.patient_id or None),
               digest=item.sha256, reason=reason,
               detail={"sop_instance_uid": item.sop_uid, "stored_transfer_syntax": item.transfer_syntax,
                       "sent_transfer_syntax": to})


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


def count_for_patient(ctx: Context, patient_id: str) -> int:
    """How many studies the archive holds under one DICOM Patient ID — for the patient page
    of someone who may read the patient but not the images (a 医事 clerk): the number says
    that studies exist, and nothing of them. No ledger entry (no study is read)."""
    return ctx.session.scalar(select(func.count()).select_from(ImagingStudy)
                              .where(ImagingStudy.patient_id == patient_id)) or 0


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
    # The row lock orders a confirmation against instances arriving at the same moment
    # (kura.imaging.store takes the same lock), so the frozen set is exactly what was checked.
    study = ctx.session.scalars(select(ImagingStudy).where(ImagingStudy.id == study.id).with_for_update()
                                .execution_options(populate_existing=True)).one()
    if study.status == "confirmed":
        raise Conflict(f"study {study_uid} is already confirmed (confirmed studies are frozen)")
    if status == "confirmed" and study.num_instances == 0:
        raise Invalid("a study without instances cannot be confirmed")
    if status == "confirmed" and study.flagged:
        # A study whose demographics disagree with the registered patient is resolved (linked,
        # corrected or sent back: kura.imaging.correct), never confirmed past (issue 10).
        raise Conflict(FLAGGED)
    study.status, study.status_reason = status, reason
    study.status_by = ctx.actor.name if ctx.actor else ""
    study.status_at = study.updated_at = ctx.now()
    ctx.session.flush()
    link.sync(ctx, study, confirmed=status == "confirmed")
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
    Raises NotFound, Denied, Conflict (already confirmed; FLAGGED while the study is flagged),
    Invalid (empty study). Ledger: ImagingStudyConfirmed, digest = hash of the frozen instance set."""
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
