"""Ledger rows: the entries, the head that serialises appends, signed checkpoints, sign-offs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base

__all__ = ["LedgerEntry", "LedgerHead", "Checkpoint", "AlertSignoff"]


class LedgerEntry(Base):
    """One audited event. Never updated, never deleted (R24)."""

    __tablename__ = "ledger_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[int] = mapped_column(Integer)  # DICOM EventOutcomeIndicator 0/4/8/12
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_name: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(200))  # terminal: IP address, or AE title@host
    request_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the version/object committed
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON
    alert: Mapped[bool] = mapped_column(Boolean, index=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """The single row every append locks: tree size, last chain hash, Merkle frontier."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    chain_hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[str] = mapped_column(Text)


class Checkpoint(Base):
    """A signed statement of (tree size, root hash) at a time; ship it off the machine."""

    __tablename__ = "ledger_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AlertSignoff(Base):
    """The audit manager's review of one alert entry."""

    __tablename__ = "ledger_alert_signoff"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    by_id: Mapped[str | None] = mapped_column(String(36))
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(Text)
