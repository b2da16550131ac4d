"""Search parameters: what each type indexes, and FHIR search requests → SQL conditions.

Extraction is pure (resource → index values). `parse` checks a request's parameters and
`conditions` turns them into SQLAlchemy clauses over Record and the index tables. Names and
identifiers are normalised by kana.normalise on both sides, so ﾔﾏﾀﾞ finds ヤマダ (prefix
match, FHIR `name` semantics); identifiers match exactly after normalisation (０１ = 01).

Values that name someone are stored and looked up only as keyed blind tokens (`Blind`,
kura.keys.service.blind: HMAC under a key derived from the master key, never in the
database): each normalised name part gives a token for every prefix of up to PREFIX_MAX
characters and one for the whole part (`:exact`); an identifier gives one token of its
normalised value. A prefix query of up to PREFIX_MAX characters is one token lookup; a
longer one is narrowed by the token of its first PREFIX_MAX characters and then checked
against the decrypted candidates (records.reads). Dates, genders and Provenance targets
name no one and stay plain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Callable, Iterable

from sqlalchemy import ColumnElement, Select, Subquery, and_, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from kura.errors import Invalid
from kura.limits import control_characters, parse_index
from kura.records.kana import normalise
from kura.records.models import Record, SearchDate, SearchString, SearchToken

__all__ = ["extract", "Index", "parse", "Query", "conditions", "driver", "order_by", "name_only", "name_match", "date_range",
           "SEARCH_PARAMS", "COMMON_PARAMS", "DATE_PARAM", "PREFIX_MAX", "Blind", "string_tokens", "token_value",
           "long_prefixes", "name_keys", "redacted"]

# (kind, normalised value) -> blind token; kura.keys.service.blind bound to the unit of work's ring.
Blind = Callable[[str, str], str]
# Patient flags (kura.records.resources.PATIENT_FLAG_SYSTEM); indexed, not a search parameter.
FLAG_SYSTEM = "urn:kura:patient-flag"
# Names are indexed by the tokens of their prefixes up to this many characters (after
# normalisation): a Japanese name in kanji or kana is well within it, so search as you type
# is one index lookup; a longer prefix is checked against the decrypted candidates.
PREFIX_MAX = 16

# Per type: parameter -> kind. `patient` and `_id` use Record's own columns.
SEARCH_PARAMS: dict[str, dict[str, str]] = {
    "Patient": {"identifier": "token", "name": "string", "birthdate": "date", "gender": "token"},
    "Coverage": {"patient": "patient", "identifier": "token", "date": "date"},
    "Encounter": {"patient": "patient", "identifier": "token", "date": "date"},
    "ChargeItem": {"patient": "patient", "identifier": "token", "date": "date"},
    "Invoice": {"patient": "patient", "identifier": "token", "date": "date"},
    "DocumentReference": {"patient": "patient", "identifier": "token", "date": "date"},
    "ImagingStudy": {"patient": "patient", "identifier": "token", "date": "date"},
    "Practitioner": {"identifier": "token", "name": "string"},
    "Provenance": {"patient": "patient", "target": "token"},
}
COMMON_PARAMS = ("_id", "_lastUpdated", "_count", "_offset", "_sort", "_total", "_format")
# The date each type is sorted and searched by (`date`, or Patient's birthdate).
DATE_PARAM = {"Patient": "birthdate"}
_SORTABLE = {"birthdate", "date", "_lastUpdated"}

MAX_COUNT = 500
DEFAULT_COUNT = 20
_LOW = "0001-01-01T00:00:00"


# -- dates --------------------------------------------------------------------------------
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def date_range(value: str) -> tuple[str, str]:
    """The inclusive UTC range a FHIR date/dateTime/instant denotes, as ISO second strings."""
    m = _DATE.match(value or "")
    if not m:
        raise Invalid(f"not a FHIR date or dateTime: {value!r}")
    y, mo, d, hh, mi, ss, tz = m.groups()
    try:
        if hh is not None:
            t = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))
            if tz:
                off = dt.timezone.utc if tz == "Z" else dt.timezone(
                    (1 if tz[0] == "+" else -1) * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
                t = t.replace(tzinfo=off).astimezone(dt.timezone.utc).replace(tzinfo=None)
            start = t
            end = t if ss is not None else t + dt.timedelta(seconds=59)
        elif d is not None:
            start = dt.datetime(int(y), int(mo), int(d))
            end = start + dt.timedelta(days=1, seconds=-1)
        elif mo is not None:
            start = dt.datetime(int(y), int(mo), 1)
            nxt = dt.datetime(int(y) + (int(mo) == 12), int(mo) % 12 + 1, 1)
            end = nxt - dt.timedelta(seconds=1)
        else:
            start = dt.datetime(int(y), 1, 1)
            end = dt.datetime(int(y), 12, 31, 23, 59, 59)
    except ValueError:
        raise Invalid(f"not a valid date: {value!r}") from None
    fmt = "%Y-%m-%dT%H:%M:%S"
    return start.strftime(fmt), end.strftime(fmt)


def _period(p: dict[str, Any] | None) -> tuple[str, str] | None:
    if not isinstance(p, dict) or not (p.get("start") or p.get("end")):
        return None
    # An open end is indexed as the start's own range: an outpatient visit recorded with its
    # start only is found by its day (FHIR would treat it as ongoing and match no `eq`).
    start = date_range(p["start"]) if p.get("start") else (_LOW, _LOW)
    end = date_range(p["end"]) if p.get("end") else start
    return start[0], end[1]


# -- extraction ---------------------------------------------------------------------------
@dataclasses.dataclass
class Index:
    tokens: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # param, system, value
    strings: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # param, normalised value
    dates: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # param, start, end


def _names(names: list[Any] | None) -> set[str]:
    """Every normalised name part (family, given, text, family+given), for prefix and :exact."""
    keys: set[str] = set()
    for n in names or []:
        if not isinstance(n, dict):
            continue
        family = n.get("family") or ""
        given = [g for g in n.get("given") or [] if isinstance(g, str)]
        parts = [family, *given, n.get("text") or "", family + "".join(given)]
        keys.update(k for k in (normalise(p)[:200] for p in parts) if k)
    return keys


def name_keys(resource: dict[str, Any]) -> set[str]:
    return _names(resource.get("name"))


def string_tokens(rtype: str, param: str, keys: Iterable[str], blind: Blind) -> set[str]:
    """The distinct tokens of a record's values of a string parameter: every prefix up to
    PREFIX_MAX characters and every whole value. One row each, so a record matches any one
    token at most once (counting needs no DISTINCT)."""
    out: set[str] = set()
    for key in keys:
        out.add(blind(f"{rtype}.{param}=", key))
        out.update(blind(f"{rtype}.{param}^", key[:i]) for i in range(1, min(len(key), PREFIX_MAX) + 1))
    return out


def token_value(rtype: str, param: str, value: str, blind: Blind) -> str:
    """What search_token.value holds for a token parameter's value (blind for identifiers)."""
    if param == "identifier":
        return blind(f"{rtype}.identifier", normalise(value)[:200])
    return value[:200]


