"""Review rows: the audit review report (R27) and the periodic rights review (棚卸, R11).

Neither holds clinical content: user names, patient ids, counts, ledger sequence numbers.
A signed row keeps the PDF that was signed and its Ed25519 signature (kura.ledger.signing).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["ReviewReport", "RightsReview", "RightsReviewItem"]


class SignedOff:
    """Who signed a review off and when, with their comment, and the PDF signed with the
    home's key — the same for both kinds of review."""

    signed_at: Mapped[dt.datetime | None]
    signed_by_id: Mapped[str | None] = mapped_column(String(36))
    signed_by_name: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(128))
    key_id: Mapped[str | None] = mapped_column(String(64))


class ReviewReport(SignedOff, Base):
    """監査レビュー報告: the findings of one period of the ledger, signed off by the audit manager."""

    __tablename__ = "review_report"

    id: Mapped[uuid_pk]
    kind: Mapped[str] = mapped_column(String(16), index=True)  # daily | weekly | on-demand
    period_start: Mapped[dt.datetime] = mapped_column(index=True)
    period_end: Mapped[dt.datetime]
    first_seq: Mapped[int | None] = mapped_column(Integer)  # the ledger entries read
    last_seq: Mapped[int | None] = mapped_column(Integer)
    thresholds: Mapped[str] = mapped_column(Text)  # JSON: the settings the findings were judged by
    findings: Mapped[str] = mapped_column(Text)  # canonical JSON list (kura.reviews.findings)
    findings_sha256: Mapped[str] = mapped_column(String(64))  # committed by the ledger entry
    generated_at: Mapped[dt.datetime]
    generated_by_id: Mapped[str | None] = mapped_column(String(36))
    generated_by_name: Mapped[str] = mapped_column(String(200))


class RightsReview(SignedOff, Base):
    """ID・権限の棚卸: every account at one moment, each marked by the system administrator."""

    __tablename__ = "rights_review"

    id: Mapped[uuid_pk]
    unused_days: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(index=True)
    started_by_id: Mapped[str | None] = mapped_column(String(36))
    started_by_name: Mapped[str] = mapped_column(String(200))


class RightsReviewItem(Base):
    """One account in a rights review: what it held then, and the administrator's decision."""

    __tablename__ = "rights_review_item"
    __table_args__ = (UniqueConstraint("review_id", "username", name="uq_rights_review_item_review_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("rights_review.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[str] = mapped_column(String(200))
    clearance: Mapped[str] = mapped_column(String(1))
    was_disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]
    last_login: Mapped[dt.datetime | None]
    unused: Mapped[bool] = mapped_column(Boolean)  # not signed in for unused_days
    unused_rights: Mapped[str] = mapped_column(Text)  # JSON list of Action values
    decision: Mapped[str] = mapped_column(String(16), default="")  # "" | kept | changed | disabled
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
