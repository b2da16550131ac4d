"""The audit manager's and operator's view of the ledger, through the access check.

Reading the ledger is itself recorded (R25, DICOM 110101 Audit Log Used).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from typing import Callable, Iterator

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.exc import SQLAlchemyError

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Invalid, NotFound
from kura.ledger import service as ledger
from kura.ledger.models import AlertSignoff, Checkpoint, LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.limits import MAX_INT, within_int
from kura.operation import Context

__all__ = ["verify", "checkpoint", "browse", "page", "entries_of", "Filter", "Page", "alerts", "sign_off",
           "AlertGroup", "alert_groups", "sign_off_group",
           "source_of", "MAX_PAGE"]

LEDGER = Target(kind="Ledger")


def verify(ctx: Context, *, progress: Callable[[int], None] | None = None, anchor: ledger.Anchor | None = None) -> ledger.VerifyResult:
    """Verify the whole ledger, and against `anchor` (a checkpoint kept off the machine) if given.
    Ledger: AuditLedgerVerified (outcome 0, or 12 and an alert when broken)."""
    ctx.require(Action.AuditLedgerVerify, LEDGER)
    result = ledger.verify(ctx.session, signer=ctx.signer, progress=progress, anchor=anchor)
    if result.ok:
        ctx.record(LedgerTag.AuditLedgerVerified, target=LEDGER, reason=result.line())
        return result
    # A tampered ledger may refuse even this entry (a forged row where it would go): the
    # verdict must still reach the operator, so the alert is tried in a savepoint.
    try:
        with ctx.session.begin_nested():
            ctx.record(LedgerTag.AuditLedgerVerified, target=LEDGER, outcome=12, reason=result.line(), alert=True)
    except SQLAlchemyError:
        pass
    return result


def checkpoint(ctx: Context) -> Checkpoint:
    """Sign the tree including the entry that records this checkpoint. Ledger: AuditCheckpointCreated."""
    ctx.require(Action.AuditCheckpointCreate, LEDGER)
    ctx.record(LedgerTag.AuditCheckpointCreated, target=LEDGER)
    return ledger.make_checkpoint(ctx.session, at=ctx.now(), signer=ctx.signer)


MAX_PAGE = 1000


@dataclasses.dataclass
class Filter:
    """Which entries. Lists are alternatives (an empty list: no condition); `actors` and
    `patients` are what kura.oversight resolved a typed user or patient to."""

    actor: str = ""
    tag: str = ""
    patient_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    alerts_only: bool = False
    actors: tuple[str, ...] | None = None  # actor names; () matches nothing
    patients: tuple[str, ...] | None = None  # ledger patient ids; () matches nothing
    tags: tuple[str, ...] | None = None
    outcome: str = ""  # "ok" | "failed" | "0" | "4" | "8" | "12"
    purpose: str = ""
    source: str = ""  # kura.audit.events.SOURCES

    def described(self) -> dict[str, str]:
        """The filter as the AuditLedgerRead entry records it."""
        out = {}
        for k, v in dataclasses.asdict(self).items():
            if v is None or v == "" or v is False:
                continue
            out[k] = ",".join(v) if isinstance(v, (tuple, list)) else str(v)
        return out


def _via(channel: str) -> ColumnElement[bool]:
    return LedgerEntry.detail.like(f'%"via":"{channel}"%')


def _source(source: str) -> ColumnElement[bool]:
    """Where an entry came from: a DICOM peer's origin is AE@host; the command line and the
    server itself have no terminal; a web request records its channel (detail "via")."""
    if source == "dicom":
        return LedgerEntry.origin.contains("@")
    if source == "cli":
        return LedgerEntry.origin == ""
    if source in ("fhir", "dicomweb", "api"):
        return _via(source)
    if source == "ui":
        return and_(LedgerEntry.origin != "", ~LedgerEntry.origin.contains("@"),
                    ~or_(_via("fhir"), _via("dicomweb"), _via("api")))
    raise Invalid(f"unknown source {source!r}")


def source_of(origin: str, detail: str) -> str:
    """The SOURCES key of one entry (as _source selects it)."""
    if "@" in origin:
        return "dicom"
    if not origin:
        return "cli"
    for channel in ("fhir", "dicomweb", "api"):
        if f'"via":"{channel}"' in (detail or ""):
            return channel
    return "ui"


def _conditions(flt: Filter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if flt.actor:
        conds.append(LedgerEntry.actor_name == flt.actor)
    if flt.actors is not None:
        conds.append(LedgerEntry.actor_name.in_(flt.actors) if flt.actors else false())
    if flt.tag:
        conds.append(or_(LedgerEntry.tag == flt.tag, LedgerEntry.tag.startswith(flt.tag + ":")))
    if flt.tags is not None:
        conds.append(LedgerEntry.tag.in_(flt.tags) if flt.tags else false())
    if flt.patient_id:
        conds.append(LedgerEntry.patient_id == flt.patient_id)
    if flt.patients is not None:
        conds.append(LedgerEntry.patient_id.in_(flt.patients) if flt.patients else false())
    if flt.since:
        conds.append(LedgerEntry.at >= flt.since)
    if flt.until:
        conds.append(LedgerEntry.at < flt.until)
    if flt.alerts_only:
        conds.append(LedgerEntry.alert.is_(True))
    if flt.outcome:
        if flt.outcome == "ok":
            conds.append(LedgerEntry.outcome == 0)
        elif flt.outcome == "failed":
            conds.append(LedgerEntry.outcome != 0)
        elif flt.outcome in ("0", "4", "8", "12"):
            conds.append(LedgerEntry.outcome == int(flt.outcome))
        else:
            raise Invalid(f"unknown outcome {flt.outcome!r}")
    if flt.purpose:
        conds.append(LedgerEntry.purpose == flt.purpose)
    if flt.source:
        conds.append(_source(flt.source))
    return conds


@dataclasses.dataclass
class Page:
    """One page of entries, newest first, and the keys of the pages beside it: `older` (pass
    as `before`) and `newer` (pass as `after`), None at either end."""

    entries: list[LedgerEntry]
    older: int | None
    newer: int | None


def page(ctx: Context, flt: Filter, *, before: int | None = None, after: int | None = None,
         limit: int = 50) -> Page:
    """Entries matching `flt`, newest first: those below seq `before`, or the `limit` just
    above seq `after`. Keyset paging on the primary key: a page costs the same at entry 10
    as at entry 10 million (no OFFSET, no total count). Ledger: AuditLedgerRead (R25)."""
    ctx.require(Action.AuditLedgerRead, LEDGER)
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1–{MAX_PAGE}")
    for key in (before, after):
        if key is not None and not within_int(key):
            raise Invalid("page key out of range")
    conds = _conditions(flt)
    if after is not None:
        stmt = select(LedgerEntry).where(*conds, LedgerEntry.seq > after).order_by(LedgerEntry.seq.asc())
        rows = list(ctx.session.scalars(stmt.limit(limit + 1)))
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        more_older = bool(rows) and ctx.session.scalar(
            select(LedgerEntry.seq).where(*conds, LedgerEntry.seq < rows[-1].seq).limit(1)) is not None
    else:
        stmt = select(LedgerEntry).where(*conds)
        if before is not None:
            stmt = stmt.where(LedgerEntry.seq < before)
        rows = list(ctx.session.scalars(stmt.order_by(LedgerEntry.seq.desc()).limit(limit + 1)))
        more_older = len(rows) > limit
        rows = rows[:limit]
        more_newer = before is not None and bool(rows) and ctx.session.scalar(
            select(LedgerEntry.seq).where(*conds, LedgerEntry.seq > rows[0].seq).limit(1)) is not None
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER,
               detail={**flt.described(), **({"before": before} if before else {}),
                       **({"after": after} if after else {}), "shown": len(rows)})
    return Page(rows, rows[-1].seq if rows and more_older else None, rows[0].seq if rows and more_newer else None)


def entries_of(ctx: Context, flt: Filter, *, chunk: int = 500) -> Iterator[LedgerEntry]:
    """Every entry matching `flt`, newest first, read a chunk at a time by keyset (an export
    of millions keeps memory flat). No access check and no entry: callers (the exports) do both."""
    conds = _conditions(flt)
    before: int | None = None
    while True:
        stmt = select(LedgerEntry).where(*conds)
        if before is not None:
            stmt = stmt.where(LedgerEntry.seq < before)
        rows = list(ctx.session.scalars(stmt.order_by(LedgerEntry.seq.desc()).limit(chunk)))
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1].seq


def browse(ctx: Context, flt: Filter, *, offset: int = 0, limit: int = 50) -> tuple[list[LedgerEntry], int]:
    """Entries matching `flt`, newest first, and the total. Ledger: AuditLedgerRead (R25)."""
    ctx.require(Action.AuditLedgerRead, LEDGER)
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_INT:
        raise Invalid(f"limit must be 1–1000 and offset 0–{MAX_INT}")
    conds = _conditions(flt)
    where = and_(*conds) if conds else true()
    total = ctx.session.scalar(select(func.count()).select_from(LedgerEntry).where(where)) or 0
    rows = list(ctx.session.scalars(select(LedgerEntry).where(where)
                                    .order_by(LedgerEntry.seq.desc()).offset(offset).limit(limit)))
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER, detail=flt.described())
    return rows, total


def alerts(ctx: Context, *, open_only: bool = True, limit: int = 200) -> list[tuple[LedgerEntry, AlertSignoff | None]]:
    """Security alerts (break-glass, lockouts, denials, …) with their sign-off, newest first."""
    ctx.require(Action.AuditAlertRead, LEDGER)
    stmt = (select(LedgerEntry, AlertSignoff).outerjoin(AlertSignoff, AlertSignoff.seq == LedgerEntry.seq)
            .where(LedgerEntry.alert.is_(True)).order_by(LedgerEntry.seq.desc()).limit(limit))
    if open_only:
        stmt = stmt.where(AlertSignoff.seq.is_(None))
    rows: list[tuple[LedgerEntry, AlertSignoff | None]] = [(e, s) for e, s in ctx.session.execute(stmt)]
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER, detail={"view": "alerts"})
    return rows


def sign_off(ctx: Context, *, seq: int, note: str) -> AlertSignoff:
    """The audit manager's review of one alert. Ledger: AuditAlertSignedOff."""
    ctx.require(Action.AuditAlertSignoff, LEDGER)
    entry = ctx.session.get(LedgerEntry, seq) if within_int(seq) else None
    if entry is None or not entry.alert:
        raise NotFound(f"no alert {seq}")
    if ctx.session.get(AlertSignoff, seq) is not None:
        raise Invalid(f"alert {seq} is signed off already")
    if not note.strip():
        raise Invalid("a sign-off needs a note")
    so = AlertSignoff(seq=seq, by_id=ctx.actor.id if ctx.actor else None,
                      by_name=ctx.actor.name if ctx.actor else "system", at=ctx.now(), note=note.strip()[:2000])
    ctx.session.add(so)
    ctx.session.flush()
    ctx.record(LedgerTag.AuditAlertSignedOff, target=Target(kind="LedgerEntry", id=str(seq),
               patient_id=entry.patient_id), reason=note.strip()[:2000])
    return so


