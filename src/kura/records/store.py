"""The version mechanism itself: write a version, its indexes and its Provenance. No access
decisions here — records.service asks the policy first and then calls these.

A version's bytes are the resource with server-managed meta (versionId, lastUpdated, the
confidentiality label and the `urn:kura:status` tag) in canonical JSON; its SHA-256 is the
digest the ledger commits (R37, R44). The bytes are stored sealed (records.sealing) and every
read opens and verifies them (`version_of`). Index values that name someone are written as
blind tokens (`blinder`). Writes flush, never commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any, Callable, cast

from sqlalchemy import Insert, Table, delete, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from kura.access.policy import CONFIDENTIALITY, Target
from kura.classes import service as classes
from kura.classes.models import ManagementClass
from kura.db.base import Base
from kura.errors import Conflict, IntegrityFailure, NotFound, Shredded
from kura.identity.models import User
from kura.keys import service as keys
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import identifiers, sealing
from kura.records.canonical import canonical, loads, sha256_hex
from kura.records.fhir import params
from kura.records.fhir.provenance import agent_ref, practitioner, provenance
from kura.records.models import (CONFIRMED, PatientIdentifier, Record, RecordVersion, SearchDate, SearchString,
                                 SearchToken)
from kura.tombstones import check as check_disposed

__all__ = ["Version", "STATUS_SYSTEM", "CONFIDENTIALITY_SYSTEM", "instant", "label_of", "target_of",
           "class_for", "new_record", "write_version", "reindex", "rebuild_indexes", "ensure_practitioner",
           "version_of", "Actor", "actor_of", "get_record", "get_version", "all_classes", "effective_label",
           "blinder", "content_of", "higher", "patient_label", "patient_relabelled"]

STATUS_SYSTEM = "urn:kura:status"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


@dataclasses.dataclass(frozen=True)
class Version:
    """A stored version as callers see it: exact bytes plus who/when/why."""

    rtype: str
    id: str
    number: int
    content: bytes
    sha256: str
    status: str
    activity: str
    at: dt.datetime
    author_name: str
    reason: str
    enterer_name: str
    on_behalf_of_name: str | None
    confirmed_by_name: str | None
    confirmed_at: dt.datetime | None
    predecessor: int | None
    provenance_id: str | None
    patient_id: str | None = None
    confidentiality: str = "N"  # the record's own label (its class's included)
    class_code: str | None = None
    patient_confidentiality: str = "N"  # its patient's label; the effective label is the higher
    created: bool = True  # False when a conditional create found an existing resource

    def resource(self) -> dict[str, Any]:
        return cast(dict[str, Any], loads(self.content))

    @property
    def etag(self) -> str:
        return f'W/"{self.number}"'


@dataclasses.dataclass(frozen=True)
class Actor:
    id: str | None
    name: str


def version_of(ctx: Context, rec: Record, v: RecordVersion, *, checked: bool = False) -> Version:
    """The version as callers see it, its content opened and verified (records.sealing).
    When `v` is the record's current version, the record row is checked against it too
    (`checked`: the caller has done so). Raises IntegrityFailure (ledgered alert), Shredded."""
    content = sealing.open_version(ctx, rec, v)
    if not checked and v.number == rec.current_version:
        sealing.check_record(ctx, rec, v)
    return Version(rtype=rec.rtype, id=rec.logical_id, number=v.number,
                   content=content, sha256=v.sha256,
                   status=v.status, activity=v.activity, at=v.at, author_name=v.author_name,
                   reason=v.reason, enterer_name=v.enterer_name, on_behalf_of_name=v.on_behalf_of_name,
                   confirmed_by_name=v.confirmed_by_name, confirmed_at=v.confirmed_at,
                   predecessor=v.predecessor, provenance_id=v.provenance_id, patient_id=rec.patient_id,
                   confidentiality=rec.confidentiality, class_code=rec.class_code,
                   patient_confidentiality=rec.patient_confidentiality or "N")


def content_of(ctx: Context, rec: Record, v: RecordVersion) -> bytes:
    """The verified plaintext of one version (no record-row check). Raises as version_of."""
    return sealing.open_version(ctx, rec, v)


def blinder(ctx: Context) -> params.Blind:
    """kura.keys.service.blind for this unit of work, as params.Blind."""
    ring = ctx.keyring
    return lambda kind, value: keys.blind(ring, kind, value)


def actor_of(ctx: Context) -> Actor:
    a = ctx.actor
    return Actor(a.id if a else None, a.name if a else "system")


def get_record(ctx: Context, rtype: str, id: str) -> Record:
    """The record `rtype/id`; raises NotFound, or Shredded when it was lawfully disposed of
    (no access check: callers ask the policy next)."""
    from kura.records.fhir.validate import STORED_TYPES
    if rtype not in STORED_TYPES:
        raise NotFound(f"kura stores no {rtype}")
    written = _written(ctx).get((rtype, id))
    if written is not None:
        return written[0]
    rec = ctx.session.scalar(select(Record).where(Record.rtype == rtype, Record.logical_id == id))
    if rec is None:
        check_disposed(ctx, rtype, id)
        raise NotFound(f"{rtype}/{id} not found")
    return rec


def _written(ctx: Context) -> dict[tuple[str, str], tuple[Record, Row]]:
    """Records created in this unit of work (inserted with Core, so not in the ORM session),
    with the last version written: a create followed by a confirm or update in the same
    transaction (a FHIR transaction Bundle) needs no query to find them again. Only this
    transaction can see them, so no other writer can make the entry stale."""
    written: dict[tuple[str, str], tuple[Record, Row]] = ctx.session.info.setdefault("kura_written", {})
    return written


class Row:
    """A version as written (the same attributes as a RecordVersion row, without the ORM),
    with its plaintext as `plain` (no need to open what this unit of work just sealed)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # the attributes are the columns given above
        raise AttributeError(name)


