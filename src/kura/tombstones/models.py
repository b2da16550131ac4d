"""The tombstone table: kind + id of each disposed object, its class and dates, no content."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base

__all__ = ["Tombstone"]


class Tombstone(Base):
    """One disposed object. `kind` is a FHIR type ("Encounter", "Provenance", "Binary") or a
    DICOM level ("Study", "Series", "Instance"); `object_id` its logical id or UID."""

    __tablename__ = "tombstone"
    __table_args__ = (UniqueConstraint("kind", "object_id", name="uq_tombstone_kind_object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    class_code: Mapped[str | None] = mapped_column(String(64))
    versions: Mapped[int] = mapped_column(Integer, default=1)  # versions removed with it
    created_at: Mapped[dt.datetime | None]  # when the object was first stored
    last_date: Mapped[str] = mapped_column(String(19), default="")  # its latest care date, if any
    disposal_id: Mapped[str] = mapped_column(String(36), index=True)
    disposed_at: Mapped[dt.datetime]
