"""The generic versioned store: records, their immutable versions, search indexes, attachments.

A Record is a chain of RecordVersions (regulation §6: date/time and actor bound to each
record and update; R36, R42). A version is written once and never updated: the ORM refuses
an UPDATE of one (see `_refuse_update`), and a confirmation (確定) is itself a new version
whose predecessor is the draft it confirms. The image archive can keep its objects in the
same tables (content in a blob, `blob` set instead of `content`).

A version's content is sealed at rest (kura.records.sealing: a K2 envelope under the
patient's data key, its AAD binding the version's type/id/number, patient, status, label and
class), so the database file names no one and a changed label or status fails to open.

Search parameters live in index tables of their own (search_token, search_string,
search_date), rewritten in the same transaction as the version they describe. Values that
name someone (names, identifiers) are stored only as keyed blind tokens (kura.keys.blind).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, sha256_hex, uuid_pk
from kura.errors import IntegrityFailure

__all__ = ["Record", "RecordVersion", "SearchToken", "SearchString", "SearchDate",
           "Attachment", "DRAFT", "CONFIRMED"]

DRAFT = "draft"
CONFIRMED = "confirmed"

# Byte-order comparison, so that a prefix search is a range scan of the index on PostgreSQL
# whatever the database's collation; SQLite compares bytes already.
_Key = String(200).with_variant(String(200, collation="C"), "postgresql")


class Record(Base):
    """One logical resource (FHIR type + id), its label and a pointer to its current version."""

    __tablename__ = "record"
    __table_args__ = (UniqueConstraint("rtype", "logical_id", name="uq_record_rtype_logical_id"),)

    pk: Mapped[uuid_pk]
    rtype: Mapped[str] = mapped_column(String(64))
    logical_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    class_code: Mapped[str | None] = mapped_column(String(64))  # 管理区分 (R51)
    confidentiality: Mapped[str] = mapped_column(String(1))  # own v3 label N/R/V, class included (R14)
    # The label of the record's patient (issue 7 §1): kept outside the version content, so a
    # relabelled Patient covers its existing records at once without new versions; the
    # effective label is the higher of the two (store.target_of). "N" when no patient.
    patient_confidentiality: Mapped[str] = mapped_column(String(1), server_default="N")
    current_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # status of the current version
    created_at: Mapped[dt.datetime]
    last_updated: Mapped[dt.datetime] = mapped_column(index=True)


class RecordVersion(Base):
    """One immutable version: content, hash, who/when/why, draft or confirmed (R36, R42)."""

    __tablename__ = "record_version"

    record_pk: Mapped[str] = mapped_column(ForeignKey("record.pk"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed canonical JSON, or None when in a blob
    blob: Mapped[str | None] = mapped_column(String(200))  # blob name when the content is a blob
    sha256: Mapped[sha256_hex]  # of the canonical plaintext: the digest the ledger commits
    status: Mapped[str] = mapped_column(String(16))
    # The label and class the version was written under; bound into the envelope's AAD, and
    # the record row's copies must equal its current version's (records.sealing).
    label: Mapped[str] = mapped_column(String(1))
    class_code: Mapped[str | None] = mapped_column(String(64))
    activity: Mapped[str] = mapped_column(String(16))  # create | update | confirm
    at: Mapped[dt.datetime]
    author_id: Mapped[str | None] = mapped_column(String(36))
    author_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    enterer_id: Mapped[str | None] = mapped_column(String(36))  # 入力者
    enterer_name: Mapped[str] = mapped_column(String(200))
    on_behalf_of_id: Mapped[str | None] = mapped_column(String(36))  # 代行入力: the 確定者 (R31)
    on_behalf_of_name: Mapped[str | None] = mapped_column(String(200))
    confirmed_by_id: Mapped[str | None] = mapped_column(String(36))
    confirmed_by_name: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[dt.datetime | None]
    predecessor: Mapped[int | None] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(200), default="")  # terminal (R42)
    provenance_id: Mapped[str | None] = mapped_column(String(64))


@event.listens_for(RecordVersion, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: Any) -> None:
    # Regulation §6 / R36: a stored version never changes; corrections are new versions.
    raise IntegrityFailure("record versions are immutable")


class SearchToken(Base):
    """Token parameters: identifier (system plain, value a blind token), gender, Provenance target."""

    __tablename__ = "search_token"
    __table_args__ = (Index("ix_search_token_lookup", "rtype", "param", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[str] = mapped_column(ForeignKey("record.pk"), index=True)
    rtype: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[str] = mapped_column(_Key)


class PatientIdentifier(Base):
    """The identifiers (system + value) of every Patient's current version, one row each,
    unique per system in the database itself, so no race between two writers can register
    one identifier to two patients (FHIR: 409). The value is a keyed blind token
    (kura.keys.blind of the normalised value): the table names no one. Rebuilt with the
    search indexes (records.store.rebuild_indexes); identifiers without a system are not
    held unique."""

    __tablename__ = "patient_identifier"
    __table_args__ = (UniqueConstraint("system", "token", name="uq_patient_identifier_system_token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[str] = mapped_column(ForeignKey("record.pk"), index=True)
    system: Mapped[str] = mapped_column(String(200))
    token: Mapped[str] = mapped_column(String(32))


class SearchString(Base):
    """String parameters (name) as blind tokens: one row per distinct token of a record — the
    tokens of every prefix of each normalised name part (up to params.PREFIX_MAX characters)
    and of each whole part (for :exact), so a record matches one token at most once."""

    __tablename__ = "search_string"
    # Covering: a name search counts and pages from this index alone (records.reads).
    __table_args__ = (Index("ix_search_string_visible", "rtype", "param", "value", "class_code",
                            "confidentiality", "patient_confidentiality", "record_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[str] = mapped_column(ForeignKey("record.pk"), index=True)
    rtype: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(_Key)
    class_code: Mapped[str | None] = mapped_column(String(64))  # copies of the record's label,
    confidentiality: Mapped[str] = mapped_column(String(1))  # rewritten with every version
    # and the patient's label, rewritten when the Patient's label changes (store.patient_relabelled)
    patient_confidentiality: Mapped[str] = mapped_column(String(1), server_default="N")


class SearchDate(Base):
    """Date parameters as an inclusive UTC range of ISO strings 'YYYY-MM-DDTHH:MM:SS'."""

    __tablename__ = "search_date"
    __table_args__ = (Index("ix_search_date_lookup", "rtype", "param", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[str] = mapped_column(ForeignKey("record.pk"), index=True)
    rtype: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    start: Mapped[str] = mapped_column(String(19))
    end: Mapped[str] = mapped_column(String(19))


class Attachment(Base):
    """An encrypted attachment (scanned letter, PDF, image) in the blob store."""

    __tablename__ = "record_attachment"

    id: Mapped[uuid_pk]
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    record_pk: Mapped[str | None] = mapped_column(ForeignKey("record.pk"), index=True)
    blob: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[sha256_hex]  # of the plaintext
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[str | None] = mapped_column(String(36))
    uploaded_at: Mapped[dt.datetime]