# -- alerts, grouped ------------------------------------------------------------------------
_JST = dt.timezone(dt.timedelta(hours=9))
MAX_ALERTS = 2000
MAX_READS = 500


@dataclasses.dataclass
class AlertGroup:
    """Alerts the audit manager reviews together and signs off once: one break-glass (its
    start, the denials that led to it the same day, and every access made under it), or the
    same alert repeated by one user (or peer) on one patient or object on one day."""

    kind: str  # "breakglass" | "repeat"
    head: LedgerEntry  # the break-glass start, or the newest of the repeats
    members: list[LedgerEntry]  # the alert entries signed off together, newest first
    reads: list[LedgerEntry] = dataclasses.field(default_factory=list)  # under the break-glass
    signoff: AlertSignoff | None = None
    ended: LedgerEntry | None = None  # the break-glass's AccessBreakGlassStopped, if any

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.members]


def _day(e: LedgerEntry) -> dt.date:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(_JST).date()


def _under(ctx: Context, start: LedgerEntry) -> tuple[list[LedgerEntry], LedgerEntry | None]:
    """The entries recorded under the break-glass `start` (detail names it), oldest first,
    and the entry that ended it early."""
    mark = f'"break_glass":{start.seq}'
    rows = list(ctx.session.scalars(
        select(LedgerEntry).where(LedgerEntry.patient_id == start.patient_id, LedgerEntry.seq > start.seq,
                                  LedgerEntry.actor_name == start.actor_name,
                                  or_(LedgerEntry.detail.like(f"%{mark},%"), LedgerEntry.detail.like(f"%{mark}}}%")))
        .order_by(LedgerEntry.seq).limit(MAX_READS + 1)))
    ended = next((e for e in rows if e.tag == LedgerTag.AccessBreakGlassStopped), None)
    return [e for e in rows if e.tag != LedgerTag.AccessBreakGlassStopped], ended


