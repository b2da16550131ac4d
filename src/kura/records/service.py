"""The 医事 records store: create, update, confirm (確定), read, search, extract.

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
import datetime as dt
from typing import Any, Iterable

from sqlalchemy import and_, false, func, or_, select

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target
from kura.classes import service as classes
from kura.errors import Conflict, Denied, Invalid, NotFound
from kura.identity.models import User
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments
from kura.records.canonical import loads
from kura.records.fhir import params
from kura.records.fhir.validate import PATIENT_REF, STORED_TYPES, WRITABLE_TYPES, validate
from kura.records.models import CONFIRMED, DRAFT, Attachment, Record, RecordVersion
from kura.records.store import (Actor, Version, class_for, effective_label, new_record, target_of,
                                version_of, write_version)

__all__ = ["create", "update", "confirm", "read", "vread", "history", "type_history", "search",
           "everything", "patient_summary", "version_history", "diff", "upsert_imaging_study",
           "upload_attachment", "read_attachment", "Version", "Page", "VersionInfo"]


@dataclasses.dataclass
class Page:
    versions: list[Version]
    total: int
    offset: int
    count: int


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One line of a record's update history (R43): who, when, why, what status."""

    number: int
    status: str
    activity: str
    at: dt.datetime
    author: str
    enterer: str
    on_behalf_of: str | None
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    reason: str
    sha256: str
    provenance_id: str | None


# -- helpers ------------------------------------------------------------------------------
def _actor(ctx: Context) -> Actor:
    a = ctx.actor
    return Actor(a.id if a else None, a.name if a else "system")


def _record(ctx: Context, rtype: str, id: str) -> Record:
    if rtype not in STORED_TYPES:
        raise NotFound(f"kura stores no {rtype}")
    rec = ctx.session.scalar(select(Record).where(Record.rtype == rtype, Record.logical_id == id))
    if rec is None:
        raise NotFound(f"{rtype}/{id} not found")
    return rec


def _version(ctx: Context, rec: Record, number: int | None = None) -> RecordVersion:
    v = ctx.session.get(RecordVersion, (rec.pk, number or rec.current_version))
    if v is None:
        raise NotFound(f"{rec.rtype}/{rec.logical_id}/_history/{number} not found")
    return v


def _patient_of(ctx: Context, rtype: str, resource: dict) -> str | None:
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
    d = {"version": v.number, **detail}
    if prov:
        d["provenance"] = {"id": prov[0], "digest": prov[1]}
    ctx.record(tag, target=target, digest=v.sha256, reason=reason, detail=d)


def _attach(ctx: Context, rec: Record, resource: dict) -> tuple[dict, list[str]]:
    if rec.rtype != "DocumentReference":
        return resource, []
    out, used = attachments.inline(ctx, resource, patient_id=rec.patient_id or "")
    for att in used:
        if att.record_pk not in (None, rec.pk):
            raise Invalid(f"attachment Binary/{att.id} belongs to another document")
        att.record_pk = rec.pk
    return out, [a.sha256 for a in used]


