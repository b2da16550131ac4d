"""Accounts, login sessions and login failures. Accounts are disabled, never deleted (R11)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["User", "LoginSession", "LoginFailure"]


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