def get_version(ctx: Context, rec: Record, number: int | None = None) -> RecordVersion:
    written = _written(ctx).get((rec.rtype, rec.logical_id))
    if written is not None and written[0] is rec and written[1].number == (number or rec.current_version):
        return written[1]  # type: ignore[return-value]
    v = ctx.session.get(RecordVersion, (rec.pk, number or rec.current_version))
    if v is None:
        raise NotFound(f"{rec.rtype}/{rec.logical_id}/_history/{number} not found")
    return v


def instant(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def label_of(resource: dict[str, Any]) -> str | None:
    """The v3-Confidentiality code the resource asks for in meta.security, if any (N/R/V)."""
    best = None
    for c in (resource.get("meta") or {}).get("security") or []:
        if isinstance(c, dict) and c.get("system") == CONFIDENTIALITY_SYSTEM and c.get("code") in CONFIDENTIALITY:
            if best is None or CONFIDENTIALITY.index(c["code"]) > CONFIDENTIALITY.index(best):
                best = c["code"]
    return best


def all_classes(ctx: Context) -> dict[str, ManagementClass]:
    cache: dict[str, ManagementClass] = ctx.session.info.setdefault("kura_classes", {})
    if not cache:
        for mc in ctx.session.scalars(select(ManagementClass)):
            cache[mc.code] = mc
    return cache


def class_for(ctx: Context, rtype: str) -> ManagementClass | None:
    """The default management class of a record type (None for Practitioner)."""
    key = ("default", rtype)
    cache: dict[tuple[str, str], ManagementClass | None] = ctx.session.info.setdefault("kura_default_class", {})
    if key not in cache:
        # the same rule as classes.default_for (first class by code naming the type), from
        # the per-transaction cache of classes
        cache[key] = next((mc for code, mc in sorted(all_classes(ctx).items())
                           if rtype in mc.default_for.split(",")), None)
    return cache[key]


def higher(*labels: str | None) -> str:
    """The highest of the given v3 labels (None counts as N)."""
    return max((lab or "N" for lab in labels), key=CONFIDENTIALITY.index)


def target_of(ctx: Context, rec: Record) -> Target:
    """The access target of a record: its class, and the highest of its own label, its
    class's and its patient's (issue 7 §1: a patient's label covers everything about them)."""
    label = higher(rec.confidentiality, rec.patient_confidentiality)
    mc = all_classes(ctx).get(rec.class_code) if rec.class_code else None
    if mc is None:
        return Target(kind=rec.rtype, id=rec.logical_id, patient_id=rec.patient_id, confidentiality=label)
    return classes.target_for(mc, kind=rec.rtype, id=rec.logical_id, patient_id=rec.patient_id,
                              confidentiality=label)


def patient_label(ctx: Context, patient_id: str | None) -> str:
    """The label of Patient/`patient_id` (N when there is none, or it is not stored)."""
    if not patient_id:
        return "N"
    written = _written(ctx).get(("Patient", patient_id))
    if written is not None:
        return written[0].confidentiality
    return ctx.session.scalar(select(Record.confidentiality).where(
        Record.rtype == "Patient", Record.logical_id == patient_id)) or "N"


def patient_relabelled(ctx: Context, patient_id: str, label: str) -> int:
    """Patient/`patient_id` is now labelled `label`: every record naming the patient (and its
    name-index rows) takes it at once, in this transaction. No version is written — the
    patient's part of a record's label lives beside its versions, not in them. Returns the
    number of records. The caller's ledger entry for the Patient's update names the label."""
    conn = ctx.session.connection()
    rt, st = _table(Record), _table(SearchString)
    # The Patient's own record keeps N here: its label is its own.
    mine = (rt.c.patient_id == patient_id) & (rt.c.rtype != "Patient")
    n = conn.execute(update(rt).where(mine).values(patient_confidentiality=label)).rowcount
    conn.execute(update(st).where(st.c.record_pk.in_(select(rt.c.pk).where(mine)))
                 .values(patient_confidentiality=label))
    # What this unit of work already holds: ORM rows and records inserted with Core.
    for obj in list(ctx.session.identity_map.values()):
        if isinstance(obj, Record) and obj.patient_id == patient_id and obj.rtype != "Patient":
            set_committed_value(obj, "patient_confidentiality", label)
    for rec, _ in _written(ctx).values():
        if rec.patient_id == patient_id and rec.rtype != "Patient":
            rec.patient_confidentiality = label
    return n


def effective_label(mc: ManagementClass | None, resource: dict[str, Any]) -> str:
    """The class's label, raised (never lowered) by the resource's meta.security (R14)."""
    base = mc.confidentiality if mc else "N"
    asked = label_of(resource)
    if asked and CONFIDENTIALITY.index(asked) > CONFIDENTIALITY.index(base):
        return asked
    return base


def _with_meta(resource: dict[str, Any], *, id: str, number: int, at: dt.datetime, label: str, status: str) -> dict[str, Any]:
    out = dict(resource)
    out["id"] = id
    meta = dict(resource.get("meta") or {})
    for k in ("versionId", "lastUpdated"):
        meta.pop(k, None)
    security = [c for c in meta.get("security") or [] if not (isinstance(c, dict) and c.get("system") == CONFIDENTIALITY_SYSTEM)]
    meta["security"] = [{"system": CONFIDENTIALITY_SYSTEM, "code": label}, *security]
    tags = [c for c in meta.get("tag") or [] if not (isinstance(c, dict) and c.get("system") == STATUS_SYSTEM)]
    meta["tag"] = [{"system": STATUS_SYSTEM, "code": status}, *tags]
    meta["versionId"] = str(number)
    meta["lastUpdated"] = instant(at)
    out["meta"] = meta
    return out


def new_record(ctx: Context, *, rtype: str, logical_id: str | None, patient_id: str | None,
               mc: ManagementClass | None, label: str) -> Record:
    """A record not yet in the database: write_version inserts it with its first version."""
    now = ctx.now()
    return Record(pk=str(uuid.uuid4()), rtype=rtype, logical_id=logical_id or str(uuid.uuid4()),
                  patient_id=patient_id, class_code=mc.code if mc else None, confidentiality=label,
                  patient_confidentiality=patient_label(ctx, patient_id),
                  current_version=0, status="draft", created_at=now, last_updated=now)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)  # a mapped class's table (typed as a FromClause)