# -- write --------------------------------------------------------------------------------
def create(ctx: Context, resource: Any, *, on_behalf_of: str | None = None,
           if_none_exist: str | None = None) -> Version:
    """Store a new record as version 1, status draft.

    `on_behalf_of` (a username) marks a proxy entry (代行入力, R31): only that user may
    confirm it. `if_none_exist` ("identifier=system|value") makes the create conditional:
    an existing match is returned (`created` False) instead of a duplicate.
    Raises Invalid (not valid FHIR, unknown patient), Denied, Conflict (several matches).
    Ledger: RecordsRecordCreated (digest = the version's SHA-256), or RecordsRecordRead on a match.
    """
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if rtype not in WRITABLE_TYPES:
        raise Invalid(f"kura does not accept {rtype!r} resources from clients; "
                      f"creatable types: {', '.join(WRITABLE_TYPES)}")
    validate(rtype, resource)
    patient_id = _patient_of(ctx, rtype, resource)
    mc = class_for(ctx, rtype)
    label = effective_label(mc, resource)
    target = (classes.target_for(mc, kind=rtype, id=None, patient_id=patient_id, confidentiality=label)
              if mc else Target(kind=rtype, patient_id=patient_id, confidentiality=label))
    ctx.require(Action.RecordsRecordCreate, target)
    if if_none_exist:
        found = _conditional(ctx, rtype, if_none_exist)
        if found is not None:
            return found
    rec = new_record(ctx, rtype=rtype, logical_id=None, patient_id=patient_id, mc=mc, label=label)
    if rtype == "Patient":
        rec.patient_id = rec.logical_id
    ctx.session.flush()
    body, att_hashes = _attach(ctx, rec, resource)
    me = _actor(ctx)
    proxy = _user_actor(ctx, on_behalf_of) if on_behalf_of else None
    v, _, prov = write_version(ctx, rec, body, activity="create", status=DRAFT, author=me, enterer=me,
                               on_behalf_of=proxy)
    _ledger(ctx, LedgerTag.RecordsRecordCreated, rec, target_of(ctx, rec), v, prov,
            **({"attachments": att_hashes} if att_hashes else {}),
            **({"on_behalf_of": proxy.name} if proxy else {}))
    return version_of(rec, v)


def _conditional(ctx: Context, rtype: str, criteria: str) -> Version | None:
    from urllib.parse import parse_qsl
    pairs = parse_qsl(criteria.removeprefix("?"), keep_blank_values=True)
    if not pairs or any(k != "identifier" for k, _ in pairs):
        raise Invalid("If-None-Exist supports identifier=system|value only")
    q = params.parse(rtype, pairs)
    pks = list(ctx.session.scalars(select(Record.pk).where(Record.rtype == rtype, *params.conditions(q)).limit(2)))
    if len(pks) > 1:
        raise Conflict(f"If-None-Exist matches more than one {rtype}")
    if not pks:
        return None
    rec = ctx.session.get(Record, pks[0])
    v = read(ctx, rtype, rec.logical_id)
    return dataclasses.replace(v, created=False)


def update(ctx: Context, rtype: str, id: str, resource: Any, *, reason: str | None = None,
           if_match: int | None = None, on_behalf_of: str | None = None) -> Version:
    """Store a new version (draft) of an existing record; earlier versions stay as they are.

    A correction of a confirmed record needs `reason` (R36; CONTRACT: X-Kura-Reason).
    Raises NotFound, Invalid (not valid FHIR, id mismatch, missing reason, patient changed),
    Conflict (`if_match` is not the current version), Denied. Ledger: RecordsRecordUpdated.
    """
    rec = _record(ctx, rtype, id)
    ctx.require(Action.RecordsRecordUpdate, target_of(ctx, rec))
    if not isinstance(resource, dict) or resource.get("id") != id:
        raise Invalid(f"the resource's id must be {id!r}, the id in the URL")
    if rtype not in WRITABLE_TYPES:
        raise Invalid(f"{rtype} is written by kura itself, not by clients")
    validate(rtype, resource)
    if if_match is not None and if_match != rec.current_version:
        raise Conflict(f"{rtype}/{id} is at version {rec.current_version}, not {if_match}")
    reason = (reason or "").strip()
    if rec.status == CONFIRMED and not reason:
        raise Invalid(f"{rtype}/{id} is confirmed; a correction needs a reason (X-Kura-Reason)")
    patient_id = rec.logical_id if rtype == "Patient" else _patient_of(ctx, rtype, resource)
    if patient_id != rec.patient_id:
        raise Invalid(f"a {rtype} cannot be moved to another patient")
    mc = classes.get_class(ctx, rec.class_code) if rec.class_code else None
    label = effective_label(mc, resource)
    if label != rec.confidentiality:
        rec.confidentiality = label
        ctx.require(Action.RecordsRecordUpdate, target_of(ctx, rec))
    body, att_hashes = _attach(ctx, rec, resource)
    me = _actor(ctx)
    proxy = _user_actor(ctx, on_behalf_of) if on_behalf_of else None
    v, _, prov = write_version(ctx, rec, body, activity="update", status=DRAFT, reason=reason[:2000],
                               author=me, enterer=me, on_behalf_of=proxy)
    _ledger(ctx, LedgerTag.RecordsRecordUpdated, rec, target_of(ctx, rec), v, prov, reason=reason[:2000],
            **({"attachments": att_hashes} if att_hashes else {}),
            **({"on_behalf_of": proxy.name} if proxy else {}))
    return version_of(rec, v)


