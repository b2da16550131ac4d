"""Reading the 医事 records store: read, vread, history, search, $everything, summaries.

Each function asks the one access decision for the record's management class and label and
writes its ledger entry (who read which patient's what) in the caller's transaction (R23).
Search and $everything leave out silently what the caller may not see; a direct read
beyond clearance is Denied with needs_break_glass (README: 403, break-glass exists).

Everything served is opened and verified first (store.version_of → records.sealing): the
envelope's tag, the recorded SHA-256, and the record row against its current version (R37).
A failure raises IntegrityFailure and leaves a RecordsRecordTampered alert; nothing of the
altered record is served.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Decision, Target
from kura.classes import service as classes
from kura.errors import NotFound
from kura.ledger.tags import LedgerTag
from kura.limits import check_index
from kura.operation import Context
from kura.records import attachments
from kura.records.fhir import params
from kura.records.fhir.validate import STORED_TYPES
from kura.records.models import Attachment, Record, RecordVersion, SearchString
from kura.records.canonical import loads
from kura.records.store import (Version, all_classes, blinder, content_of, get_record, get_version, higher,
                                target_of,
                                version_of)
from kura.tombstones import check as check_disposed

__all__ = ["read", "vread", "history", "type_history", "search", "restricted_matches", "matching_records", "everything", "patient_summary",
           "version_history", "diff", "read_attachment", "Page", "VersionInfo"]

_T = TypeVar("_T")
Want = Callable[[Decision], bool]  # which policy decisions let a record into the results
# the (class_code, confidentiality, patient_confidentiality) columns _visible tests
_Cols = tuple[InstrumentedAttribute[str | None], InstrumentedAttribute[str], InstrumentedAttribute[str]]

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



# -- read ---------------------------------------------------------------------------------
def read(ctx: Context, rtype: str, id: str) -> Version:
    """The current version. Raises NotFound, Denied (beyond clearance: needs_break_glass).
    Ledger: RecordsRecordRead (digest = the version read)."""
    rec = get_record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    v = get_version(ctx, rec)
    out = version_of(ctx, rec, v)
    ctx.record(LedgerTag.RecordsRecordRead, target=target, digest=v.sha256, detail={"version": v.number})
    return out


def _check_current(ctx: Context, rec: Record) -> None:
    """Open and check the record's current version when what is served does not include it,
    so the label the access decision used is proven (records.sealing)."""
    version_of(ctx, rec, get_version(ctx, rec))


def vread(ctx: Context, rtype: str, id: str, number: int) -> Version:
    """Version `number`, exactly as stored (R36). Ledger: RecordsRecordRead."""
    rec = get_record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    if not 1 <= number <= rec.current_version:
        raise NotFound(f"{rtype}/{id}/_history/{number} not found")
    v = get_version(ctx, rec, number)
    out = version_of(ctx, rec, v)
    if number != rec.current_version:
        _check_current(ctx, rec)
    ctx.record(LedgerTag.RecordsRecordRead, target=target, digest=v.sha256, detail={"version": v.number})
    return out


def history(ctx: Context, rtype: str, id: str, *, count: int = 100, offset: int = 0) -> Page:
    """Every version of one record, newest first (instance _history). Raises NotFound, Denied,
    Invalid (offset or count beyond limits.MAX_INT). Ledger: RecordsRecordRead."""
    check_index(offset, "_offset"), check_index(count, "_count")
    rec = get_record(ctx, rtype, id)
    target = target_of(ctx, rec)
    ctx.require(Action.RecordsRecordRead, target)
    rows = list(ctx.session.scalars(select(RecordVersion).where(RecordVersion.record_pk == rec.pk)
                                    .order_by(RecordVersion.number.desc()).offset(offset).limit(count)))
    out = [version_of(ctx, rec, v) for v in rows]
    if not any(v.number == rec.current_version for v in rows):
        _check_current(ctx, rec)
    ctx.record(LedgerTag.RecordsRecordRead, target=target, detail={"history": True, "versions": len(rows)})
    return Page(out, rec.current_version, offset, count)


def version_history(ctx: Context, rtype: str, id: str) -> list[VersionInfo]:
    """Who changed what, when and why, oldest first (R43), for the history screen."""
    page = history(ctx, rtype, id, count=10_000)
    return [VersionInfo(number=v.number, status=v.status, activity=v.activity, at=v.at, author=v.author_name,
                        enterer=v.enterer_name, on_behalf_of=v.on_behalf_of_name,
                        confirmed_by=v.confirmed_by_name, confirmed_at=v.confirmed_at, reason=v.reason,
                        sha256=v.sha256, provenance_id=v.provenance_id) for v in reversed(page.versions)]


def diff(ctx: Context, rtype: str, id: str, a: int, b: int) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any, Any]]]:
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


def _visible(ctx: Context, rtype: str, action: Action, cols: _Cols | None = None,
             want: Want | None = None) -> ColumnElement[bool]:
    """SQL condition: the records of `rtype` the caller may see without break-glass.

    The policy decides per (management class, label); asking it once per pair here keeps
    search results, totals and paging exact without loading what the caller may not see.
    The label is the higher of the record's own and its patient's (store.target_of), so a
    record passes when that maximum is a label the caller may see. `cols` are the
    (class_code, confidentiality, patient_confidentiality) columns to test — Record's, or
    the copies kept in search_string for index-only name searches.
    """
    class_col, label_col, patient_col = cols if cols is not None else (
        Record.class_code, Record.confidentiality, Record.patient_confidentiality)
    want = want or _plain

    def either(labels: list[str]) -> ColumnElement[bool]:
        # max(own, patient's) in `labels`: when the labels seen are the lowest ones (as
        # clearance makes them) that is both in `labels`, which an index can test.
        if labels == list(CONFIDENTIALITY[:len(labels)]):
            return and_(label_col.in_(labels), patient_col.in_(labels))
        return or_(*[and_(label_col == a, patient_col.in_([p for p in CONFIDENTIALITY if higher(a, p) in labels]))
                     for a in CONFIDENTIALITY if any(higher(a, p) in labels for p in CONFIDENTIALITY)])

    alts = []
    for code, mc in all_classes(ctx).items():
        labels = [lab for lab in CONFIDENTIALITY
                  if want(ctx.allows(action, classes.target_for(mc, kind=rtype, id=None, patient_id=None,
                                                                   confidentiality=lab)))]
        if labels:
            alts.append(and_(class_col == code, either(labels)))
    labels = [lab for lab in CONFIDENTIALITY if want(ctx.allows(action, Target(kind=rtype, confidentiality=lab)))]
    if labels:
        alts.append(and_(class_col.is_(None), either(labels)))
    return or_(*alts) if alts else false()


def _plain(decision: Decision) -> bool:
    return decision.allowed and not decision.break_glass


def _breakable(decision: Decision) -> bool:
    return not decision.allowed and decision.needs_break_glass


def search(ctx: Context, rtype: str, pairs: Iterable[tuple[str, str]]) -> Page:
    """FHIR search (GET) on `rtype`. Records the caller may not see are left out silently.
    Raises Invalid (unknown parameter), Denied (no search right on the type).
    Ledger: RecordsRecordSearched (the query, the total, the patients in the page)."""
    pairs = list(pairs)
    q = params.parse(rtype, pairs)
    scope_patients = q.patient_ids()
    ctx.require(Action.RecordsRecordSearch, Target(kind=rtype, patient_id=scope_patients[0] if len(scope_patients) == 1 else None))
    blind = blinder(ctx)
    for i, j, name, key in params.long_prefixes(q):
        q.resolved[(i, j)] = _long_prefix(ctx, q.rtype, name, key, blind)
    if params.name_only(q):
        total, page = _name_search(ctx, q, blind)
    else:
        total, page = _general_search(ctx, q, blind)
    page = [r for r in page if ctx.allows(Action.RecordsRecordSearch, target_of(ctx, r)).allowed]
    versions = {}
    if page:
        versions = {v.record_pk: v for v in ctx.session.scalars(select(RecordVersion).where(
            or_(*[and_(RecordVersion.record_pk == r.pk, RecordVersion.number == r.current_version)
                  for r in page])))}
    out = [version_of(ctx, r, versions[r.pk]) for r in page]
    patients = sorted({r.patient_id for r in page if r.patient_id})
    ctx.record(LedgerTag.RecordsRecordSearched,
               target=Target(kind=rtype, patient_id=patients[0] if len(patients) == 1 else None),
               detail={"query": params.redacted(rtype, pairs[:20], blind), "total": total,
                       "patients": patients[:50]})
    return Page(out, total, q.offset, q.count)


def restricted_matches(ctx: Context, rtype: str, pairs: Iterable[tuple[str, str]], *, limit: int = 10) -> list[str]:
    """The ids of records matching a search that the caller may open only with break-glass
    (R18): in an emergency a clinician must find a restricted patient by number or name.
    Only ids are returned — nothing of the protected content. Empty for anyone who cannot
    break the glass. Raises Invalid, Denied as `search`. Ledger: RecordsRecordSearched
    (the query, names and identifiers as blind tokens, and the restricted ids), when any matched."""
    pairs = [(k, v) for k, v in pairs if k not in ("_count", "_offset")] + [("_count", str(limit))]
    q = params.parse(rtype, pairs)
    ctx.require(Action.RecordsRecordSearch, Target(kind=rtype))
    blind = blinder(ctx)
    for i, j, name, key in params.long_prefixes(q):
        q.resolved[(i, j)] = _long_prefix(ctx, q.rtype, name, key, blind)
    searcher = _name_search if params.name_only(q) else _general_search
    _, page = searcher(ctx, q, blind, want=_breakable)
    ids = [r.logical_id for r in page]
    if ids:
        ctx.record(LedgerTag.RecordsRecordSearched, target=Target(kind=rtype),
                   detail={"query": params.redacted(rtype, pairs[:20], blind), "restricted": ids})
    return ids


def matching_records(ctx: Context, rtype: str, pairs: Iterable[tuple[str, str]], *, limit: int = 20) -> list[Record]:
    """The records matching a search whatever their labels, with NO access check and no entry:
    for kura.oversight, which asks Action.AuditPatientIdentify and records what it shows."""
    pairs = [(k, v) for k, v in pairs if k not in ("_count", "_offset")] + [("_count", str(limit))]
    q = params.parse(rtype, pairs)
    blind = blinder(ctx)
    for i, j, name, key in params.long_prefixes(q):
        q.resolved[(i, j)] = _long_prefix(ctx, q.rtype, name, key, blind)
    searcher = _name_search if params.name_only(q) else _general_search
    return searcher(ctx, q, blind, want=_any)[1]


def _any(decision: Decision) -> bool:
    return True


def _long_prefix(ctx: Context, rtype: str, name: str, key: str, blind: params.Blind) -> list[str]:
    """The records whose `name` begins with `key`, longer than params.PREFIX_MAX characters:
    the token of its first PREFIX_MAX characters narrows them to a few, whose current
    versions are opened (and verified) and checked. Internal: nothing is served from here."""
    token = blind(f"{rtype}.{name}^", key[:params.PREFIX_MAX])
    rows = ctx.session.execute(
        select(Record, RecordVersion).join(SearchString, SearchString.record_pk == Record.pk)
        .join(RecordVersion, and_(RecordVersion.record_pk == Record.pk, RecordVersion.number == Record.current_version))
        .where(SearchString.rtype == rtype, SearchString.param == name, SearchString.value == token)).all()
    return sorted(rec.pk for rec, v in rows
                  if any(k.startswith(key) for k in params.name_keys(loads(content_of(ctx, rec, v)))))


def _general_search(ctx: Context, q: params.Query, blind: params.Blind,
                    want: Want | None = None) -> tuple[int, list[Record]]:
    skip, matched = params.driver(q, blind)
    where = [_visible(ctx, q.rtype, Action.RecordsRecordSearch, want=want), *params.conditions(q, blind, skip=skip)]
    if matched is None:
        where.append(Record.rtype == q.rtype)

    def source(stmt: Select[_T]) -> Select[_T]:
        return stmt.select_from(matched).join(Record, Record.pk == matched.c.record_pk) if matched is not None \
            else stmt.select_from(Record)

    total = ctx.session.scalar(source(select(func.count())).where(*where)) or 0
    if not q.count:
        return total, []
    # The page's records first (sorting touches only record rows); versions are read after.
    return total, list(ctx.session.scalars(source(select(Record)).where(*where).order_by(*params.order_by(q))
                                           .offset(q.offset).limit(q.count)))


def _name_search(ctx: Context, q: params.Query, blind: params.Blind,
                 want: Want | None = None) -> tuple[int, list[Record]]:
    """A plain name search (search as you type): answered from the name index alone.

    The index rows carry the record's class and label, and a record has each token once
    (params.string_tokens), so the total and the page come from one range scan of
    ix_search_string_visible on one token, however many patients share the prefix. The
    order is the index's (class, label, record): a blind index cannot sort by the name.
    """
    match = params.name_match(q, blind)
    visible = _visible(ctx, q.rtype, Action.RecordsRecordSearch,
                       (SearchString.class_code, SearchString.confidentiality,
                        SearchString.patient_confidentiality), want)
    where = [*match, visible]
    total = ctx.session.scalar(select(func.count()).select_from(SearchString).where(*where)) or 0
    if not q.count:
        return total, []
    pks = ctx.session.execute(select(SearchString.record_pk).where(*where)
                              .order_by(SearchString.value, SearchString.class_code,  # index order
                                        SearchString.confidentiality,
                                        SearchString.patient_confidentiality, SearchString.record_pk)
                              .offset(q.offset).limit(q.count)).scalars().all()
    if not pks:
        return total, []
    by_pk = {r.pk: r for r in ctx.session.scalars(select(Record).where(Record.pk.in_(pks)))}
    return total, [by_pk[pk] for pk in pks if pk in by_pk]


def type_history(ctx: Context, rtype: str, *, count: int = 20, offset: int = 0,
                 since: dt.datetime | None = None) -> Page:
    """Every version of every visible record of `rtype`, newest first. Raises NotFound, Denied,
    Invalid (offset or count beyond limits.MAX_INT). Ledger: RecordsRecordSearched."""
    check_index(offset, "_offset"), check_index(count, "_count")
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
    out = [version_of(ctx, r, v) for r, v in rows]
    shown = {(r.pk, v.number) for r, v in rows}
    for rec in {r.pk: r for r, _ in rows}.values():
        if (rec.pk, rec.current_version) not in shown:
            _check_current(ctx, rec)
    ctx.record(LedgerTag.RecordsRecordSearched, target=Target(kind=rtype),
               detail={"history": True, "total": total})
    return Page(out, total, offset, count)


# -- extraction ---------------------------------------------------------------------------
_EVERYTHING_ORDER = ("Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference",
                     "ImagingStudy")


def everything(ctx: Context, patient_id: str) -> list[Version]:
    """Patient/$everything (regulation §6: extract promptly): the patient and every record
    naming them that the caller may read; beyond clearance they are left out unless
    break-glass was asked for (then each is allowed and alerted per record).
    Raises NotFound, Denied (the patient itself). Ledger: RecordsRecordRead for the patient."""
    patient = get_record(ctx, "Patient", patient_id)
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
        out.append(version_of(ctx, rec, v))
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


def read_attachment(ctx: Context, att_id: str) -> tuple[bytes, str]:
    """The plaintext of Binary/{id} for callers who may read its DocumentReference.
    Raises NotFound, Denied, IntegrityFailure. Ledger: RecordsRecordRead (kind Binary)."""
    att = ctx.session.get(Attachment, att_id)
    if att is None:
        check_disposed(ctx, "Binary", att_id)
        raise NotFound(f"Binary/{att_id} not found")
    if att.record_pk is None:
        if not ctx.actor or att.uploaded_by_id != ctx.actor.id:
            raise NotFound(f"Binary/{att_id} not found")
        target = Target(kind="DocumentReference", patient_id=att.patient_id)
    else:
        rec = ctx.session.get(Record, att.record_pk)
        assert rec is not None  # attachment.record_pk is a foreign key to record
        target = target_of(ctx, rec)
        ctx.require(Action.RecordsRecordRead, target)
    data = attachments.read(ctx, att)
    ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Binary", id=att.id, patient_id=att.patient_id),
               digest=att.sha256, detail={"document": target.id})
    return data, att.content_type