def _string_key(name: str, value: str) -> str:
    key = normalise(value)[:200]
    if not key:
        raise Invalid(f"{name} has nothing to search for")
    return key


def _string_token(rtype: str, name: str, modifier: str, value: str, blind: Blind) -> str:
    key = _string_key(name, value)
    if modifier == "exact":
        return blind(f"{rtype}.{name}=", key)
    return blind(f"{rtype}.{name}^", key[:PREFIX_MAX])


def _date_of(rtype: str, r: dict[str, Any]) -> tuple[str, str] | None:
    if rtype == "Patient":
        return date_range(r["birthDate"]) if r.get("birthDate") else None
    if rtype in ("Encounter", "Coverage"):
        return _period(r.get("period"))
    if rtype == "ChargeItem":
        if r.get("occurrenceDateTime"):
            return date_range(r["occurrenceDateTime"])
        if r.get("occurrencePeriod"):
            return _period(r["occurrencePeriod"])
        return date_range(r["enteredDate"]) if r.get("enteredDate") else None
    if rtype in ("Invoice", "DocumentReference"):
        return date_range(r["date"]) if r.get("date") else None
    if rtype == "ImagingStudy":
        return date_range(r["started"]) if r.get("started") else None
    return None


def extract(rtype: str, r: dict[str, Any]) -> Index:
    """The index values of a (validated) resource, in plain text: the store blinds them."""
    ix = Index()
    for ident in r.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value"):
            ix.tokens.append(("identifier", ident.get("system") or "", normalise(ident["value"])[:200]))
    if rtype == "Patient" and r.get("gender"):
        ix.tokens.append(("gender", "", r["gender"]))
    if rtype == "Patient":  # the staff-patient flag (resources.STAFF_TAG), for the audit review
        for tag in (r.get("meta") or {}).get("tag") or []:
            if isinstance(tag, dict) and tag.get("system") == FLAG_SYSTEM and tag.get("code") == "staff":
                ix.tokens.append(("flag", FLAG_SYSTEM, "staff"))
    if rtype in ("Patient", "Practitioner"):
        ix.strings.extend(("name", k) for k in sorted(_names(r.get("name"))))
    if rtype == "Provenance":
        for t in r.get("target") or []:
            ref = (t.get("reference") or "").split("/_history/")[0]
            if ref:
                ix.tokens.append(("target", "", ref[:200]))
    when = _date_of(rtype, r)
    if when:
        ix.dates.append((DATE_PARAM.get(rtype, "date"), *when))
    return ix