def confirm(ctx: Context, rtype: str, id: str) -> Version:
    """確定操作 (MHLW guideline §6; R30): the current draft becomes confirmed by the caller.

    The confirmation is itself a new, immutable version (same content, status confirmed,
    confirmed_by/at set, predecessor = the draft), so no stored version ever changes.
    A proxy entry (R31) can be confirmed only by the user it was entered for.
    Raises NotFound, Denied, Conflict (already confirmed; someone else's proxy entry).
    Ledger: RecordsRecordConfirmed (digest = the confirmed version's SHA-256).
    """
    rec = _record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordConfirm, target)
    if rec.status == CONFIRMED:
        raise Conflict(f"{rtype}/{id} version {rec.current_version} is confirmed already")
    cur = _version(ctx, rec)
    me = _actor(ctx)
    if cur.on_behalf_of_id and cur.on_behalf_of_id != me.id:
        raise Conflict(f"{rtype}/{id} was entered on behalf of {cur.on_behalf_of_name}; only they may confirm it")
    enterer = Actor(cur.enterer_id, cur.enterer_name)
    proxy = Actor(cur.on_behalf_of_id, cur.on_behalf_of_name or "") if cur.on_behalf_of_id else None
    v, _, prov = write_version(ctx, rec, loads(cur.content), activity="confirm", status=CONFIRMED,
                               author=me, enterer=enterer, on_behalf_of=proxy,
                               confirmed_by=me)
    _ledger(ctx, LedgerTag.RecordsRecordConfirmed, rec, target, v, prov, confirms=cur.number)
    return version_of(rec, v)


# -- read ---------------------------------------------------------------------------------
def read(ctx: Context, rtype: str, id: str) -> Version:
    """The current version. Raises NotFound, Denied (beyond clearance: needs_break_glass).
    Ledger: RecordsRecordRead (digest = the version read)."""
    rec = _record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    v = _version(ctx, rec)
    ctx.record(LedgerTag.RecordsRecordRead, target=target, digest=v.sha256, detail={"version": v.number})
    return version_of(rec, v)


def vread(ctx: Context, rtype: str, id: str, number: int) -> Version:
    """Version `number`, exactly as stored (R36). Ledger: RecordsRecordRead."""
    rec = _record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    if not 1 <= number <= rec.current_version:
        raise NotFound(f"{rtype}/{id}/_history/{number} not found")
    v = _version(ctx, rec, number)
    ctx.record(LedgerTag.RecordsRecordRead, target=target, digest=v.sha256, detail={"version": v.number})
    return version_of(rec, v)


def history(ctx: Context, rtype: str, id: str, *, count: int = 100, offset: int = 0) -> Page:
    """Every version of one record, newest first (instance _history). Ledger: RecordsRecordRead."""
    rec = _record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    rows = list(ctx.session.scalars(select(RecordVersion).where(RecordVersion.record_pk == rec.pk)
                                    .order_by(RecordVersion.number.desc()).offset(offset).limit(count)))
    ctx.record(LedgerTag.RecordsRecordRead, target=target, detail={"history": True, "versions": len(rows)})
    return Page([version_of(rec, v) for v in rows], rec.current_version, offset, count)