def alert_groups(ctx: Context, *, open_only: bool = True) -> list[AlertGroup]:
    """Security alerts grouped for review, newest first (see AlertGroup); `open_only`: those
    not yet signed off, else those signed off. Raises Denied. Ledger: AuditLedgerRead."""
    ctx.require(Action.AuditAlertRead, LEDGER)
    stmt = (select(LedgerEntry, AlertSignoff).outerjoin(AlertSignoff, AlertSignoff.seq == LedgerEntry.seq)
            .where(LedgerEntry.alert.is_(True)).order_by(LedgerEntry.seq.desc()).limit(MAX_ALERTS))
    stmt = stmt.where(AlertSignoff.seq.is_(None) if open_only else AlertSignoff.seq.is_not(None))
    found = list(ctx.session.execute(stmt))
    groups: list[AlertGroup] = []
    by_key: dict[tuple[object, ...], AlertGroup] = {}
    glass: dict[tuple[object, ...], AlertGroup] = {}
    for e, s in found:  # break-glass first: each start is its own group
        if e.tag == LedgerTag.AccessBreakGlassStarted:
            reads, ended = _under(ctx, e)
            g = AlertGroup("breakglass", e, [e], reads, s, ended)
            groups.append(g)
            glass.setdefault((e.actor_name, e.patient_id, _day(e)), g)
    for e, s in found:
        if e.tag == LedgerTag.AccessBreakGlassStarted:
            continue
        under = glass.get((e.actor_name, e.patient_id, _day(e))) if (
            e.tag == LedgerTag.AccessRequestDenied and e.patient_id) else None
        if under is not None:
            under.members.append(e)
            continue
        key = (e.tag, e.actor_name, e.patient_id or "", e.target_kind, e.target_id or "" if not e.patient_id else "",
               _day(e))
        if key in by_key:
            by_key[key].members.append(e)
        else:
            by_key[key] = AlertGroup("repeat", e, [e], signoff=s)
            groups.append(by_key[key])
    for g in groups:
        g.members.sort(key=lambda m: m.seq, reverse=True)
    groups.sort(key=lambda g: g.members[0].seq, reverse=True)
    ctx.record(LedgerTag.AuditLedgerRead, target=LEDGER,
               detail={"view": "alerts", "open_only": open_only, "groups": len(groups), "alerts": len(found)})
    return groups


