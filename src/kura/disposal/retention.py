"""When a patient's retention ends (CONTRACT.md "Retention, hold and disposal"; R52, R87–R89).

A patient's retention ends N years after their last 完結日 — the latest of their Encounter
period ends, ChargeItem and Invoice dates and study dates — where N is the longest
retention of the management classes of their records and images. A class that counts from
creation adds its own end (each object's creation + its years); the later end wins. With no
dated record at all, the last time anything was stored for the patient stands in for the
完結日 (the safe side: retention runs from the latest activity).

Only index rows are read (search_date, imaging_study.study_date, record.created_at), never
content: the administrator who runs the worklist may not read records (R17).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections import defaultdict
from typing import Iterable

from sqlalchemy import func, select

from kura.classes.models import ManagementClass
from kura.disposal.models import LegalHold
from kura.imaging.models import ImagingPatient, ImagingStudy
from kura.operation import Context
from kura.records.models import Record, SearchDate

__all__ = ["ClassPart", "PatientRetention", "retention_of", "add_years", "today", "COMPLETION_TYPES",
           "active_holds"]

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")
# The record types whose date marks care given (完結日 candidates), as the contract names them.
COMPLETION_TYPES = ("Encounter", "ChargeItem", "Invoice", "ImagingStudy")


def add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February into a common year
        return d.replace(year=d.year + years, day=28)


def today(ctx: Context) -> dt.date:
    """The hospital's calendar day (retention is counted in days of Japan time)."""
    return ctx.now().astimezone(LOCAL_TZ).date()


def _date(value) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(LOCAL_TZ).date()
    text = str(value)
    try:
        if len(text) == 8 and text.isdigit():  # DICOM DA
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


@dataclasses.dataclass
class ClassPart:
    """The patient's objects of one management class: what, how many, and the class's own end."""

    code: str
    name_ja: str
    name_en: str
    years: int
    start: str  # completion | creation
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)  # record type / "DICOM study" -> count
    last_date: dt.date | None = None  # latest care date among these objects
    last_created: dt.date | None = None
    ends: dt.date | None = None  # this class's own end, before dependencies


@dataclasses.dataclass
class PatientRetention:
    patient_id: str
    last_completion: dt.date | None
    years: int  # N: the longest retention among the classes that count from completion
    ends: dt.date
    classes: list[ClassPart]
    ended: bool
    today: dt.date
    holds: list[LegalHold] = dataclasses.field(default_factory=list)

    @property
    def disposable(self) -> bool:
        return self.ended and not self.holds

    def waiting_on(self, part: ClassPart) -> bool:
        """The class has passed its own retention but stays for the patient's others
        (e.g. a Coverage still referenced by an Invoice in retention)."""
        return part.ends is not None and part.ends < self.today and not self.ended


def active_holds(ctx: Context, patient_ids: Iterable[str] | None = None) -> dict[str, list[LegalHold]]:
    stmt = select(LegalHold).where(LegalHold.lifted_at.is_(None))
    if patient_ids is not None:
        stmt = stmt.where(LegalHold.patient_id.in_(list(patient_ids)))
    out: dict[str, list[LegalHold]] = defaultdict(list)
    for h in ctx.session.scalars(stmt.order_by(LegalHold.placed_at)):
        out[h.patient_id].append(h)
    return out


def retention_of(ctx: Context, patient_ids: list[str] | None = None) -> dict[str, PatientRetention]:
    """Each registered patient's retention (all of them when `patient_ids` is None).
    No access check: callers (disposal service, worklist) ask the policy first."""
    classes = {mc.code: mc for mc in ctx.session.scalars(select(ManagementClass))}
    parts: dict[str, dict[str, ClassPart]] = defaultdict(dict)
    last_care: dict[str, dt.date] = {}
    last_activity: dict[str, dt.date] = {}

    def part(pid: str, code: str | None) -> ClassPart | None:
        mc = classes.get(code or "")
        if mc is None:
            return None
        if code not in parts[pid]:
            parts[pid][code] = ClassPart(code=mc.code, name_ja=mc.name_ja, name_en=mc.name_en,
                                         years=mc.retention_years, start=mc.retention_start)
        return parts[pid][code]

    def later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
        return b if a is None or (b is not None and b > a) else a

    rec_where = [Record.patient_id.is_not(None), Record.rtype != "Provenance"]
    if patient_ids is not None:
        rec_where.append(Record.patient_id.in_(patient_ids))
    registered = set(ctx.session.scalars(select(Record.logical_id).where(
        Record.rtype == "Patient", *([Record.logical_id.in_(patient_ids)] if patient_ids is not None else []))))
    for pid, code, rtype, n, created, updated in ctx.session.execute(
            select(Record.patient_id, Record.class_code, Record.rtype, func.count(), func.max(Record.created_at),
                   func.max(Record.last_updated)).where(*rec_where)
            .group_by(Record.patient_id, Record.class_code, Record.rtype)):
        p = part(pid, code)
        last_activity[pid] = later(last_activity.get(pid), _date(updated))
        if p is not None:
            p.kinds[rtype] = p.kinds.get(rtype, 0) + n
            p.last_created = later(p.last_created, _date(created))
    for pid, code, end in ctx.session.execute(
            select(Record.patient_id, Record.class_code, func.max(SearchDate.end))
            .join(SearchDate, SearchDate.record_pk == Record.pk)
            .where(*rec_where, Record.rtype.in_(COMPLETION_TYPES), SearchDate.param == "date")
            .group_by(Record.patient_id, Record.class_code)):
        d = _date(end)
        last_care[pid] = later(last_care.get(pid), d)
        p = part(pid, code)
        if p is not None:
            p.last_date = later(p.last_date, d)
    img_where = [ImagingPatient.fhir_patient_id.is_not(None)]
    if patient_ids is not None:
        img_where.append(ImagingPatient.fhir_patient_id.in_(patient_ids))
    for pid, code, n, study_date, created in ctx.session.execute(
            select(ImagingPatient.fhir_patient_id, ImagingStudy.class_code, func.count(),
                   func.max(ImagingStudy.study_date), func.max(ImagingStudy.created_at))
            .join(ImagingStudy, ImagingStudy.patient_ref == ImagingPatient.id).where(*img_where)
            .group_by(ImagingPatient.fhir_patient_id, ImagingStudy.class_code)):
        p = part(pid, code)
        d = _date(study_date) or _date(created)
        last_care[pid] = later(last_care.get(pid), d)
        last_activity[pid] = later(last_activity.get(pid), _date(created))
        if p is not None:
            p.kinds["DICOM study"] = p.kinds.get("DICOM study", 0) + n
            p.last_date = later(p.last_date, d)
            p.last_created = later(p.last_created, _date(created))

    holds = active_holds(ctx, registered if patient_ids is not None else None)
    now = today(ctx)
    out: dict[str, PatientRetention] = {}
    for pid in sorted(registered):
        completion = last_care.get(pid) or last_activity.get(pid) or now
        cls = sorted(parts.get(pid, {}).values(), key=lambda p: p.code)
        years = max((p.years for p in cls if p.start == "completion"), default=0)
        ends = add_years(completion, years)
        for p in cls:
            if p.start == "creation":
                p.ends = add_years(p.last_created or completion, p.years)
                ends = max(ends, p.ends)
            else:
                p.ends = add_years(p.last_date or completion, p.years)
        out[pid] = PatientRetention(patient_id=pid, last_completion=last_care.get(pid), years=years, ends=ends,
                                    classes=cls, ended=now > ends, today=now,
                                    holds=holds.get(pid, []))
    return out