def version_history(ctx: Context, rtype: str, id: str) -> list[VersionInfo]:
    """Who changed what, when and why, oldest first (R43), for the history screen."""
    page = history(ctx, rtype, id, count=10_000)
    return [VersionInfo(number=v.number, status=v.status, activity=v.activity, at=v.at, author=v.author_name,
                        enterer=v.enterer_name, on_behalf_of=v.on_behalf_of_name,
                        confirmed_by=v.confirmed_by_name, confirmed_at=v.confirmed_at, reason=v.reason,
                        sha256=v.sha256, provenance_id=v.provenance_id) for v in reversed(page.versions)]


def diff(ctx: Context, rtype: str, id: str, a: int, b: int) -> tuple[dict, dict, list[tuple[str, Any, Any]]]:
    """Versions `a` and `b` and their differences as (path, before, after), meta left out (R43)."""
    va, vb = vread(ctx, rtype, id, a).resource(), vread(ctx, rtype, id, b).resource()
    changes: list[tuple[str, Any, Any]] = []

    def walk(path: str, x: Any, y: Any) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if not path and k == "meta":
                    continue
                walk(f"{path}.{k}" if path else k, x.get(k), y.get(k))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (p, q) in enumerate(zip(x, y)):
                walk(f"{path}[{i}]", p, q)
        elif x != y:
            changes.append((path, x, y))

    walk("", va, vb)
    return va, vb, changes


def _visible(ctx: Context, rtype: str, action: Action):
    """SQL condition: the records of `rtype` the caller may see without break-glass.

    The policy decides per (management class, label); asking it once per pair here keeps
    search results, totals and paging exact without loading what the caller may not see.
    """
    from kura.records.store import _classes
    alts = []
    for code, mc in _classes(ctx).items():
        labels = [lab for lab in CONFIDENTIALITY if CONFIDENTIALITY.index(lab) >= CONFIDENTIALITY.index(mc.confidentiality)
                  and _plain(ctx.allows(action, classes.target_for(mc, kind=rtype, id=None, patient_id=None,
                                                                    confidentiality=lab)))]
        if labels:
            alts.append(and_(Record.class_code == code, Record.confidentiality.in_(labels)))
    labels = [lab for lab in CONFIDENTIALITY if _plain(ctx.allows(action, Target(kind=rtype, confidentiality=lab)))]
    if labels:
        alts.append(and_(Record.class_code.is_(None), Record.confidentiality.in_(labels)))
    return or_(*alts) if alts else false()


def _plain(decision) -> bool:
    return decision.allowed and not decision.break_glass


def search(ctx: Context, rtype: str, pairs: Iterable[tuple[str, str]]) -> Page:
    """FHIR search (GET) on `rtype`. Records the caller may not see are left out silently.
    Raises Invalid (unknown parameter), Denied (no search right on the type).
    Ledger: RecordsRecordSearched (the query, the total, the patients in the page)."""
    pairs = list(pairs)
    q = params.parse(rtype, pairs)
    scope_patients = q.patient_ids()
    ctx.require(Action.RecordsRecordSearch, Target(kind=rtype, patient_id=scope_patients[0] if len(scope_patients) == 1 else None))
    where = [Record.rtype == rtype, _visible(ctx, rtype, Action.RecordsRecordSearch), *params.conditions(q)]
    total = ctx.session.scalar(select(func.count()).select_from(Record).where(*where)) or 0
    rows: list[tuple[Record, RecordVersion]] = []
    if q.count:
        stmt = (select(Record, RecordVersion).join(RecordVersion, and_(RecordVersion.record_pk == Record.pk,
                                                                       RecordVersion.number == Record.current_version))
                .where(*where).order_by(*params.order_by(q)).offset(q.offset).limit(q.count))
        rows = [(r, v) for r, v in ctx.session.execute(stmt)
                if ctx.allows(Action.RecordsRecordSearch, target_of(ctx, r)).allowed]
    patients = sorted({r.patient_id for r, _ in rows if r.patient_id})
    ctx.record(LedgerTag.RecordsRecordSearched,
               target=Target(kind=rtype, patient_id=patients[0] if len(patients) == 1 else None),
               detail={"query": [[k, v] for k, v in pairs][:20], "total": total, "patients": patients[:50]})
    return Page([version_of(r, v) for r, v in rows], total, q.offset, q.count)