def sign_off_group(ctx: Context, *, seqs: list[int], note: str) -> list[AlertSignoff]:
    """Sign off a group of alerts at once, with one note (AlertGroup.seqs; the first is the
    group's head). Alerts of the group signed off meanwhile are left as they are. Raises
    NotFound (not an alert), Invalid (no note; all signed off already), Denied.
    Ledger: one AuditAlertSignedOff naming the head and listing every alert signed off."""
    ctx.require(Action.AuditAlertSignoff, LEDGER)
    if not seqs or len(seqs) > MAX_ALERTS or not all(within_int(s) for s in seqs):
        raise Invalid("no alerts to sign off")
    if not note.strip():
        raise Invalid("a sign-off needs a note")
    entries = {e.seq: e for e in ctx.session.scalars(select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)))}
    for s in seqs:
        if s not in entries or not entries[s].alert:
            raise NotFound(f"no alert {s}")
    done = set(ctx.session.scalars(select(AlertSignoff.seq).where(AlertSignoff.seq.in_(seqs))))
    todo = [s for s in dict.fromkeys(seqs) if s not in done]
    if not todo:
        raise Invalid(f"alert {seqs[0]} is signed off already")
    text = note.strip()[:2000]
    by_id, by_name = (ctx.actor.id, ctx.actor.name) if ctx.actor else (None, "system")
    out = [AlertSignoff(seq=s, by_id=by_id, by_name=by_name, at=ctx.now(), note=text) for s in todo]
    ctx.session.add_all(out)
    ctx.session.flush()
    head = entries[seqs[0]]
    ctx.record(LedgerTag.AuditAlertSignedOff, target=Target(kind="LedgerEntry", id=str(head.seq),
               patient_id=head.patient_id), reason=text, detail={"alerts": todo} if len(todo) > 1 else None)
    return out