_COLUMNS = {model: [c.name for c in model.__table__.columns] for model in (Record, RecordVersion)}


# Built once: a statement object memoises its cache key, so the hot write path does not
# rebuild and re-key the same INSERT for every row.
_INSERTS: dict[type[Base], Insert] = {model: insert(_table(model)) for model in (Record, RecordVersion, SearchToken, SearchString,
                                                         SearchDate)}


def _insert(ctx: Context, model: type[Base], rows: list[dict[str, Any]]) -> None:
    # Core inserts: a version is written once and never loaded back in the same unit of
    # work, so the ORM's change tracking would only cost time on the hot write path.
    ctx.session.connection().execute(_INSERTS[model], rows)


def reindex(ctx: Context, rec: Record, resource: dict[str, Any], *, fresh: bool, lenient: bool = False,
            with_identifiers: bool = True) -> None:
    """Rewrite the record's search index rows (same transaction as the version); names and
    identifiers as blind tokens (params.string_tokens, params.token_value); and a Patient's
    identifiers (records.identifiers: Conflict when another Patient holds one)."""
    s = ctx.session.connection()
    if not fresh:
        for model in (SearchToken, SearchString, SearchDate):
            s.execute(delete(_table(model)).where(model.__table__.c.record_pk == rec.pk))
    if rec.rtype == "Patient" and with_identifiers:
        if not fresh:
            identifiers.release(ctx, rec)
        identifiers.claim(ctx, rec, resource, lenient=lenient)
    ix = params.extract(rec.rtype, resource)
    blind = blinder(ctx)
    if ix.tokens:
        rows = {(p, sy, params.token_value(rec.rtype, p, v, blind)) for p, sy, v in ix.tokens}
        s.execute(_INSERTS[SearchToken], [{"record_pk": rec.pk, "rtype": rec.rtype, "param": p, "system": sy,
                                           "value": v} for p, sy, v in sorted(rows)])
    if ix.strings:
        by_param: dict[str, list[str]] = {}
        for p, v in ix.strings:
            by_param.setdefault(p, []).append(v)
        s.execute(_INSERTS[SearchString], [{"record_pk": rec.pk, "rtype": rec.rtype, "param": p, "value": t,
                                            "class_code": rec.class_code, "confidentiality": rec.confidentiality,
                                            "patient_confidentiality": rec.patient_confidentiality or "N"}
                                           for p, vs in by_param.items()
                                           for t in sorted(params.string_tokens(rec.rtype, p, vs, blind))])
    if ix.dates:
        s.execute(_INSERTS[SearchDate], [{"record_pk": rec.pk, "rtype": rec.rtype, "param": p, "start": a,
                                        "end": b} for p, a, b in ix.dates])