# -- queries ------------------------------------------------------------------------------
@dataclasses.dataclass
class Query:
    rtype: str
    filters: list[tuple[str, str, list[str]]]  # param, modifier, OR-values (each entry ANDed)
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # param, descending
    # (filter, value) -> the record pks a prefix longer than PREFIX_MAX matches (records.reads)
    resolved: dict[tuple[int, int], list[str]] = dataclasses.field(default_factory=dict)

    def patient_ids(self) -> list[str]:
        return [patient_ref(v) for p, _, vs in self.filters if p == "patient" for v in vs]


def patient_ref(value: str) -> str:
    return value.removeprefix("Patient/").strip()


def parse(rtype: str, pairs: list[tuple[str, str]]) -> Query:
    """Check the parameters of a search on `rtype`. Raises Invalid on an unknown parameter."""
    known = SEARCH_PARAMS.get(rtype)
    if known is None:
        raise Invalid(f"search on {rtype} is not supported")
    q = Query(rtype=rtype, filters=[])
    for raw, value in pairs:
        name, _, modifier = raw.partition(":")
        if control_characters(value):
            raise Invalid(f"search parameter {name} contains a control character")
        if name == "_count":
            q.count = parse_index(value, "_count", default=DEFAULT_COUNT, maximum=MAX_COUNT)
        elif name == "_offset":
            q.offset = parse_index(value, "_offset", default=0)
        elif name == "_sort":
            for key in filter(None, value.split(",")):
                desc = key.startswith("-")
                key = key.lstrip("-")
                if key not in _SORTABLE or (key != "_lastUpdated" and DATE_PARAM.get(rtype, "date") != key):
                    raise Invalid(f"cannot sort {rtype} by {key!r}")
                q.sort.append((key, desc))
        elif name in ("_total", "_format"):
            continue
        elif name in ("_id", "_lastUpdated") or name in known:
            if modifier and not (modifier == "exact" and known.get(name) == "string"):
                raise Invalid(f"modifier :{modifier} is not supported on {name}")
            if not value:
                raise Invalid(f"empty value for search parameter {name}")
            q.filters.append((name, modifier, value.split(",")))
        else:
            raise Invalid(f"unknown search parameter {raw!r} for {rtype}")
    return q


_PREFIX = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)$")


def _prefixed(value: str) -> tuple[str | None, str]:
    m = _PREFIX.match(value)
    if m is None:  # `.` stops at a line break (the rest would not be a date either)
        raise Invalid(f"not a FHIR date or dateTime: {value!r}")
    return m[1], m[2]


def _date_clause(start_col: InstrumentedAttribute[str], end_col: InstrumentedAttribute[str],
                 value: str) -> ColumnElement[bool]:
    prefix, rest = _prefixed(value)
    lo, hi = date_range(rest)
    prefix = prefix or "eq"
    if prefix in ("eq", "ap"):
        return and_(start_col >= lo, end_col <= hi)
    if prefix == "ne":
        return or_(start_col < lo, end_col > hi)
    if prefix in ("gt", "sa"):
        return end_col > hi
    if prefix == "ge":
        return end_col >= lo
    if prefix in ("lt", "eb"):
        return start_col < lo
    return start_col <= hi  # le


def long_prefixes(q: Query) -> list[tuple[int, int, str, str]]:
    """(filter, value, name, key) of the prefix string queries longer than PREFIX_MAX: their
    token narrows the search, and the caller resolves the exact matches into q.resolved."""
    kinds = SEARCH_PARAMS[q.rtype]
    out = []
    for i, (name, modifier, values) in enumerate(q.filters):
        if kinds.get(name) == "string" and modifier != "exact":
            for j, value in enumerate(values):
                key = _string_key(name, value)
                if len(key) > PREFIX_MAX:
                    out.append((i, j, name, key))
    return out


def name_only(q: Query) -> bool:
    """A search by one name value and nothing else, in the default order."""
    return (len(q.filters) == 1 and q.filters[0][0] == "name" and len(q.filters[0][2]) == 1
            and SEARCH_PARAMS[q.rtype].get("name") == "string" and not q.sort and not q.resolved)


def name_match(q: Query, blind: Blind) -> list[ColumnElement[bool]]:
    name, modifier, (value,) = q.filters[0]
    return [SearchString.rtype == q.rtype, SearchString.param == name,
            SearchString.value == _string_token(q.rtype, name, modifier, value, blind)]


def _string_rows(q: Query, name: str, modifier: str, value: str, blind: Blind) -> Select[str]:
    """record_pk of the search_string rows matching one value of a string filter."""
    return select(SearchString.record_pk).where(SearchString.rtype == q.rtype, SearchString.param == name,
                                                SearchString.value == _string_token(q.rtype, name, modifier, value,
                                                                                    blind))


