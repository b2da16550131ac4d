"""Register rows: the equipment inventory and its inspections, equipment/media disposal, the
software reviews, patient media, incidents. No clinical content."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["EquipmentDisposal", "Equipment", "Inspection", "SoftwareReview", "PatientMedium", "Incident"]


class EquipmentDisposal(Base):
    """機器・媒体の廃棄 (R79): what was retired, how it was made unreadable, by whom, the
    certificate, and a second person's approval."""

    __tablename__ = "equipment_disposal"

    id: Mapped[uuid_pk]
    item_kind: Mapped[str] = mapped_column(String(16))  # device | medium
    description: Mapped[str] = mapped_column(String(400))
    serial: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))  # see kura.registers.equipment.METHODS
    performed_by: Mapped[str] = mapped_column(String(200))  # person or contractor who did it
    performed_on: Mapped[str] = mapped_column(String(10))  # ISO date
    certificate_ref: Mapped[str] = mapped_column(String(400), default="")  # e.g. the contractor's certificate no.
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[str | None] = mapped_column(String(36))
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]
    approved_by_id: Mapped[str | None] = mapped_column(String(36))
    approved_by_name: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime | None]


class Equipment(Base):
    """機器台帳 (regulation §7; R83): a server, terminal, network device or medium — what, where,
    who answers for it, serial, installed on, state — and its inspection interval. Retired
    (廃棄済) items point at their entry in the disposal register."""

    __tablename__ = "equipment"

    id: Mapped[uuid_pk]
    asset_no: Mapped[str] = mapped_column(String(64), unique=True)  # the hospital's 管理番号
    kind: Mapped[str] = mapped_column(String(16))  # see kura.registers.inventory.KINDS
    name: Mapped[str] = mapped_column(String(400))
    location: Mapped[str] = mapped_column(String(200))
    responsible: Mapped[str] = mapped_column(String(200))
    serial: Mapped[str] = mapped_column(String(200))
    installed_on: Mapped[str] = mapped_column(String(10))  # ISO date
    state: Mapped[str] = mapped_column(String(16))  # see kura.registers.inventory.STATES
    interval_days: Mapped[int] = mapped_column(Integer, default=0)  # 0: no scheduled inspection
    next_due: Mapped[str | None] = mapped_column(String(10), index=True)  # ISO date; None when unscheduled
    disposal_id: Mapped[str | None] = mapped_column(ForeignKey("equipment_disposal.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]
    changed_at: Mapped[dt.datetime]


class Inspection(Base):
    """One inspection of an equipment item (点検記録): when, by whom, the result, the findings,
    the follow-up asked for, and when and by whom that follow-up was closed."""

    __tablename__ = "equipment_inspection"

    id: Mapped[uuid_pk]
    equipment_id: Mapped[str] = mapped_column(ForeignKey("equipment.id"), index=True)
    inspected_on: Mapped[str] = mapped_column(String(10))  # ISO date
    inspector: Mapped[str] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(16))  # see kura.registers.inventory.RESULTS
    findings: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[dt.datetime | None]
    closed_by_name: Mapped[str | None] = mapped_column(String(200))
    closing_note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]


class SoftwareReview(Base):
    """ソフトウェア審査 (regulation §9; R65, R66): one build of kura as `kura selfcheck` saw it
    (version, digest of its files, the CycloneDX SBOM as a sealed blob), submitted for review,
    then approved or refused by a named operations manager."""

    __tablename__ = "software_review"

    id: Mapped[uuid_pk]
    version: Mapped[str] = mapped_column(String(64))
    files_digest: Mapped[str] = mapped_column(String(64), index=True)  # kura.preservation.selfcheck.package_digest
    files: Mapped[int] = mapped_column(Integer)  # files the digest covers
    components: Mapped[int] = mapped_column(Integer)
    anomalies: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, as the self-check found them
    sbom_blob: Mapped[str] = mapped_column(String(200))
    sbom_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by_name: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(16))  # pending | approved | refused
    decided_by_id: Mapped[str | None] = mapped_column(String(36))
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")


class PatientMedium(Base):
    """A patient CD/DVD (PS3.10 DICOMDIR) handed out (R61, R73): what is on it, to whom, by whom."""

    __tablename__ = "patient_medium"

    id: Mapped[uuid_pk]
    medium_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)  # the DICOM Patient ID
    studies: Mapped[str] = mapped_column(Text)  # JSON list of Study Instance UIDs
    contents: Mapped[str] = mapped_column(Text)  # JSON: path -> SHA-256 of every file
    image_sha256: Mapped[str] = mapped_column(String(64))  # of the ZIP of the medium's files
    purpose: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(200))
    handed_over_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    returned_at: Mapped[dt.datetime | None]
    destroyed_at: Mapped[dt.datetime | None]
    status_note: Mapped[str] = mapped_column(Text, default="")


class Incident(Base):
    """盗難・紛失・漏えい・不正アクセス・マルウェア (regulation §12, R75)."""

    __tablename__ = "incident"

    id: Mapped[uuid_pk]
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    malicious: Mapped[bool] = mapped_column(Boolean, default=False)  # 確報 within 60 days instead of 30
    occurred_at: Mapped[dt.datetime | None]
    discovered_at: Mapped[dt.datetime]
    reported_by: Mapped[str] = mapped_column(String(200))
    subject_kind: Mapped[str] = mapped_column(String(16), default="")  # account | peer | terminal | ""
    subject_id: Mapped[str] = mapped_column(String(200), default="")
    window_start: Mapped[dt.datetime | None]
    window_end: Mapped[dt.datetime | None]
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]
    preliminary_filed_at: Mapped[dt.datetime | None]  # 速報 to the 個人情報保護委員会
    final_filed_at: Mapped[dt.datetime | None]  # 確報
    closed_at: Mapped[dt.datetime | None]
    timeline: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {at, by, text}
