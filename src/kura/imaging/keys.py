"""Each imaging patient's data key: wrapped under the home's master key, unwrapped per use.

Destroying a patient's wrapped key makes every copy of that patient's instances unreadable,
backups included (crypto-shredding, R79).
"""

from __future__ import annotations

from kura.blobs.crypto import unwrap_key
from kura.imaging.models import ImagingPatient
from kura.operation import Context

__all__ = ["blob_aad", "key_label", "patient_key"]


def blob_aad(sha: str) -> bytes:
    """Binds a sealed blob to its name, so blobs cannot be swapped unnoticed."""
    return b"imaging:" + sha.encode()


def key_label(patient: ImagingPatient) -> str:
    return f"imaging-patient:{patient.id}"


def patient_key(ctx: Context, patient: ImagingPatient) -> bytes:
    return unwrap_key(ctx.master_key, patient.wrapped_key, key_label(patient))