def driver(q: Query, blind: Blind) -> tuple[int | None, Subquery | None]:
    """The index rows to start from, as a subquery of record_pk — or None to scan by type.

    A name or identifier narrows a search to a few rows of an index table; starting there
    (rather than from every record of the type, which SQLite's planner prefers when asked
    for `record.pk IN (…)`) keeps a prefix search at 100k patients a range scan.
    """
    kinds = SEARCH_PARAMS[q.rtype]
    for i, (name, modifier, values) in enumerate(q.filters):
        if len(values) != 1 or kinds.get(name) not in ("string", "token") or (i, 0) in q.resolved:
            continue
        value = values[0]
        if kinds[name] == "string":
            sub = _string_rows(q, name, modifier, value, blind)
        else:
            system, bar, code = value.rpartition("|")
            conds = [SearchToken.rtype == q.rtype, SearchToken.param == name,
                     SearchToken.value == token_value(q.rtype, name, code, blind)]
            if bar and system:
                conds.append(SearchToken.system == system)
            sub = select(SearchToken.record_pk).where(*conds)
        return i, sub.distinct().subquery("matched")
    return None, None


def conditions(q: Query, blind: Blind, *, skip: int | None = None) -> list[ColumnElement[bool]]:
    """SQL conditions on Record for the query's filters (visibility is added by the caller);
    filter number `skip` is left out (the driver has applied it)."""
    kinds = SEARCH_PARAMS[q.rtype]
    out = []
    for i, (name, modifier, values) in enumerate(q.filters):
        if i == skip:
            continue
        alts = []
        for j, value in enumerate(values):
            if name == "_id":
                alts.append(Record.logical_id == value)
            elif name == "_lastUpdated":
                prefix, rest = _prefixed(value)
                lo, hi = date_range(rest)
                col = Record.last_updated
                lo_t = dt.datetime.fromisoformat(lo).replace(tzinfo=dt.timezone.utc)
                hi_t = dt.datetime.fromisoformat(hi).replace(tzinfo=dt.timezone.utc) + dt.timedelta(seconds=1)
                alts.append({None: and_(col >= lo_t, col < hi_t), "eq": and_(col >= lo_t, col < hi_t),
                             "gt": col >= hi_t, "ge": col >= lo_t, "lt": col < lo_t,
                             "le": col < hi_t}.get(prefix, and_(col >= lo_t, col < hi_t)))
            elif kinds[name] == "patient":
                alts.append(Record.patient_id == patient_ref(value))
            elif kinds[name] == "token":
                system, bar, code = value.rpartition("|")
                conds = [SearchToken.record_pk == Record.pk, SearchToken.rtype == q.rtype,
                         SearchToken.param == name, SearchToken.value == token_value(q.rtype, name, code, blind)]
                if bar and system:
                    conds.append(SearchToken.system == system)
                alts.append(exists().where(*conds))
            elif kinds[name] == "string":
                if (i, j) in q.resolved:
                    alts.append(Record.pk.in_(q.resolved[(i, j)]))
                else:
                    alts.append(Record.pk.in_(_string_rows(q, name, modifier, value, blind)))
            elif kinds[name] == "date":
                alts.append(exists().where(SearchDate.record_pk == Record.pk, SearchDate.rtype == q.rtype,
                                           SearchDate.param == name,
                                           _date_clause(SearchDate.start, SearchDate.end, value)))
        out.append(or_(*alts) if len(alts) > 1 else alts[0])
    return out


def redacted(rtype: str, pairs: list[tuple[str, str]], blind: Blind) -> list[list[str]]:
    """The query as the ledger keeps it: a value that names someone (a name, an identifier)
    as "blind:<token>" — the database holds no name even in the audit trail; an auditor
    who asks "who searched for 山田" compares tokens (the same kind as :exact lookups)."""
    kinds = SEARCH_PARAMS.get(rtype, {})
    out = []
    for raw, value in pairs:
        name = raw.partition(":")[0]
        if kinds.get(name) == "string" or (kinds.get(name) == "token" and name == "identifier"):
            value = ",".join("blind:" + blind(f"{rtype}.{name}=" if kinds[name] == "string" else f"{rtype}.{name}",
                                              normalise(v.rpartition("|")[2] if name == "identifier" else v)[:200])
                             for v in value.split(","))
        out.append([raw, value])
    return out


def order_by(q: Query) -> list[Any]:
    keys = []
    for name, desc in q.sort:
        col: Any
        if name == "_lastUpdated":
            col = Record.last_updated
        else:
            col = (select(func.min(SearchDate.start)).where(SearchDate.record_pk == Record.pk,
                                                             SearchDate.param == name)
                   .scalar_subquery())
        keys.append(col.desc() if desc else col.asc())
    return keys + [Record.last_updated.desc(), Record.pk]