def write_version(ctx: Context, rec: Record, resource: dict[str, Any], *, activity: str, status: str,
                  reason: str = "", author: Actor, enterer: Actor, on_behalf_of: Actor | None = None,
                  confirmed_by: Actor | None = None, with_provenance: bool = True,
                  index: bool = True) -> tuple[RecordVersion, bytes, tuple[str, str] | None]:
    """Append version n+1 of `rec`; returns it, its bytes, and (provenance id, digest) if made."""
    now = ctx.now()
    number = rec.current_version + 1
    body = _with_meta(resource, id=rec.logical_id, number=number, at=now, label=rec.confidentiality,
                      status=status)
    content = canonical(body)
    digest = sha256_hex(content)
    sealed = sealing.seal_content(ctx, rtype=rec.rtype, logical_id=rec.logical_id, number=number,
                                  patient_id=rec.patient_id, status=status, label=rec.confidentiality,
                                  class_code=rec.class_code, plaintext=content)
    prov = None
    if with_provenance:
        prov = _provenance(ctx, rec, number, activity=activity, reason=reason, author=author,
                           enterer=enterer, on_behalf_of=on_behalf_of, at=now)
    values = dict(record_pk=rec.pk, number=number, content=sealed, blob=None, sha256=digest,
                  status=status, label=rec.confidentiality, class_code=rec.class_code, activity=activity, at=now, author_id=author.id, author_name=author.name,
                  reason=reason, enterer_id=enterer.id, enterer_name=enterer.name,
                  on_behalf_of_id=on_behalf_of.id if on_behalf_of else None,
                  on_behalf_of_name=on_behalf_of.name if on_behalf_of else None,
                  confirmed_by_id=confirmed_by.id if confirmed_by else None,
                  confirmed_by_name=confirmed_by.name if confirmed_by else None,
                  confirmed_at=now if confirmed_by else None,
                  predecessor=number - 1 if number > 1 else None, origin=ctx.origin[:200],
                  provenance_id=prov[0] if prov else None)
    fresh = rec.current_version == 0
    cached = _written(ctx).get((rec.rtype, rec.logical_id))
    transient = cached is not None and cached[0] is rec  # created in this unit of work, not in the ORM
    rec.current_version, rec.status, rec.last_updated = number, status, now
    try:
        if fresh:
            _insert(ctx, Record, [{c: getattr(rec, c) for c in _COLUMNS[Record]}])
        elif transient:
            ctx.session.connection().execute(
                update(_table(Record)).where(Record.__table__.c.pk == rec.pk)
                .values(current_version=number, status=status, last_updated=now,
                        confidentiality=rec.confidentiality))
        else:
            ctx.session.flush()  # the record row's new current version, before its version row
        _insert(ctx, RecordVersion, [values])
    except IntegrityError:
        # Two writers raced for version n+1 (or for a client-chosen id): the primary key
        # lets one win; the other is told to read again rather than overwrite.
        raise Conflict(f"{rec.rtype}/{rec.logical_id} was changed concurrently; read it again") from None
    if index and activity != "confirm":
        reindex(ctx, rec, body, fresh=fresh)
    row = Row({**values, "plain": content})
    if (fresh or transient) and rec.rtype != "Provenance":
        _written(ctx)[(rec.rtype, rec.logical_id)] = (rec, row)
    return row, content, prov  # type: ignore[return-value]


