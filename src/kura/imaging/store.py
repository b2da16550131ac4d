"""Storing one received instance: byte for byte, content-addressed, sealed, never overwritten.

Identical bytes again are a success stored once; different bytes under a known SOP Instance
UID become a new version while the study is unconfirmed and are refused once it is
confirmed (CONTRACT.md, Images; MHLW guideline §6 確定操作 for images; R41, R60). The blob
is durable (fsync, rename, directory fsync) before the index row is written; the adapter
answers only after the unit of work has committed both with their ledger entry.
"""

from __future__ import annotations

import dataclasses
import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kura.access.actions import Action
from kura.access.policy import Target
from kura.blobs.crypto import new_key, seal, wrap_key
from kura.classes import service as classes
from kura.db.base import new_id
from kura.errors import Invalid
from kura.imaging import instance as parsing
from kura.imaging import link
from kura.imaging.instance import InstanceInfo
from kura.imaging.keys import blob_aad, key_label, patient_key
from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.names import search_key
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["StoreResult", "store_instance"]

RECORD_TYPE = "ImagingStudy"


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

    # A fast answer for a re-send (duplicate or refused) before any row is written; checked
    # again under the study's row lock below, where concurrent associations are serialised.
    versions, early = _known(ctx, info, sha, target, detail, result)
    if early is not None:
        return early

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
    # Lock the study row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers):
    # counters, modalities, versions and the 検像 status change one association at a time.
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
        flag = f"instance {info.sop_uid} names patient {info.patient_id!r}, the study {study.patient_id!r}"
    elif new_study:
        known = {"name": patient.name, "birth_date": patient.birth_date, "sex": patient.sex}
        flag = link.match_registered(ctx, patient, info) or _disagreement(known, demographics)
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
    ctx.blobs.put(sha, seal(patient_key(ctx, patient), data, blob_aad(sha)))
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


def _known(ctx: Context, info: InstanceInfo, sha: str, target: Target, detail: dict,
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
    owner = ctx.session.get(ImagingStudy, versions[-1].study_ref)
    if owner.study_uid != info.study_uid:
        raise Invalid(f"SOP Instance {info.sop_uid} belongs to another study")
    if owner.status == "confirmed":
        reason = "different bytes under a SOP Instance UID of a confirmed study (never overwritten)"
        ctx.record(LedgerTag.ImagingInstanceRefused, target=target, outcome=8, digest=sha,
                   reason=reason, detail=detail, alert=True)
        return versions, dataclasses.replace(result, refused=reason)
    return versions, None


def _new_patient(ctx: Context, info: InstanceInfo) -> ImagingPatient:
    patient = ImagingPatient(patient_id=info.patient_id, name=info.patient_name.full,
                             birth_date=info.birth_date, sex=info.sex, wrapped_key=b"",
                             created_at=ctx.now())
    patient.id = new_id()  # the key's label names the row, so the id is chosen before insert
    patient.wrapped_key = wrap_key(ctx.master_key, new_key(), key_label(patient))
    return patient
