"""Register rows: equipment/media disposal, patient media, incidents. No clinical content."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["EquipmentDisposal", "PatientMedium", "Incident"]


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