def _provenance(ctx: Context, rec: Record, number: int, *, activity: str, reason: str, author: Actor,
                enterer: Actor, on_behalf_of: Actor | None, at: dt.datetime) -> tuple[str, str]:
    for a in {author, enterer, *( [on_behalf_of] if on_behalf_of else [])}:
        ensure_practitioner(ctx, a.id)
    prov_id = str(uuid.uuid4())
    res = provenance(id=prov_id, target=f"{rec.rtype}/{rec.logical_id}/_history/{number}",
                     predecessor=f"{rec.rtype}/{rec.logical_id}/_history/{number - 1}" if number > 1 else None,
                     recorded=instant(at), activity=activity, reason=reason,
                     author=agent_ref(author.id, author.name),
                     enterer=agent_ref(enterer.id, enterer.name),
                     on_behalf_of=agent_ref(on_behalf_of.id, on_behalf_of.name) if on_behalf_of else None,
                     attester=agent_ref(author.id, author.name), origin=ctx.origin)
    prec = Record(pk=str(uuid.uuid4()), rtype="Provenance", logical_id=prov_id, patient_id=rec.patient_id,
                  class_code=rec.class_code, confidentiality=rec.confidentiality,
                  # a Patient's own Provenance is about the patient: it takes the Patient's label
                  patient_confidentiality=(rec.confidentiality if rec.rtype == "Patient"
                                           else rec.patient_confidentiality or "N"), current_version=0,
                  status=CONFIRMED, created_at=at, last_updated=at)
    _, content, _ = write_version(ctx, prec, res, activity="create", status=CONFIRMED, author=author,
                                  enterer=author, confirmed_by=author, with_provenance=False)
    return prov_id, sha256_hex(content)


def ensure_practitioner(ctx: Context, user_id: str | None) -> None:
    """Practitioner/{user id}, derived from the user account, written once on first need."""
    if not user_id:
        return
    seen = ctx.session.info.setdefault("kura_practitioners", set())
    if user_id in seen:
        return
    exists = ctx.session.scalar(select(Record.pk).where(Record.rtype == "Practitioner",
                                                        Record.logical_id == user_id))
    if exists is None:
        user = ctx.session.get(User, user_id)
        if user is None:
            return
        rec = new_record(ctx, rtype="Practitioner", logical_id=user_id, patient_id=None, mc=None, label="N")
        me = Actor(user.id, user.username)
        _, content, _ = write_version(
            ctx, rec, practitioner(user_id=user.id, username=user.username, display_name=user.display_name,
                                   active=not user.disabled),
            activity="create", status=CONFIRMED, author=me, enterer=me, confirmed_by=me, with_provenance=False)
        ctx.record(LedgerTag.RecordsRecordCreated, target=Target(kind="Practitioner", id=user_id),
                   digest=sha256_hex(content), detail={"version": 1, "label": "N", "class": None,
                                                       "status": CONFIRMED, "derived_from": "user account"})
    seen.add(user_id)


def rebuild_indexes(ctx: Context, *, progress: Callable[[int], object] | None = None) -> int:
    """Rewrite every record's search index rows (blind tokens included) from its current
    version, opened and verified like any read (a restored home: backups carry no index rows,
    kura.preservation.snapshot; the sealing migration 0006). Returns the records indexed.

    A record whose keys were destroyed (disposed of) gets no index rows: it can no longer be
    found; nor does one that fails its check (a RecordsRecordTampered alert is noted on ctx)."""
    s = ctx.session.connection()
    # (migration 0006 rebuilds before 0013 made patient_identifier)
    with_identifiers = inspect(s).has_table(PatientIdentifier.__tablename__)
    for model in (SearchToken, SearchString, SearchDate) + ((PatientIdentifier,) if with_identifiers else ()):
        s.execute(delete(_table(model)))
    n = 0
    stmt = (select(Record, RecordVersion)
            .join(RecordVersion, (RecordVersion.record_pk == Record.pk)
                  & (RecordVersion.number == Record.current_version))
            .where(RecordVersion.content.is_not(None)).execution_options(yield_per=1000))
    for rec, v in ctx.session.execute(stmt):
        try:
            resource = loads(version_of(ctx, rec, v).content)
        except (Shredded, IntegrityFailure):
            continue
        reindex(ctx, rec, resource, fresh=True, lenient=True, with_identifiers=with_identifiers)
        n += 1
        if progress and n % 500 == 0:
            progress(n)
    return n
