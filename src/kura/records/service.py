"""The 医事 records store: create, update, confirm (確定) — and, re-exported from
records.reads, read, search and extract, so callers have one entry point.

Every public function takes the unit of work's Context first, asks the one access decision
(`ctx.require`, with the record's management class and confidentiality label as target),
writes the change and its ledger entry in the same transaction, and flushes, never commits.

Regulation §6 (MHLW guideline 6.0): a confirmation operation (確定操作) by a named user;
confirmed information stored accurately (immutable versions with SHA-256 committed to the
ledger); date/time and actor bound to every record and update (versions + Provenance);
prompt extraction (indexed search, $everything). R30, R31, R36, R42, R43, R48.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import or_, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.classes import service as classes
from kura.errors import Conflict, Invalid, NotFound
from kura.identity.models import User
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments, identifiers, link
from kura.records import patients
from kura.records.fhir import params
from kura.records.fhir.validate import PATIENT_REF, WRITABLE_TYPES, validate
from kura.records.models import CONFIRMED, DRAFT, Attachment, Record, RecordVersion
# Reading lives in records.reads; this module is the one entry point for both.
from kura.records.reads import (Page, VersionInfo, diff, everything, history, patient_summary, read,
                                read_attachment, restricted_matches, search, type_history, version_history,
                                vread)
from kura.records.store import (Actor, Version, actor_of, blinder, class_for, effective_label, get_record,
                                get_version, new_record, patient_relabelled, target_of, version_of, write_version)

__all__ = ["create", "update", "confirm", "read", "vread", "history", "type_history", "search", "restricted_matches",
           "everything", "patient_summary", "version_history", "diff", "upsert_imaging_study",
           "upload_attachment", "read_attachment", "Version", "Page", "VersionInfo"]


def _patient_of(ctx: Context, rtype: str, resource: dict[str, Any]) -> str | None:
    if rtype == "Patient":
        return None
    field = PATIENT_REF.get(rtype)
    if field is None:
        return None
    ref = ((resource.get(field) or {}).get("reference") or "") if isinstance(resource.get(field), dict) else ""
    if not ref.startswith("Patient/") or "/" in ref.removeprefix("Patient/"):
        raise Invalid(f"{rtype}.{field} must reference the patient as Patient/<id>")
    pid = ref.removeprefix("Patient/")
    if ctx.session.scalar(select(Record.pk).where(Record.rtype == "Patient", Record.logical_id == pid)) is None:
        raise Invalid(f"{rtype}.{field}: Patient/{pid} does not exist")
    return pid


def _user_actor(ctx: Context, username_or_id: str) -> Actor:
    user = ctx.session.scalar(select(User).where(or_(User.username == username_or_id.strip().lower(),
                                                     User.id == username_or_id)))
    if user is None or user.disabled:
        raise Invalid(f"no active user {username_or_id!r} to enter on behalf of")
    return Actor(user.id, user.username)


def _ledger(ctx: Context, tag: LedgerTag, rec: Record, target: Target, v: RecordVersion,
            prov: tuple[str, str] | None, reason: str = "", **detail: Any) -> None:
    # The label, class and status the version was written under: the digest commits the
    # label and status too (they are in the content's meta); the class only here (R44).
    d = {"version": v.number, "label": v.label, "class": v.class_code, "status": v.status, **detail}
    if prov:
        d["provenance"] = {"id": prov[0], "digest": prov[1]}
    ctx.record(tag, target=target, digest=v.sha256, reason=reason, detail=d)


def _attach(ctx: Context, rec: Record, resource: dict[str, Any]) -> tuple[dict[str, Any], list[Attachment]]:
    if rec.rtype != "DocumentReference":
        return resource, []
    out, used = attachments.inline(ctx, resource, patient_id=rec.patient_id or "")
    for att in used:
        if att.record_pk not in (None, rec.pk):
            raise Invalid(f"attachment Binary/{att.id} belongs to another document")
    return out, used


def _link(rec: Record, used: list[Attachment]) -> dict[str, Any]:
    for att in used:
        att.record_pk = rec.pk  # after the record row exists
    return {"attachments": [a.sha256 for a in used]} if used else {}


# -- write --------------------------------------------------------------------------------
def create(ctx: Context, resource: Any, *, on_behalf_of: str | None = None,
           if_none_exist: str | None = None) -> Version:
    """Store a new record as version 1, status draft.

    `on_behalf_of` (a username) marks a proxy entry (代行入力, R31): only that user may
    confirm it. `if_none_exist` ("identifier=system|value") makes the create conditional:
    an existing match is returned (`created` False) instead of a duplicate.
    Raises Invalid (not valid FHIR, unknown patient), Denied, Conflict (several matches).
    Ledger: RecordsRecordCreated (digest = the version's SHA-256), or RecordsRecordRead on a match;
    for a Patient labelled above N, ImagingStudyLabelled for images already filed under its ID.
    """
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if rtype not in WRITABLE_TYPES:
        raise Invalid(f"kura does not accept {rtype!r} resources from clients; "
                      f"creatable types: {', '.join(WRITABLE_TYPES)}")
    # The type-level right first, so a caller without it is refused (and the refusal
    # recorded) whatever the body; the label-specific check follows.
    ctx.require(Action.RecordsRecordCreate, Target(kind=rtype))
    validate(rtype, resource)
    if rtype == "Patient":
        patients.check_patient(resource, today=patients.today_of(ctx))
    patient_id = _patient_of(ctx, rtype, resource)
    mc = class_for(ctx, rtype)
    label = effective_label(mc, resource)
    target = (classes.target_for(mc, kind=rtype, id=None, patient_id=patient_id, confidentiality=label)
              if mc else Target(kind=rtype, patient_id=patient_id, confidentiality=label))
    ctx.require(Action.RecordsRecordCreate, target)
    if if_none_exist:
        identifiers.lock_criteria(ctx, if_none_exist)  # concurrent twins wait here, then find this one
        found = _conditional(ctx, rtype, if_none_exist)
        if found is not None:
            return found
    rec = new_record(ctx, rtype=rtype, logical_id=None, patient_id=patient_id, mc=mc, label=label)
    if rtype == "Patient":
        rec.patient_id = rec.logical_id
    body, used = _attach(ctx, rec, resource)
    me = actor_of(ctx)
    proxy = _user_actor(ctx, on_behalf_of) if on_behalf_of else None
    v, _, prov = write_version(ctx, rec, body, activity="create", status=DRAFT, author=me, enterer=me,
                               on_behalf_of=proxy)
    _ledger(ctx, LedgerTag.RecordsRecordCreated, rec, target_of(ctx, rec), v, prov, **_link(rec, used),
            **({"on_behalf_of": proxy.name} if proxy else {}))
    if rtype == "Patient":
        # Images filed under this patient's ID before the registration are linked to it now,
        # and take its label (an emergency CT arrives before the 医事 registration).
        link.patient_changed(ctx, rec, body)
    return version_of(ctx, rec, v)


def _conditional(ctx: Context, rtype: str, criteria: str) -> Version | None:
    from urllib.parse import parse_qsl
    pairs = parse_qsl(criteria.removeprefix("?"), keep_blank_values=True)
    if not pairs or any(k != "identifier" for k, _ in pairs):
        raise Invalid("If-None-Exist supports identifier=system|value only")
    q = params.parse(rtype, pairs)
    pks = list(ctx.session.scalars(select(Record.pk).where(Record.rtype == rtype,
                                                           *params.conditions(q, blinder(ctx))).limit(2)))
    if len(pks) > 1:
        raise Conflict(f"If-None-Exist matches more than one {rtype}")
    if not pks:
        return None
    rec = ctx.session.get(Record, pks[0])
    assert rec is not None  # its pk was just selected in this unit of work
    v = read(ctx, rtype, rec.logical_id)
    return dataclasses.replace(v, created=False)


def update(ctx: Context, rtype: str, id: str, resource: Any, *, reason: str | None = None,
           if_match: int | None = None, on_behalf_of: str | None = None) -> Version:
    """Store a new version (draft) of an existing record; earlier versions stay as they are.

    A correction of a confirmed record needs `reason` (R36; the README: X-Kura-Reason).
    Raises NotFound, Invalid (not valid FHIR, id mismatch, missing reason, patient changed),
    Conflict (`if_match` is not the current version), Denied. Ledger: RecordsRecordUpdated; for a
    Patient whose label changed, every record naming the patient takes it at once (its count in
    the entry's `records_relabelled`; store.patient_relabelled) and ImagingStudyLabelled is
    written for each of its studies (kura.records.link).
    """
    rec = get_record(ctx, rtype, id)
    ctx.require(Action.RecordsRecordUpdate, target_of(ctx, rec))
    if not isinstance(resource, dict) or resource.get("id") != id:
        raise Invalid(f"the resource's id must be {id!r}, the id in the URL")
    if rtype not in WRITABLE_TYPES:
        raise Invalid(f"{rtype} is written by kura itself, not by clients")
    validate(rtype, resource)
    if rtype == "Patient":
        patients.check_patient(resource, today=patients.today_of(ctx))
    if if_match is not None and if_match != rec.current_version:
        raise Conflict(f"{rtype}/{id} is at version {rec.current_version}, not {if_match}")
    # The label the access decision used must be the one the current version was written
    # under (records.sealing): a lowered label is refused here, not written over.
    version_of(ctx, rec, get_version(ctx, rec))
    reason = (reason or "").strip()
    if rec.status == CONFIRMED and not reason:
        raise Invalid(f"{rtype}/{id} is confirmed; a correction needs a reason (X-Kura-Reason)")
    patient_id = rec.logical_id if rtype == "Patient" else _patient_of(ctx, rtype, resource)
    if patient_id != rec.patient_id:
        raise Invalid(f"a {rtype} cannot be moved to another patient")
    mc = classes.get_class(ctx, rec.class_code) if rec.class_code else None
    label = effective_label(mc, resource)
    relabelled = label != rec.confidentiality
    if relabelled:
        rec.confidentiality = label
        ctx.require(Action.RecordsRecordUpdate, target_of(ctx, rec))
    body, used = _attach(ctx, rec, resource)
    me = actor_of(ctx)
    proxy = _user_actor(ctx, on_behalf_of) if on_behalf_of else None
    v, _, prov = write_version(ctx, rec, body, activity="update", status=DRAFT, reason=reason[:2000],
                               author=me, enterer=me, on_behalf_of=proxy)
    covered = {}
    if rtype == "Patient" and relabelled:
        # The patient's records take the new label at once (issue 7 §1), without new versions.
        covered = {"records_relabelled": patient_relabelled(ctx, rec.logical_id, label)}
    _ledger(ctx, LedgerTag.RecordsRecordUpdated, rec, target_of(ctx, rec), v, prov, reason=reason[:2000],
            **_link(rec, used), **covered,
            **({"on_behalf_of": proxy.name} if proxy else {}))
    if rtype == "Patient":
        link.patient_changed(ctx, rec, body)  # a changed label covers the patient's images at once
    return version_of(ctx, rec, v)


def confirm(ctx: Context, rtype: str, id: str) -> Version:
    """確定操作 (MHLW guideline §6; R30): the current draft becomes confirmed by the caller.

    The confirmation is itself a new, immutable version (same content, status confirmed,
    confirmed_by/at set, predecessor = the draft), so no stored version ever changes.
    A proxy entry (R31) can be confirmed only by the user it was entered for.
    Raises NotFound, Denied, Conflict (already confirmed; someone else's proxy entry).
    Ledger: RecordsRecordConfirmed (digest = the confirmed version's SHA-256).
    """
    rec = get_record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordConfirm, target)
    if rec.status == CONFIRMED:
        raise Conflict(f"{rtype}/{id} version {rec.current_version} is confirmed already")
    cur = get_version(ctx, rec)
    me = actor_of(ctx)
    if cur.on_behalf_of_id and cur.on_behalf_of_id != me.id:
        raise Conflict(f"{rtype}/{id} was entered on behalf of {cur.on_behalf_of_name}; only they may confirm it")
    enterer = Actor(cur.enterer_id, cur.enterer_name)
    proxy = Actor(cur.on_behalf_of_id, cur.on_behalf_of_name or "") if cur.on_behalf_of_id else None
    v, _, prov = write_version(ctx, rec, version_of(ctx, rec, cur).resource(), activity="confirm", status=CONFIRMED,
                               author=me, enterer=enterer, on_behalf_of=proxy,
                               confirmed_by=me)
    _ledger(ctx, LedgerTag.RecordsRecordConfirmed, rec, target, v, prov, confirms=cur.number)
    return version_of(ctx, rec, v)


# -- the image archive's ImagingStudy -----------------------------------------------------
def upsert_imaging_study(ctx: Context, resource: dict[str, Any], *, confirmed: bool = False, reason: str = "") -> Version:
    """Keep ImagingStudy/{id} in step with the DICOM store (README).

    Called by the image archive inside its own unit of work, after it has authorised the
    store, confirmation or relabelling itself (imaging actions), so no records action is
    required here. Writes a new version only when the content or the label (meta.security,
    the study's effective label) changed; `confirmed` marks the archive's 検像 confirmation.
    Raises Invalid. Ledger: RecordsRecordCreated/Updated/Confirmed.
    """
    validate("ImagingStudy", resource)
    if not resource.get("id"):
        raise Invalid("an ImagingStudy needs an id (derived from its StudyInstanceUID)")
    patient_id = _patient_of(ctx, "ImagingStudy", resource)
    try:
        rec = get_record(ctx, "ImagingStudy", resource["id"])  # also one written earlier in this unit of work
    except NotFound:
        rec = None
    me = actor_of(ctx)
    mc = class_for(ctx, "ImagingStudy")
    status = CONFIRMED if confirmed else DRAFT
    label = effective_label(mc, resource)
    confirmed_by = me if confirmed else None
    if rec is None:
        rec = new_record(ctx, rtype="ImagingStudy", logical_id=resource["id"], patient_id=patient_id, mc=mc,
                         label=label)
        tag = LedgerTag.RecordsRecordCreated
        activity = "create"
    else:
        prev = get_version(ctx, rec)
        prev_version = version_of(ctx, rec, prev)  # opened and verified (records.sealing)
        cur = prev_version.resource()

        def strip(r: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in r.items() if k != "meta"}

        same = strip(cur) == strip(resource)
        if same and rec.status == status and rec.confidentiality == label:
            return prev_version
        rec.confidentiality = label
        tag, activity = LedgerTag.RecordsRecordUpdated, "update"
        if same and rec.status != status:
            tag, activity = LedgerTag.RecordsRecordConfirmed, "confirm"
        elif same and confirmed and prev.confirmed_by_name:
            # Only the label changed: the 検像 confirmation stays the confirmer's.
            confirmed_by = Actor(prev.confirmed_by_id, prev.confirmed_by_name or "")
    v, _, prov = write_version(ctx, rec, resource, activity=activity, status=status, reason=reason[:2000],
                               author=me, enterer=me, confirmed_by=confirmed_by)
    _ledger(ctx, tag, rec, target_of(ctx, rec), v, prov, reason=reason[:2000])
    return version_of(ctx, rec, v)


# -- attachments --------------------------------------------------------------------------
def upload_attachment(ctx: Context, *, patient_id: str, data: bytes, content_type: str) -> Attachment:
    """A separate upload, to be named by a DocumentReference as `Binary/{id}`.
    Needs the right to create a DocumentReference for the patient. Raises Invalid, Denied, NotFound.
    Ledger: RecordsRecordCreated (kind Binary, digest = SHA-256 of the plaintext)."""
    get_record(ctx, "Patient", patient_id)
    mc = class_for(ctx, "DocumentReference")
    target = (classes.target_for(mc, kind="DocumentReference", id=None, patient_id=patient_id)
              if mc else Target(kind="DocumentReference", patient_id=patient_id))
    ctx.require(Action.RecordsRecordCreate, target)
    att = attachments.store(ctx, patient_id=patient_id, data=data, content_type=content_type)
    ctx.record(LedgerTag.RecordsRecordCreated, target=Target(kind="Binary", id=att.id, patient_id=patient_id),
               digest=att.sha256, detail={"size": att.size, "content_type": att.content_type})
    return att