def type_history(ctx: Context, rtype: str, *, count: int = 20, offset: int = 0,
                 since: dt.datetime | None = None) -> Page:
    """Every version of every visible record of `rtype`, newest first. Ledger: RecordsRecordSearched."""
    if rtype not in STORED_TYPES:
        raise NotFound(f"kura stores no {rtype}")
    ctx.require(Action.RecordsRecordSearch, Target(kind=rtype))
    where = [Record.rtype == rtype, _visible(ctx, rtype, Action.RecordsRecordSearch)]
    if since:
        where.append(RecordVersion.at >= since)
    base = select(Record, RecordVersion).join(RecordVersion, RecordVersion.record_pk == Record.pk).where(*where)
    total = ctx.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = list(ctx.session.execute(base.order_by(RecordVersion.at.desc(), RecordVersion.number.desc())
                                    .offset(offset).limit(count)))
    ctx.record(LedgerTag.RecordsRecordSearched, target=Target(kind=rtype),
               detail={"history": True, "total": total})
    return Page([version_of(r, v) for r, v in rows], total, offset, count)


# -- extraction ---------------------------------------------------------------------------
_EVERYTHING_ORDER = ("Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference",
                     "ImagingStudy")


def everything(ctx: Context, patient_id: str) -> list[Version]:
    """Patient/$everything (regulation §6: extract promptly): the patient and every record
    naming them that the caller may read; beyond clearance they are left out unless
    break-glass was asked for (then each is allowed and alerted per record).
    Raises NotFound, Denied (the patient itself). Ledger: RecordsRecordRead for the patient."""
    patient = _record(ctx, "Patient", patient_id)
    target = target_of(ctx, patient)
    ctx.require(Action.RecordsRecordRead, target)
    stmt = (select(Record, RecordVersion).join(RecordVersion, and_(RecordVersion.record_pk == Record.pk,
                                                                   RecordVersion.number == Record.current_version))
            .where(Record.patient_id == patient_id, Record.rtype.in_(_EVERYTHING_ORDER))
            .order_by(Record.rtype, Record.created_at, Record.pk))
    out: list[Version] = []
    for rec, v in ctx.session.execute(stmt):
        t = target_of(ctx, rec)
        d = ctx.allows(Action.RecordsRecordRead, t)
        if not d.allowed:
            continue
        if d.break_glass and rec.pk != patient.pk:
            ctx.require(Action.RecordsRecordRead, t)
        out.append(version_of(rec, v))
    out.sort(key=lambda x: (_EVERYTHING_ORDER.index(x.rtype), x.at))
    ctx.record(LedgerTag.RecordsRecordRead, target=target, detail={"everything": True, "resources": len(out)})
    return out


def patient_summary(ctx: Context, patient_id: str) -> dict[str, list[Version]]:
    """The patient page: demographics, coverage, encounters, charges, invoices, documents,
    studies — each a list of current versions the caller may see (via everything)."""
    keys = {"Patient": "patient", "Coverage": "coverage", "Encounter": "encounters", "ChargeItem": "charges",
            "Invoice": "invoices", "DocumentReference": "documents", "ImagingStudy": "studies"}
    out: dict[str, list[Version]] = {k: [] for k in keys.values()}
    for v in everything(ctx, patient_id):
        out[keys[v.rtype]].append(v)
    return out


