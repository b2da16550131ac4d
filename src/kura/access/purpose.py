"""The purpose of use (HL7 v3 PurposeOfUse) of a unit of work, decided here and nowhere else.

Every ledger entry names the purpose its work served (R23). Adapters pass the facts — who
acts and whether they invoked break-glass — and `purpose_of` decides; Kura.unit_of_work asks
it whenever a caller names no purpose. So the same read through the screens, FHIR or
DICOMweb is ledgered with the same purpose.
"""

from __future__ import annotations

from enum import StrEnum

from kura.access.policy import Subject
from kura.access.roles import Role

__all__ = ["Purpose", "purpose_of"]


class Purpose(StrEnum):
    """The v3 PurposeOfUse codes kura writes (terminology.hl7.org CodeSystem v3-ActReason)."""

    ETREAT = "ETREAT"  # emergency treatment: break-glass
    HOPERAT = "HOPERAT"  # healthcare operations: sign-in, own account, servers
    HPAYMT = "HPAYMT"  # healthcare payment: 医事 (billing) work
    HSYSADMIN = "HSYSADMIN"  # health system administration: users, classes, audit
    TREAT = "TREAT"  # treatment: clinical work, DICOM traffic


def purpose_of(subject: Subject | None, *, break_glass: bool = False) -> Purpose:
    """ETREAT under break-glass; HPAYMT for someone whose only role is clerk (医事 staff);
    TREAT for everyone else (clinicians, DICOM peers, an unidentified caller)."""
    if break_glass:
        return Purpose.ETREAT
    if subject is not None and set(subject.roles) == {Role.clerk}:
        return Purpose.HPAYMT
    return Purpose.TREAT
