"""DICOM identifiers and QIDO-RS parameters → SQL, and index rows → response data sets.

A pure translation (cf. pynetdicom apps/qrscp/db.py). Matching follows PS3.4 C.2.2.2:
universal (empty value), single value, list of UIDs (backslash), wild card (`*`, `?`) and
range (`from-to`, `from-`, `-to`) for dates and times. Person names match any of their
component groups, case-insensitively; with fuzzy matching (QIDO-RS ``fuzzymatching=true``,
PS3.18 §8.3.4.1) a name matches when it is a prefix of any normalised component in any
script, so やまだ, ヤマダ and ﾔﾏﾀﾞ all find 山田^太郎=やまだ^たろう.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Sequence, cast

from pydicom.dataset import Dataset
from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select

from kura.access.policy import CONFIDENTIALITY
from kura.errors import Invalid
from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.imaging.names import normalise
from kura.limits import check_index, within_int

__all__ = ["LEVELS", "Query", "statement", "visible", "result_dataset", "ATTRIBUTES", "QIDO_DEFAULTS",
           "level_of"]

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
_RANK = {name: i for i, name in enumerate(LEVELS)}

S, R, I, P = ImagingStudy, ImagingSeries, ImagingInstance, ImagingPatient

# keyword -> (level, column or None, kind, value getter from (study, series, instance)); a
# getter is called only at or above the query's level, where its series and instance exist.
_Getter = Callable[[ImagingStudy, ImagingSeries, ImagingInstance], object]
ATTRIBUTES: dict[str, tuple[str, object, str, _Getter]] = {
    "PatientID": ("PATIENT", S.patient_id, "text", lambda s, r, i: s.patient_id),
    "PatientName": ("PATIENT", S.patient_name, "pn", lambda s, r, i: s.patient_name),
    "PatientBirthDate": ("PATIENT", S.birth_date, "date", lambda s, r, i: s.birth_date),
    "PatientSex": ("PATIENT", S.sex, "text", lambda s, r, i: s.sex),
    "StudyInstanceUID": ("STUDY", S.study_uid, "uid", lambda s, r, i: s.study_uid),
    "StudyDate": ("STUDY", S.study_date, "date", lambda s, r, i: s.study_date),
    "StudyTime": ("STUDY", S.study_time, "time", lambda s, r, i: s.study_time),
    "AccessionNumber": ("STUDY", S.accession_number, "text", lambda s, r, i: s.accession_number),
    "StudyID": ("STUDY", S.study_id, "text", lambda s, r, i: s.study_id),
    "StudyDescription": ("STUDY", S.description, "text", lambda s, r, i: s.description),
    "ReferringPhysicianName": ("STUDY", S.referring_physician, "pn",
                               lambda s, r, i: s.referring_physician),
    "ModalitiesInStudy": ("STUDY", S.modalities, "multi",
                          lambda s, r, i: [m for m in s.modalities.split("\\") if m]),
    "NumberOfStudyRelatedSeries": ("STUDY", None, "count", lambda s, r, i: s.num_series),
    "NumberOfStudyRelatedInstances": ("STUDY", None, "count", lambda s, r, i: s.num_instances),
    "SeriesInstanceUID": ("SERIES", R.series_uid, "uid", lambda s, r, i: r.series_uid),
    "Modality": ("SERIES", R.modality, "text", lambda s, r, i: r.modality),
    "SeriesNumber": ("SERIES", R.series_number, "int", lambda s, r, i: r.series_number),
    "SeriesDescription": ("SERIES", R.description, "text", lambda s, r, i: r.description),
    "BodyPartExamined": ("SERIES", R.body_part, "text", lambda s, r, i: r.body_part),
    "NumberOfSeriesRelatedInstances": ("SERIES", None, "count", lambda s, r, i: r.num_instances),
    "SOPInstanceUID": ("IMAGE", I.sop_uid, "uid", lambda s, r, i: i.sop_uid),
    "SOPClassUID": ("IMAGE", I.sop_class_uid, "uid", lambda s, r, i: i.sop_class_uid),
    "InstanceNumber": ("IMAGE", I.instance_number, "int", lambda s, r, i: i.instance_number),
    "Rows": ("IMAGE", I.rows, "int", lambda s, r, i: i.rows),
    "Columns": ("IMAGE", I.columns, "int", lambda s, r, i: i.columns),
    "NumberOfFrames": ("IMAGE", I.frames, "int", lambda s, r, i: i.frames),
}

# PS3.18 Table 10.6.3-3/4/5: what QIDO-RS returns without includefield.
QIDO_DEFAULTS = {
    "STUDY": ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
              "ReferringPhysicianName", "PatientName", "PatientID", "PatientBirthDate",
              "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
               "NumberOfSeriesRelatedInstances", "BodyPartExamined"),
    "IMAGE": ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns",
              "NumberOfFrames"),
}


def level_of(keyword: str) -> str:
    return ATTRIBUTES[keyword][0]


@dataclasses.dataclass
class Query:
    """A query at one level: matching keys (keyword → DICOM matching value) and what to return."""

    level: str
    keys: dict[str, str]
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise Invalid(f"query level must be one of {', '.join(LEVELS)}")
        check_index(self.offset, "offset")
        if self.limit is not None:
            check_index(self.limit, "limit")


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _single(column: Any, value: str, kind: str) -> Any:
    if kind == "int":
        try:
            number = int(value) if len(value) <= 12 else None
        except ValueError:
            number = None
        if number is None or not within_int(number):
            raise Invalid(f"not an integer of at most 32 bits: {value[:20]!r}")
        return column == number
    if kind in ("date", "time") and "-" in value:
        low, _, high = value.partition("-")
        if kind == "time":
            low, high = low.replace(":", ""), high.replace(":", "")
        conds = []
        if low:
            conds.append(column >= low)
        if high:
            conds.append(column <= high + ("\uffff" if kind == "time" else ""))
        return and_(*conds) if conds else None
    if kind == "multi":
        return column.like(f"%{_like(value)}%", escape="\\")
    if "*" in value or "?" in value:
        return column.like(_like(value), escape="\\")
    return column == value


def _person_name(value: str, fuzzy: bool) -> ColumnElement[bool] | None:
    """Any group, case-insensitive; 'a=b=c' matches group by group; fuzzy: normalised prefix."""
    columns = (S.name_alphabetic, S.name_ideographic, S.name_phonetic)
    if fuzzy and "=" not in value:
        key = normalise(value.replace("^", " ").strip("*").replace("*", ""))
        if not key:
            return None
        return S.name_search.like(f"% {_like(key)}%", escape="\\")
    groups = value.split("=")
    if len(groups) == 1:
        pattern = _like(value.lower()) if ("*" in value or "?" in value) else None
        conds = [func.lower(c).like(pattern, escape="\\") if pattern else func.lower(c) == value.lower()
                 for c in columns + (S.patient_name,)]
        return or_(*conds)
    conds = []
    for column, group in zip(columns, groups):
        if group and group != "*":
            conds.append(func.lower(column).like(_like(group.lower()), escape="\\"))
    return and_(*conds) if conds else None


def _condition(keyword: str, value: str, fuzzy: bool) -> Any:
    _, column, kind, _ = ATTRIBUTES[keyword]
    column = cast(Any, column)
    if value == "" or value == "*" or column is None:
        return None  # universal matching
    if keyword == "PatientName":
        return _person_name(value, fuzzy)
    if kind == "pn":
        return func.lower(column).like(_like(value.lower()), escape="\\")
    values = value.split("\\")
    if kind == "uid":
        return column.in_(values)
    conds = [c for c in (_single(column, v, kind) for v in values) if c is not None]
    return or_(*conds) if conds else None


def visible(allowed: list[tuple[str, str]]) -> ColumnElement[bool]:
    """The studies whose effective label the caller may pass, as SQL: `allowed` names, per
    management class, the labels the caller may reach in it (kura.imaging.service.allowed_labels);
    a study is visible when its class is listed and both its own label and its patient's
    (ImagingPatient.confidentiality, the registered Patient's) are among that class's labels.
    The effective label is the highest of class, study and patient (kura.imaging.labels)."""
    if not allowed:
        return false()
    by_class: dict[str, set[str]] = {}
    for code, label in allowed:
        by_class.setdefault(code, set()).add(label)
    conds = []
    for code, labels in sorted(by_class.items()):
        if labels >= set(CONFIDENTIALITY):
            conds.append(S.class_code == code)
            continue
        # NOT IN the (few) patients labelled above the caller: no join, and a short index scan.
        above = select(P.id).where(P.confidentiality.not_in(sorted(labels)))
        conds.append(and_(S.class_code == code, S.confidentiality.in_(sorted(labels)),
                          S.patient_ref.not_in(above)))
    return or_(*conds)


def statement(query: Query, allowed: list[tuple[str, str]] | None) -> Select[*tuple[Any, ...]]:
    """The SELECT for `query`, limited to the studies `allowed` lets the caller see (see
    `visible`; None: no restriction). Rows are (study,), (study, series) or (study, series, instance)."""
    level = query.level
    stmt: Select[*tuple[Any, ...]]  # of one, two or three entities
    if level in ("PATIENT", "STUDY"):
        stmt = select(S)
    elif level == "SERIES":
        stmt = select(S, R).join(R, R.study_ref == S.id)
    else:
        stmt = (select(S, R, I).join(R, R.study_ref == S.id).join(I, I.series_ref == R.id)
                .where(I.current.is_(True)))
    for keyword, value in query.keys.items():
        if keyword not in ATTRIBUTES:
            continue  # an attribute kura does not index: returned empty, never matched
        if _RANK[ATTRIBUTES[keyword][0]] > _RANK[level] and value:
            raise Invalid(f"{keyword} is below the {level} query level")
        cond = _condition(keyword, value, query.fuzzy)
        if cond is not None:
            stmt = stmt.where(cond)
    if allowed is not None:
        stmt = stmt.where(visible(allowed))
    order = {"PATIENT": (S.patient_id, S.study_date, S.study_uid), "STUDY": (S.study_date.desc(), S.study_uid),
             "SERIES": (S.study_uid, R.series_number, R.series_uid),
             "IMAGE": (R.series_uid, I.instance_number, I.sop_uid)}[level]
    return stmt.order_by(*order)


def result_dataset(level: str, row: Sequence[Any], keywords: Iterable[str], *,
                   retrieve_aet: str | None = None) -> Dataset:
    """One response identifier: the asked keywords filled from the index, text in UTF-8."""
    study = row[0]
    # None below the query's level, where no getter reads them (see _Getter)
    series: Any = row[1] if len(row) > 1 else None
    instance: Any = row[2] if len(row) > 2 else None
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level
    for keyword in keywords:
        if keyword in ("SpecificCharacterSet", "QueryRetrieveLevel"):
            continue
        spec = ATTRIBUTES.get(keyword)
        if spec is None or _RANK[spec[0]] > _RANK[level]:
            try:
                setattr(ds, keyword, None)
            except (AttributeError, ValueError, TypeError):
                pass
            continue
        value = spec[3](study, series, instance)
        setattr(ds, keyword, "" if value is None else value)
    if retrieve_aet:
        ds.RetrieveAETitle = retrieve_aet
    return ds