# -- the image archive's ImagingStudy -----------------------------------------------------
def upsert_imaging_study(ctx: Context, resource: dict, *, confirmed: bool = False) -> Version:
    """Keep ImagingStudy/{id} in step with the DICOM store (CONTRACT.md).

    Called by the image archive inside its own unit of work, after it has authorised the
    store or confirmation itself (imaging actions), so no records action is required here.
    Writes a new version only when the content changed; `confirmed` marks the archive's
    検像 confirmation. Raises Invalid. Ledger: RecordsRecordCreated/Updated/Confirmed.
    """
    validate("ImagingStudy", resource)
    if not resource.get("id"):
        raise Invalid("an ImagingStudy needs an id (derived from its StudyInstanceUID)")
    patient_id = _patient_of(ctx, "ImagingStudy", resource)
    rec = ctx.session.scalar(select(Record).where(Record.rtype == "ImagingStudy",
                                                  Record.logical_id == resource["id"]))
    me = _actor(ctx)
    mc = class_for(ctx, "ImagingStudy")
    status = CONFIRMED if confirmed else DRAFT
    if rec is None:
        rec = new_record(ctx, rtype="ImagingStudy", logical_id=resource["id"], patient_id=patient_id, mc=mc,
                         label=effective_label(mc, resource))
        ctx.session.flush()
        tag = LedgerTag.RecordsRecordCreated
        activity = "create"
    else:
        cur = loads(_version(ctx, rec).content)
        strip = lambda r: {k: v for k, v in r.items() if k != "meta"}  # noqa: E731
        if strip(cur) == strip(resource) and rec.status == status:
            return version_of(rec, _version(ctx, rec))
        rec.confidentiality = effective_label(mc, resource)
        tag, activity = LedgerTag.RecordsRecordUpdated, "update"
        if strip(cur) == strip(resource):
            tag, activity = LedgerTag.RecordsRecordConfirmed, "confirm"
    v, _, prov = write_version(ctx, rec, resource, activity=activity, status=status, author=me, enterer=me,
                               confirmed_by=me if confirmed else None)
    _ledger(ctx, tag, rec, target_of(ctx, rec), v, prov)
    return version_of(rec, v)


# -- attachments --------------------------------------------------------------------------
def upload_attachment(ctx: Context, *, patient_id: str, data: bytes, content_type: str) -> Attachment:
    """A separate upload, to be named by a DocumentReference as `Binary/{id}`.
    Needs the right to create a DocumentReference for the patient. Raises Invalid, Denied, NotFound.
    Ledger: RecordsRecordCreated (kind Binary, digest = SHA-256 of the plaintext)."""
    _record(ctx, "Patient", patient_id)
    mc = class_for(ctx, "DocumentReference")
    target = (classes.target_for(mc, kind="DocumentReference", id=None, patient_id=patient_id)
              if mc else Target(kind="DocumentReference", patient_id=patient_id))
    ctx.require(Action.RecordsRecordCreate, target)
    att = attachments.store(ctx, patient_id=patient_id, data=data, content_type=content_type)
    ctx.record(LedgerTag.RecordsRecordCreated, target=Target(kind="Binary", id=att.id, patient_id=patient_id),
               digest=att.sha256, detail={"size": att.size, "content_type": att.content_type})
    return att


def read_attachment(ctx: Context, att_id: str) -> tuple[bytes, str]:
    """The plaintext of Binary/{id} for callers who may read its DocumentReference.
    Raises NotFound, Denied, IntegrityFailure. Ledger: RecordsRecordRead (kind Binary)."""
    att = ctx.session.get(Attachment, att_id)
    if att is None:
        raise NotFound(f"Binary/{att_id} not found")
    if att.record_pk is None:
        if not ctx.actor or att.uploaded_by_id != ctx.actor.id:
            raise NotFound(f"Binary/{att_id} not found")
        target = Target(kind="DocumentReference", patient_id=att.patient_id)
    else:
        target = target_of(ctx, ctx.session.get(Record, att.record_pk))
        ctx.require(Action.RecordsRecordRead, target)
    data = attachments.read(ctx, att)
    ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Binary", id=att.id, patient_id=att.patient_id),
               digest=att.sha256, detail={"document": target.id})
    return data, att.content_type
