"""Legal holds and disposals (R52, R78–R80): who asked, who approved, when, how — no content."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["LegalHold", "Disposal", "REQUESTED", "DONE", "WITHDRAWN"]

REQUESTED, DONE, WITHDRAWN = "requested", "done", "withdrawn"


class LegalHold(Base):
    """訴訟・開示請求: while a hold is in force the patient's data may not be disposed of."""

    __tablename__ = "legal_hold"

    id: Mapped[uuid_pk]
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[str | None] = mapped_column(String(36))
    placed_by_name: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[dt.datetime]
    lifted_at: Mapped[dt.datetime | None]
    lifted_by_id: Mapped[str | None] = mapped_column(String(36))
    lifted_by_name: Mapped[str | None] = mapped_column(String(200))
    lift_reason: Mapped[str] = mapped_column(Text, default="")


class Disposal(Base):
    """A request to dispose of one patient's data, its approval by a second person, and what
    was done: the keys destroyed, the objects removed, the signed certificate (the tombstone
    of the patient; kura.tombstones holds one per object)."""

    __tablename__ = "disposal"

    id: Mapped[uuid_pk]
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    retention_end: Mapped[str] = mapped_column(String(10))  # ISO date the retention ended
    requested_by_id: Mapped[str | None] = mapped_column(String(36))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime]
    approved_by_id: Mapped[str | None] = mapped_column(String(36))
    approved_by_name: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime | None]
    method: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON: per kind and class, counts and dates
    key_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the data keys destroyed
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary)  # the PDF (no clinical content)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(128))  # Ed25519 over the PDF, hex
    signing_key_id: Mapped[str | None] = mapped_column(String(64))
    vault_copies: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [destination, "ok" or why not]
