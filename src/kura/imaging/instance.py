"""Reading one received instance: Part 10 framing, structural validation, the indexed attributes.

Pure (pydicom only). The bytes kura stores are exactly the bytes received: a Part 10 file
as sent (STOW-RS), or — for a bare data set received over DIMSE — the data set behind a
preamble and File Meta Information that kura adds once, built only from the SOP Class,
SOP Instance and Transfer Syntax UIDs, so that the same data set sent twice gives the same
bytes and the same hash (PS3.10 §7.1).
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from kura.errors import Invalid
from kura.imaging.names import PersonName, split_person_name

__all__ = ["InstanceInfo", "wrap_part10", "add_preamble", "parse", "read_dataset", "IMPLEMENTATION_UID",
           "valid_uid"]

# kura's Implementation Class UID (PS3.7 D.3.3.2), under the UUID-derived 2.25 root.
IMPLEMENTATION_UID = "2.25.229835791736645347106420911052458371841"
IMPLEMENTATION_VERSION = "KURA_1"

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_UNDEFINED = 0xFFFFFFFF


def valid_uid(value: str) -> bool:
    """PS3.5 §9.1: digits and dots, no leading zeros in a component, at most 64 characters."""
    return bool(value) and len(value) <= 64 and bool(_UID.match(value))


@dataclasses.dataclass(frozen=True)
class InstanceInfo:
    """What the index keeps of one instance, decoded to text whatever the character set."""

    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    patient_id: str
    patient_name: PersonName
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician: str
    modality: str
    series_number: int | None
    series_description: str
    body_part: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    frames: int | None


def wrap_part10(dataset: bytes, *, transfer_syntax: str, sop_class_uid: str,
                sop_instance_uid: str) -> bytes:
    """Preamble + 'DICM' + File Meta Information + the data set bytes, deterministically."""
    for name, uid in (("transfer syntax", transfer_syntax), ("SOP class", sop_class_uid),
                      ("SOP instance", sop_instance_uid)):
        if not valid_uid(uid):
            raise Invalid(f"invalid {name} UID {uid!r}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    out = io.BytesIO()
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)  # type: ignore[arg-type]  # any binary file works
    out.write(dataset)
    return out.getvalue()


def add_preamble(data: bytes) -> bytes:
    """A file whose File Meta Information starts at byte 0 (no preamble, as pydicom's
    dcmwrite writes an in-memory data set, and so dicomweb-client sends it) gets the
    128-byte zero preamble and 'DICM' prefix; every other input is returned unchanged."""
    if data[128:132] != b"DICM" and data[:2] == b"\x02\x00":
        return b"\x00" * 128 + b"DICM" + data
    return data


def read_dataset(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse stored Part 10 bytes (trusted: already validated on the way in)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip()
    if len(text) > limit:
        raise Invalid(f"{keyword} is longer than {limit} characters")
    return text


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -2**31 < number < 2**31 else None


def parse(data: bytes) -> InstanceInfo:
    """Validate a Part 10 file structurally and return its indexed attributes.

    Raises Invalid for anything that is not a well-formed DICOM instance: no 'DICM' header,
    truncated or over-long values, unknown VRs, values that do not decode, missing or
    malformed UIDs. Values are kept as received otherwise — many modalities send slightly
    irregular values, and the archive's duty is to keep what they sent.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            for group in (ds.file_meta, ds):
                for elem in group._dict.values():  # raw elements, before pydicom converts them
                    if (isinstance(elem, RawDataElement) and elem.length != _UNDEFINED
                            and len(elem.value or b"") != elem.length):
                        raise Invalid(f"element {elem.tag} is truncated or its length is wrong")
                for _ in group.iterall():  # converts every element: unknown VRs, bad lengths raise
                    pass
            return _info(ds)
    except Invalid:
        raise
    except Exception as exc:  # noqa: BLE001 — pydicom raises many kinds on malformed input
        raise Invalid(f"not a readable DICOM instance: {type(exc).__name__}: {str(exc)[:200]}") from None


def _info(ds: Dataset) -> InstanceInfo:
    meta = ds.file_meta
    ts = str(meta.get("TransferSyntaxUID", ""))
    sop_class = str(ds.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
    info = dict(
        sop_class_uid=sop_class,
        sop_uid=str(ds.get("SOPInstanceUID", "")),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        transfer_syntax=ts,
    )
    for name, uid in info.items():
        if not valid_uid(uid):
            raise Invalid(f"{name} missing or not a valid UID: {uid[:80]!r}")
    if str(meta.get("MediaStorageSOPInstanceUID", info["sop_uid"])) != info["sop_uid"]:
        raise Invalid("file meta SOP Instance UID differs from the data set's")
    result = InstanceInfo(
        **info,
        patient_id=_text(ds, "PatientID", 64),
        patient_name=split_person_name(ds.get("PatientName")),
        birth_date=_text(ds, "PatientBirthDate", 8),
        sex=_text(ds, "PatientSex", 16),
        study_date=_text(ds, "StudyDate", 8),
        study_time=_text(ds, "StudyTime", 16),
        accession_number=_text(ds, "AccessionNumber", 16),
        study_id=_text(ds, "StudyID", 16),
        study_description=_text(ds, "StudyDescription", 200),
        referring_physician=str(split_person_name(ds.get("ReferringPhysicianName")).full)[:200],
        modality=_text(ds, "Modality", 16),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription", 200),
        body_part=_text(ds, "BodyPartExamined", 64),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        frames=_int(ds, "NumberOfFrames"),
    )
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        text = value.full if isinstance(value, PersonName) else value
        if isinstance(text, str) and "\x00" in text:  # PostgreSQL text cannot hold NUL
            raise Invalid(f"{field.name} contains a NUL character")
    return result
