"""The image archive's index: patient, study, series, instance rows pointing at sealed blobs.

The instance bytes live in the content-addressed blob store (name = SHA-256 of the bytes as
received), sealed under the patient's data key; these rows hold what C-FIND and QIDO-RS
match on and what the 検像 (image check) decided. Instance rows are versions, never
overwritten: a new version of a SOP Instance gets the next ``version`` number and becomes
``current``; older rows stay.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from kura.db.base import Base, uuid_pk

__all__ = ["DicomPeer", "ImagingPatient", "ImagingStudy", "ImagingSeries", "ImagingInstance", "ImagingCorrection",
           "STUDY_STATUSES"]

# 検像: a study arrives as draft; a technologist confirms it (frozen) or returns it.
STUDY_STATUSES = ("draft", "confirmed", "returned")


class DicomPeer(Base):
    """A DICOM node allowed to associate (`kura dicom-peer add`); read at association time."""

    __tablename__ = "dicom_peer"

    ae_title: Mapped[str] = mapped_column(String(16), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    rights: Mapped[str] = mapped_column(String(64))  # comma-separated: store, query, retrieve
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    @property
    def right_set(self) -> frozenset[str]:
        return frozenset(r for r in self.rights.split(",") if r)


class ImagingPatient(Base):
    """A DICOM Patient ID, its first-seen demographics (its data keys: kura.keys), and the
    confidentiality label of the registered FHIR Patient it belongs to (kura.imaging.labels):
    every study of the patient is at least that restricted."""

    __tablename__ = "imaging_patient"

    id: Mapped[uuid_pk]
    patient_id: Mapped[str] = mapped_column(String(64), unique=True)  # DICOM (0010,0020)
    fhir_patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The Patient record's v3 label, kept in step in the transaction that changes it. Indexed:
    # a search below clearance V leaves out the (few) patients labelled above it.
    confidentiality: Mapped[str] = mapped_column(String(1), default="N", server_default="N", index=True)
    name: Mapped[str] = mapped_column(String(400), default="")
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime]


class ImagingStudy(Base):
    __tablename__ = "imaging_study"

    id: Mapped[uuid_pk]
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_ref: Mapped[str] = mapped_column(ForeignKey("imaging_patient.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    # PN as received, decoded to text: "alphabetic=ideographic=phonetic" and each group.
    patient_name: Mapped[str] = mapped_column(String(400), default="")
    name_alphabetic: Mapped[str] = mapped_column(String(200), default="")
    name_ideographic: Mapped[str] = mapped_column(String(200), default="")
    name_phonetic: Mapped[str] = mapped_column(String(200), default="")
    name_search: Mapped[str] = mapped_column(String(800), default="")  # " token token …" normalised
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    study_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)
    study_id: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    referring_physician: Mapped[str] = mapped_column(String(200), default="")
    modalities: Mapped[str] = mapped_column(String(100), default="")  # backslash-separated
    num_series: Mapped[int] = mapped_column(Integer, default=0)
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    status_by: Mapped[str] = mapped_column(String(200), default="")
    status_at: Mapped[dt.datetime | None]
    status_reason: Mapped[str] = mapped_column(Text, default="")
    class_code: Mapped[str] = mapped_column(String(64))
    confidentiality: Mapped[str] = mapped_column(String(1), default="N")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ImagingSeries(Base):
    __tablename__ = "imaging_series"

    id: Mapped[uuid_pk]
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_ref: Mapped[str] = mapped_column(ForeignKey("imaging_study.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    series_number: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200), default="")
    body_part: Mapped[str] = mapped_column(String(64), default="")
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]


class ImagingInstance(Base):
    """One version of one SOP Instance. Never updated except ``current`` moving to a newer version."""

    __tablename__ = "imaging_instance"
    __table_args__ = (UniqueConstraint("sop_uid", "version"),)

    id: Mapped[uuid_pk]
    sop_uid: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    series_ref: Mapped[str] = mapped_column(ForeignKey("imaging_series.id"), index=True)
    study_ref: Mapped[str] = mapped_column(ForeignKey("imaging_study.id"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[dt.datetime]
    stored_by: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(200), default="")


class ImagingCorrection(Base):
    """One correction of a study's patient attributes (IHE PIR), a new version with a reason.

    The received instance bytes are never rewritten: `original` keeps the values as received,
    and the newest correction's values are written into every header served on retrieval
    (kura.imaging.pir). `key_owner` is whose data keys sealed the images before the study
    moved to another Patient ID (they still open them)."""

    __tablename__ = "imaging_correction"
    __table_args__ = (UniqueConstraint("study_ref", "version"),)

    id: Mapped[uuid_pk]
    study_ref: Mapped[str] = mapped_column(ForeignKey("imaging_study.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # link (to a registered Patient) | correct
    patient_id: Mapped[str] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(400), default="")
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    original: Mapped[str] = mapped_column(Text)  # JSON: the values as received
    key_owner: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[str] = mapped_column(String(200))
    corrected_at: Mapped[dt.datetime]
