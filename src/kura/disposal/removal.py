"""Removing a patient's data from the live home once its keys are destroyed (R79).

Everything that names the patient goes: record rows, every version, search index rows,
attachments, and the image archive's patient, study, series and instance rows; each object
leaves a tombstone (kura.tombstones: kind, id, class, dates — no content). The sealed blobs
are deleted after the transaction commits (a rolled-back disposal must not lose data); by
then their keys are gone, so a blob left behind by a crash is unreadable anyway, as is every
copy in backups and replicas. The ledger keeps its entries: they hold no clinical content.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from typing import cast

from sqlalchemy import Table, delete, event, func, select

from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from kura.operation import Context
from kura.db.base import Base
from kura.records.models import Attachment, Record, RecordVersion, SearchDate
from kura.tombstones.models import Tombstone

__all__ = ["Removed", "remove_patient", "dicom_patient_ids"]


@dataclasses.dataclass
class Removed:
    """What was removed, by (kind, class): count, versions, first stored, last care date."""

    groups: dict[tuple[str, str], dict] = dataclasses.field(default_factory=dict)
    blobs: list[str] = dataclasses.field(default_factory=list)

    def add(self, kind: str, class_code: str | None, *, versions: int, created, last_date: str) -> None:
        g = self.groups.setdefault((kind, class_code or ""), {"count": 0, "versions": 0, "first_stored": "",
                                                              "last_date": ""})
        g["count"] += 1
        g["versions"] += versions
        stored = created.date().isoformat() if created else ""
        if stored and (not g["first_stored"] or stored < g["first_stored"]):
            g["first_stored"] = stored
        if last_date and last_date > g["last_date"]:
            g["last_date"] = last_date

    def summary(self) -> list[dict]:
        return [{"kind": k, "class": c, **v} for (k, c), v in sorted(self.groups.items())]


def dicom_patient_ids(ctx: Context, patient_id: str) -> list[str]:
    """The DICOM Patient IDs whose images are linked to the FHIR Patient."""
    return list(ctx.session.scalars(select(ImagingPatient.patient_id)
                                    .where(ImagingPatient.fhir_patient_id == patient_id)))


def _delete_blobs_after_commit(ctx: Context, names: list[str]) -> None:
    blobs = ctx.blobs

    def _after_commit(session):
        for name in names:
            try:
                blobs.delete(name)
            except Exception:  # noqa: BLE001, S110 — the key is gone: a leftover blob is unreadable
                pass

    event.listen(ctx.session, "after_commit", _after_commit, once=True)


def remove_patient(ctx: Context, patient_id: str, *, disposal_id: str) -> Removed:
    """Delete every row naming `patient_id` and leave tombstones; blobs go after commit.
    Flushes, never commits; writes no ledger entry (the disposal service does)."""
    out = Removed()
    now = ctx.now()
    stones: list[dict] = []

    def stone(kind: str, object_id: str, class_code, versions: int, created, last_date: str = "") -> None:
        stones.append({"kind": kind, "object_id": object_id, "patient_id": patient_id, "class_code": class_code,
                       "versions": versions, "created_at": created, "last_date": last_date[:19],
                       "disposal_id": disposal_id, "disposed_at": now})
        out.add(kind, class_code, versions=versions, created=created, last_date=last_date[:10])

    # -- records -------------------------------------------------------------------------
    recs = list(ctx.session.execute(select(Record.pk, Record.rtype, Record.logical_id, Record.class_code,
                                           Record.current_version, Record.created_at)
                                    .where(Record.patient_id == patient_id)))
    pks = [r.pk for r in recs]
    last: dict[str, str] = {}
    blobs: list[str] = []
    for i in range(0, len(pks), 500):
        chunk = pks[i:i + 500]
        last.update(dict(ctx.session.execute(select(SearchDate.record_pk, func.max(SearchDate.end))
                                             .where(SearchDate.record_pk.in_(chunk))
                                             .group_by(SearchDate.record_pk)).all()))
        blobs += [b for b in ctx.session.scalars(select(RecordVersion.blob).where(
            RecordVersion.record_pk.in_(chunk), RecordVersion.blob.is_not(None)))]
    for r in recs:
        kind = r.rtype
        stone(kind, r.logical_id, r.class_code, r.current_version, r.created_at, last.get(r.pk, ""))
    for att in ctx.session.scalars(select(Attachment).where(Attachment.patient_id == patient_id)):
        stone("Binary", att.id, None, 1, att.uploaded_at)
        blobs.append(att.blob)
    ctx.session.execute(delete(Attachment).where(Attachment.patient_id == patient_id))
    # Every table that hangs off a record by `record_pk` (versions, the search and blind indexes,
    # whatever index a later version adds), so no row — and no blind token — outlives the record.
    import kura.models  # noqa: F401 — every area's tables, so the list below is complete
    hanging = [t for t in Base.metadata.sorted_tables if "record_pk" in t.c and t.name != Record.__tablename__]
    for i in range(0, len(pks), 500):
        chunk = pks[i:i + 500]
        for table in reversed(hanging):
            ctx.session.execute(delete(table).where(table.c.record_pk.in_(chunk)))
        ctx.session.execute(delete(Record).where(Record.pk.in_(chunk)))

    # -- images --------------------------------------------------------------------------
    for ip in list(ctx.session.scalars(select(ImagingPatient).where(ImagingPatient.fhir_patient_id == patient_id))):
        studies = list(ctx.session.scalars(select(ImagingStudy).where(ImagingStudy.patient_ref == ip.id)))
        for st in studies:
            versions: dict[str, int] = defaultdict(int)
            for sop, sha, stored in ctx.session.execute(select(ImagingInstance.sop_uid, ImagingInstance.sha256,
                                                               ImagingInstance.stored_at)
                                                        .where(ImagingInstance.study_ref == st.id)):
                versions[sop] += 1
                blobs.append(sha)
            for sop, n in sorted(versions.items()):
                stone("Instance", sop, st.class_code, n, None, _iso(st.study_date))
            for se in ctx.session.scalars(select(ImagingSeries).where(ImagingSeries.study_ref == st.id)):
                stone("Series", se.series_uid, st.class_code, 1, se.created_at, _iso(st.study_date))
            stone("Study", st.study_uid, st.class_code, 1, st.created_at, _iso(st.study_date))
            ctx.session.execute(delete(ImagingInstance).where(ImagingInstance.study_ref == st.id))
            ctx.session.execute(delete(ImagingSeries).where(ImagingSeries.study_ref == st.id))
        ctx.session.execute(delete(ImagingStudy).where(ImagingStudy.patient_ref == ip.id))
        ctx.session.execute(delete(ImagingPatient).where(ImagingPatient.id == ip.id))
    if stones:
        ctx.session.execute(cast(Table, Tombstone.__table__).insert(), stones)
    ctx.session.flush()
    out.blobs = sorted(set(blobs))
    _delete_blobs_after_commit(ctx, out.blobs)
    return out


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) == 8 and da.isdigit() else ""
