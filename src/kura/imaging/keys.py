"""Whose key seals an instance: the registered patient's, else the DICOM Patient ID's own.

Images that arrive before the patient is registered are sealed under a key of their own
(owner ``dicom:<PatientID>``); when they are linked to the registered Patient that key moves
to the patient (kura.keys.service.link: re-wrapped, never re-encrypted), so disposing of the
patient destroys it too (R79).
"""

from __future__ import annotations

from kura.imaging.models import ImagingPatient
from kura.keys import service as keys
from kura.operation import Context

__all__ = ["blob_aad", "owner_of", "alias_of", "seal_instance", "open_instance"]


def blob_aad(sha: str) -> bytes:
    """Binds a sealed blob to its name, so blobs cannot be swapped unnoticed."""
    return b"imaging:" + sha.encode()


def owner_of(patient: ImagingPatient) -> str:
    if patient.fhir_patient_id:
        return keys.owner_of_patient(patient.fhir_patient_id)
    return keys.owner_of_dicom(patient.patient_id)


def alias_of(dicom_patient_id: str) -> str:
    """The key ring's second name for a patient's sealing key: the DICOM Patient ID, which is
    all an instance tells before its transaction looks the patient up (store.prewrite)."""
    return f"via-dicom:{dicom_patient_id}"


def seal_instance(ctx: Context, patient: ImagingPatient, sha: str, data: bytes) -> bytes:
    return keys.seal(ctx, owner_of(patient), data, blob_aad(sha))


def open_instance(ctx: Context, sha: str, sealed: bytes, *, owner: str | None = None) -> bytes:
    """The instance's bytes. Raises Shredded (disposed of) or IntegrityFailure (altered)."""
    return keys.open(ctx, sealed, blob_aad(sha), owner=owner)
