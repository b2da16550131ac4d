"""Management classes (管理区分): confidentiality, usage scope, retention and update rule (R51)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base

__all__ = ["ManagementClass"]


class ManagementClass(Base):
    __tablename__ = "management_class"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    confidentiality: Mapped[str] = mapped_column(String(1))  # v3 Confidentiality N/R/V
    scope_roles: Mapped[str] = mapped_column(String(200))  # comma-separated roles that may use it
    retention_years: Mapped[int] = mapped_column(Integer)
    retention_start: Mapped[str] = mapped_column(String(16))  # "completion" (完結日) or "creation"
    # The legal kind of its records (kura.classes.legal): retention may not be shorter than its minimum.
    legal_kind: Mapped[str] = mapped_column(String(32), default="other", server_default="other")
    update_rule: Mapped[str] = mapped_column(String(16))  # "versioned": corrections as new versions
    default_for: Mapped[str] = mapped_column(String(400), default="")  # record types it is default for
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime]

    @property
    def scope(self) -> frozenset[str]:
        return frozenset(r for r in self.scope_roles.split(",") if r)
