"""Accounts, login sessions and login failures. Accounts are disabled, never deleted (R11)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["User", "LoginSession", "LoginFailure", "AccountRequest", "DutiesText", "DutiesAcknowledgement",
           "TrainingRecord"]


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[uuid_pk]
    username: Mapped[str] = mapped_column(String(64), unique=True)  # NFKC, case-folded
    display_name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated Role values
    clearance: Mapped[str] = mapped_column(String(1), default="N")
    password_hash: Mapped[str] = mapped_column(Text)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[bytes] = mapped_column(LargeBinary)  # sealed with the master key
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)  # replay guard (RFC 6238 §5.2)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[dt.datetime | None]
    failures_since: Mapped[dt.datetime | None]  # an unlock forgives earlier failures
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200), default="")
    # 退職・異動: from this day (hospital time) the account is disabled (kura.identity.lifecycle)
    end_date: Mapped[str | None] = mapped_column(String(10))

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class LoginSession(Base):
    """An opaque bearer token, stored only as its SHA-256."""

    __tablename__ = "login_session"

    id: Mapped[uuid_pk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(200), default="")


class LoginFailure(Base):
    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime]
    origin: Mapped[str] = mapped_column(String(200), default="")


class AccountRequest(Base):
    """利用申請 (R10): a department head asks for an account, or a change of one; the system
    administrator approves or refuses it with a reason. Kept for ever, as the ledger is."""

    __tablename__ = "account_request"

    id: Mapped[uuid_pk]
    kind: Mapped[str] = mapped_column(String(16))  # create | change
    username: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated Role values
    clearance: Mapped[str] = mapped_column(String(1), default="N")
    end_date: Mapped[str | None] = mapped_column(String(10))  # ISO date, hospital time
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | refused
    requested_by_id: Mapped[str | None] = mapped_column(String(36))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime]
    decided_by_id: Mapped[str | None] = mapped_column(String(36))
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")


class DutiesText(Base):
    """利用者の責務: the hospital's text of the users' duties. Every edit is a new version."""

    __tablename__ = "duties_text"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime]
    published_by: Mapped[str] = mapped_column(String(200))


class DutiesAcknowledgement(Base):
    """A user's 同意 to one version of the duties text."""

    __tablename__ = "duties_acknowledgement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"), index=True)
    version: Mapped[int] = mapped_column(ForeignKey("duties_text.version"))
    at: Mapped[dt.datetime]


class TrainingRecord(Base):
    """教育・訓練の記録 (regulation §14, R82): who took which course when, until when it
    counts, and the evidence (a certificate, an attendance list) sealed in the blob store."""

    __tablename__ = "training_record"

    id: Mapped[uuid_pk]
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"), index=True)
    course: Mapped[str] = mapped_column(String(32))  # see kura.identity.training.COURSES
    title: Mapped[str] = mapped_column(String(200), default="")
    completed_on: Mapped[str] = mapped_column(String(10))  # ISO date, hospital time
    expires_on: Mapped[str | None] = mapped_column(String(10))
    evidence_blob: Mapped[str | None] = mapped_column(String(200))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_name: Mapped[str] = mapped_column(String(200), default="")
    evidence_type: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]
