"""The data keys: one row per key, wrapped by the home's master key.

A patient's records, attachments, printouts and images are sealed under the patient's keys
(owner ``patient:<Patient id>``). Images that arrive before the patient is registered are
sealed under a key of their own (owner ``dicom:<PatientID>``) that moves to the patient when
the images are linked. Destroying the wrapped keys of an owner is the disposal that reaches
every copy of the data (crypto-shredding, R79): the row stays, with ``wrapped`` NULL, so a
reader can tell "disposed" from "missing".
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base

__all__ = ["DataKey"]


class DataKey(Base):
    __tablename__ = "data_key"
    # At most one primary (sealing) key per owner, also under concurrent first use.
    __table_args__ = (Index("uq_data_key_primary_owner", "owner", unique=True,
                            sqlite_where=text("is_primary"), postgresql_where=text("is_primary")),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # hex of the 16-byte key id
    owner: Mapped[str] = mapped_column(String(200), index=True)
    origin: Mapped[str] = mapped_column(String(200))  # the owner it was made for
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)  # NULL once shredded
    created_at: Mapped[dt.datetime]
    shredded_at: Mapped[dt.datetime | None]
