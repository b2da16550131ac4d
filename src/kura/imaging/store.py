"""Storing one received instance: byte for byte, content-addressed, sealed, never overwritten.

Identical bytes again are a success stored once; different bytes under a known SOP Instance
UID become a new version while the study is unconfirmed and are refused once it is
confirmed (README, DICOM; MHLW guideline §6 確定操作 for images; R41, R60). The blob
is durable (fsync, rename, directory fsync) before the index row is written; the adapter
answers only after the unit of work has committed both with their ledger entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from typing import Any, Callable, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError

from kura import logs
from kura.access.actions import Action
from kura.access.policy import Target
from kura.blobs.crypto import seal_for
from kura.blobs.store import BlobStore
from kura.classes import service as classes
from kura.db.base import new_id
from kura.errors import Invalid
from kura.imaging import instance as parsing
from kura.imaging import link
from kura.imaging.instance import InstanceInfo
from kura.imaging.keys import alias_of, blob_aad, owner_of
from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.names import search_key
from kura.keys import service as key_service
from kura.keys.ring import KeyRing
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["StoreResult", "Prepared", "prepare", "prewrite", "store_instance"]

RECORD_TYPE = "ImagingStudy"
log = logs.get("kura.imaging.store")
_Row = TypeVar("_Row", ImagingPatient, ImagingStudy, ImagingSeries)


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


def _get_or_create(ctx: Context, model: type[_Row], where: ColumnElement[bool],
                   make: Callable[[], _Row]) -> tuple[_Row, bool]:
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


def _demographics(info: InstanceInfo) -> dict[str, str]:
    return {"name": info.patient_name.full, "birth_date": info.birth_date, "sex": info.sex}


_FIELDS_JA = {"name": "氏名", "birth_date": "生年月日", "sex": "性別"}


def _disagreement(known: dict[str, str], got: dict[str, str]) -> str:
    """Earlier images of this patient or study against these (in Japanese: the worklist and
    the auditor's alerts show it)."""
    diffs = [f"{_FIELDS_JA[k]} {known[k]!r} ≠ {got[k]!r} (既存の画像と不一致)" for k in ("name", "birth_date", "sex")
             if known[k] and got[k] and known[k] != got[k]]
    return "、".join(diffs)


@dataclasses.dataclass
class Prepared:
    """One received instance, framed, validated and hashed: everything that needs no database.

    `written_for` is the id of the data key the blob was sealed under when
    `prewrite` wrote it ahead of the transaction, `created` whether that write made the file.
    `settled`, when set, tells that another thread is running `prewrite` at the same time as
    the transaction: store_instance waits for it before it looks at `written_for`.
    """

    data: bytes
    info: InstanceInfo
    sha: str
    written_for: bytes | None = None
    created: bool = False
    settled: threading.Event | None = None


def prepare(data: bytes, *, transfer_syntax: str | None = None, sop_class_uid: str | None = None,
            sop_instance_uid: str | None = None) -> Prepared:
    """Frame, validate and hash one instance (pure; no database, no blob). Raises Invalid."""
    if transfer_syntax is not None:
        data = parsing.wrap_part10(data, transfer_syntax=transfer_syntax,
                                   sop_class_uid=sop_class_uid or "", sop_instance_uid=sop_instance_uid or "")
    else:
        data = parsing.add_preamble(data)
    info = parsing.parse(data)
    if info.unindexed:
        # The instance is kept whole; these values are only not searchable (names and reasons,
        # never the values: they are patient content).
        log.warning("instance indexed without some of its values", extra={"unindexed": list(info.unindexed)})
    if sop_instance_uid and info.sop_uid != sop_instance_uid:
        raise Invalid("the data set's SOP Instance UID differs from the request's")
    if sop_class_uid and info.sop_class_uid != sop_class_uid:
        raise Invalid("the data set's SOP Class UID differs from the request's")
    return Prepared(data=data, info=info, sha=hashlib.sha256(data).hexdigest())


def prewrite(blobs: BlobStore, keyring: KeyRing, prepared: Prepared, *, staged: bool = False) -> None:
    """Seal and write the blob now, outside any transaction, when the patient's key is known.
    With `staged` it is only staged (kura.blobs.pack): the caller syncs before its commit.

    Content-addressed: a blob whose transaction then fails is an unreferenced orphan, which
    is harmless (the index is the truth). Leaves `prepared` untouched when the key is unknown
    or the blob exists already; store_instance then writes it inside its transaction.
    """
    # The key ring knows the patient's sealing key by DICOM Patient ID once an instance of the
    # patient was stored; the transaction checks the key is still the patient's (store_instance).
    cached = keyring.primary(alias_of(prepared.info.patient_id))
    if cached is None or prepared.written_for is not None or blobs.exists(prepared.sha):
        return
    key_id, key = cached
    sealed = seal_for(key_id, key, prepared.data, blob_aad(prepared.sha))
    (blobs.stage if staged else blobs.put)(prepared.sha, sealed)
    prepared.written_for, prepared.created = key_id, True


def store_instance(ctx: Context, data: bytes | None = None, *, transfer_syntax: str | None = None,
                   sop_class_uid: str | None = None, sop_instance_uid: str | None = None,
                   prepared: Prepared | None = None) -> StoreResult:
    """Store one instance exactly as received.

    `data` is a Part 10 file, or — with `transfer_syntax`, `sop_class_uid` and
    `sop_instance_uid` from the DIMSE request — a bare data set, framed deterministically
    (a Part 10 file lacking only the preamble gets the zero preamble and 'DICM'); or
    `prepared` comes from `prepare` (and perhaps `prewrite`) done before the transaction.
    Raises Invalid (malformed), Denied. Returns a refused result (not an error, so the alert
    commits) for different bytes under a SOP Instance of a confirmed study.
    Ledger: ImagingInstanceStored (digest = SHA-256 of the stored bytes; detail names the
    values left out of the index or normalised for it, kura.imaging.instance),
    ImagingInstanceRefused (alert), ImagingStudyFlagged (alert) on disagreeing demographics.
    """
    if prepared is None:
        assert data is not None, "store_instance needs data or prepared"
        prepared = prepare(data, transfer_syntax=transfer_syntax, sop_class_uid=sop_class_uid,
                           sop_instance_uid=sop_instance_uid)
    info, sha, data = prepared.info, prepared.sha, prepared.data
    # Storing reveals nothing of what is stored, so the check is on the action, not on the
    # study's label: a modality stores into any class (it cannot know the classes).
    target = Target(kind=RECORD_TYPE, id=info.study_uid, patient_id=info.patient_id or None)
    ctx.require(Action.ImagingInstanceStore, target)
    # Before the first statement of the transaction (SQLite's BEGIN IMMEDIATE takes the write
    # lock then): the blob's fsyncs need not hold back every other writer.
    if prepared.settled is None:
        prewrite(ctx.blobs, ctx.keyring, prepared)
    result = StoreResult(sop_uid=info.sop_uid, sop_class_uid=info.sop_class_uid,
                         study_uid=info.study_uid, sha256=sha)
    detail = {"sop_instance_uid": info.sop_uid, "sop_class_uid": info.sop_class_uid,
              "series_uid": info.series_uid, "transfer_syntax": info.transfer_syntax, "size": len(data)}
    if info.unindexed:
        detail["unindexed"] = list(info.unindexed)
    if info.normalised:
        detail["normalised"] = list(info.normalised)

    # A fast answer for a re-send (duplicate or refused) before any row is written; checked
    # again under the study's row lock below, where concurrent associations are serialised.
    versions, early = _known(ctx, info, sha, target, detail, result)
    if early is not None:
        return early

    now = ctx.now()
    # The common case — one more instance of a known series — finds its series, study and
    # patient in one statement; anything else takes the step-by-step path below.
    series, study, patient = _known_series(ctx, info)
    new_study = new_series = False
    if patient is None:
        patient, _ = _get_or_create(
            ctx, ImagingPatient, ImagingPatient.patient_id == info.patient_id,
            lambda: _new_patient(ctx, info))
    demographics = _demographics(info)

    def new_study_row() -> ImagingStudy:
        mc = classes.default_for(ctx, RECORD_TYPE)  # only a new study needs its class
        return ImagingStudy(
            study_uid=info.study_uid, patient_ref=patient.id, patient_id=info.patient_id,
            patient_name=info.patient_name.full, name_alphabetic=info.patient_name.alphabetic[:200],
            name_ideographic=info.patient_name.ideographic[:200],
            name_phonetic=info.patient_name.phonetic[:200], name_search=search_key(info.patient_name)[:800],
            birth_date=info.birth_date, sex=info.sex, study_date=info.study_date,
            study_time=info.study_time, accession_number=info.accession_number,
            study_id=info.study_id, description=info.study_description,
            referring_physician=info.referring_physician, modalities="", status="draft",
            class_code=mc.code, confidentiality=mc.confidentiality, created_at=now, updated_at=now)

    if study is None:
        study, new_study = _get_or_create(ctx, ImagingStudy, ImagingStudy.study_uid == info.study_uid,
                                          new_study_row)
    # Lock the study row: counters, modalities, versions and the 検像 status change one
    # association at a time. SQLite needs neither the lock nor the second look: its
    # BEGIN IMMEDIATE took the database's write lock before the first look above.
    if ctx.session.get_bind().dialect.name != "sqlite":
        study = ctx.session.scalars(select(ImagingStudy).where(ImagingStudy.id == study.id).with_for_update()
                                    .execution_options(populate_existing=True)).one()
        versions, late = _known(ctx, info, sha, target, detail, result)
        if late is not None:
            return late
    if study.status == "confirmed":
        reason = "a new instance for a confirmed study (confirmed studies are frozen)"
        ctx.record(LedgerTag.ImagingInstanceRefused, target=target, outcome=8, digest=sha,
                   reason=reason, detail=detail, alert=True)
        return dataclasses.replace(result, refused=reason)
    if study.patient_id != info.patient_id:
        flag = f"インスタンス {info.sop_uid} の患者ID {info.patient_id!r} が検査の患者ID {study.patient_id!r} と異なります"
    elif new_study:
        known = {"name": patient.name, "birth_date": patient.birth_date, "sex": patient.sex}
        flag = link.match_registered(ctx, patient, info) or _disagreement(known, demographics)
    else:
        flag = _disagreement({"name": study.patient_name, "birth_date": study.birth_date,
                              "sex": study.sex}, demographics)
    if series is None:
        series, new_series = _get_or_create(
            ctx, ImagingSeries, ImagingSeries.series_uid == info.series_uid,
            lambda: ImagingSeries(series_uid=info.series_uid, study_ref=study.id, modality=info.modality,
                                  series_number=info.series_number, description=info.series_description,
                                  body_part=info.body_part, created_at=now))
    if series.study_ref != study.id:
        raise Invalid(f"series {info.series_uid} belongs to another study")

    # The blob is written (fsync, rename, directory fsync) before the index row; the row and
    # the ledger entry commit together afterwards, and only then does the adapter answer.
    key_id, key = key_service.primary_key(ctx, owner_of(patient))
    if prepared.settled is not None:
        prepared.settled.wait()  # the blob is being written alongside: durable before commit
    if prepared.written_for != key_id:
        if prepared.written_for is not None and prepared.created:
            ctx.blobs.delete(sha)  # sealed under a key this patient no longer has: seal again
        ctx.blobs.put(sha, seal_for(key_id, key, data, blob_aad(sha)))
    ctx.keyring.remember(key_id, key, primary_of=alias_of(info.patient_id))
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
        link.sync(ctx, study)
    ctx.record(LedgerTag.ImagingInstanceStored, target=target, digest=sha,
               detail={**detail, "version": version})
    return dataclasses.replace(result, version=version)


def _known_series(ctx: Context, info: InstanceInfo) -> tuple[ImagingSeries | None, ImagingStudy | None,
                                                            ImagingPatient | None]:
    """(series, study, patient) when the series is known, in the instance's study, of the
    instance's patient; else (None, None, None)."""
    row = ctx.session.execute(
        select(ImagingSeries, ImagingStudy, ImagingPatient)
        .join(ImagingStudy, ImagingSeries.study_ref == ImagingStudy.id)
        .join(ImagingPatient, ImagingStudy.patient_ref == ImagingPatient.id)
        .where(ImagingSeries.series_uid == info.series_uid)).one_or_none()
    if row is None:
        return None, None, None
    series, study, patient = row
    if study.study_uid != info.study_uid or study.patient_id != info.patient_id \
            or patient.patient_id != info.patient_id:
        return None, None, None
    return series, study, patient


def _known(ctx: Context, info: InstanceInfo, sha: str, target: Target, detail: dict[str, Any],
           result: StoreResult) -> tuple[list[ImagingInstance], StoreResult | None]:
    """The stored versions of this SOP Instance, and the answer when no new version may be
    written: identical bytes (duplicate) or a confirmed study (refused, an alert)."""
    versions = list(ctx.session.scalars(
        select(ImagingInstance).where(ImagingInstance.sop_uid == info.sop_uid)
        .order_by(ImagingInstance.version).execution_options(populate_existing=True)))
    if not versions:
        return versions, None
    same = next((v for v in versions if v.sha256 == sha), None)
    if same is not None:
        ctx.record(LedgerTag.ImagingInstanceStored, target=target, digest=sha,
                   detail={**detail, "version": same.version, "duplicate": True})
        return versions, dataclasses.replace(result, version=same.version, duplicate=True)
    owner = ctx.session.get_one(ImagingStudy, versions[-1].study_ref)
    if owner.study_uid != info.study_uid:
        raise Invalid(f"SOP Instance {info.sop_uid} belongs to another study")
    if owner.status == "confirmed":
        reason = "different bytes under a SOP Instance UID of a confirmed study (never overwritten)"
        ctx.record(LedgerTag.ImagingInstanceRefused, target=target, outcome=8, digest=sha,
                   reason=reason, detail=detail, alert=True)
        return versions, dataclasses.replace(result, refused=reason)
    return versions, None


def _new_patient(ctx: Context, info: InstanceInfo) -> ImagingPatient:
    return ImagingPatient(id=new_id(), patient_id=info.patient_id, name=info.patient_name.full,
                          birth_date=info.birth_date, sex=info.sex, created_at=ctx.now())
