"""The corrected header served on retrieval (IHE RAD TF-1 PIR, Patient Information
Reconciliation): the stored bytes stay as received; every copy that leaves — WADO-RS,
C-GET, C-MOVE, the viewer, printouts, media — carries the study's corrected patient
attributes, and the values they replaced in the Original Attributes Sequence
(PS3.3 C.12.1.1.9, reason CORRECT). Pure: no database.
"""

from __future__ import annotations

import datetime as dt
import io

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

__all__ = ["Header", "apply"]

# (keyword, value) of the corrected attributes, plus when and by which system.
Header = tuple[tuple[str, str], ...]

_KEYWORDS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")


def apply(data: bytes, header: Header, *, corrected_at: str = "", system: str = "kura") -> bytes:
    """`data` (a Part 10 file) with the patient attributes of `header` written in. Text is
    re-encoded as UTF-8 (ISO_IR 192) when the corrected values need it. Raises whatever
    pydicom raises on a file it cannot read (the caller's bytes were verified already)."""
    values = dict(header)
    ds = dcmread(io.BytesIO(data), force=True)
    modified = Dataset()
    changed = False
    for keyword in _KEYWORDS:
        if keyword not in values:
            continue
        old = ds.get(keyword)
        if old is not None and str(old) == values[keyword]:
            continue
        changed = True
        setattr(modified, keyword, old if old is not None else "")
    if not changed:
        return data
    if any(ord(c) > 127 for v in values.values() for c in v):
        ds.decode()  # every text element to str, so that all of it is re-encoded alike
        ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword in _KEYWORDS:
        if keyword in values:
            setattr(ds, keyword, values[keyword])
    item = Dataset()
    item.ModifiedAttributesSequence = Sequence([modified])
    item.AttributeModificationDateTime = corrected_at or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    item.ModifyingSystem = system
    item.ReasonForTheAttributeModification = "CORRECT"
    original = list(ds.get("OriginalAttributesSequence") or [])
    ds.OriginalAttributesSequence = Sequence(original + [item])
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
