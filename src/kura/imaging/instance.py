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
from pydicom import valuerep
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag
from pydicom.valuerep import VR
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
_PIXEL_DATA = 0x7FE00010
_CHARSET = 0x00080005
_DELIMITERS = {0x5C, 0x0D, 0x0A, 0x09, 0x0C}  # backslash, CR, LF, TAB, FF reset ISO 2022 (PS3.5 6.1.2.5.3)
_VRS = frozenset(VR.__members__)
_NAME_MAX = 400  # the index's PN column (kura.imaging.models)
_DATE = re.compile(r"^[0-9]{8}$")
_OLD_DATE = re.compile(r"^[0-9]{4}\.[0-9]{2}\.[0-9]{2}$")
_TIME = re.compile(r"^[0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?$")
_OLD_TIME = re.compile(r"^[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$")


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
    unindexed: tuple[str, ...] = ()  # "Keyword: why" of each value left out of the index
    normalised: tuple[str, ...] = ()  # "Keyword: how" of each value indexed in its PS3.5 form


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


def parse(data: bytes) -> InstanceInfo:
    """Validate a Part 10 file structurally and return its indexed attributes.

    Raises Invalid for anything that is not a well-formed DICOM instance: no 'DICM' header,
    truncated or over-long values, unknown VRs, sequences that do not read, missing or
    malformed UIDs. Only the indexed attributes are decoded (in the data set's character
    set); every other value — the pixel data above all — is checked for its framing and kept
    as received: many modalities send slightly irregular values, and the archive's duty is
    to keep what they sent. An indexed value the index cannot hold is left out of it
    (InstanceInfo.unindexed), never a reason to refuse.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            for group in (ds.file_meta, ds):
                _check(group)
            return _info(ds)
    except Invalid:
        raise
    except Exception as exc:  # noqa: BLE001 — pydicom raises many kinds on malformed input
        raise Invalid(f"not a readable DICOM instance: {type(exc).__name__}: {str(exc)[:200]}") from None


def _check(group: Dataset) -> None:
    """Every element framed whole, with a known VR; sequences read through, their items
    checked the same way. No other value is converted."""
    for elem in group._dict.values():
        if not isinstance(elem, RawDataElement):
            if elem.VR == "SQ":
                for item in elem.value:
                    _check(item)
            continue
        if elem.length != _UNDEFINED and len(elem.value or b"") != elem.length:
            raise Invalid(f"element {elem.tag} is truncated or its length is wrong")
        vr = elem.VR
        if vr is not None and vr not in _VRS:
            raise Invalid(f"element {elem.tag} has an unknown VR {vr!r}")
        if vr is None:  # implicit VR: the dictionary's, if the tag is known
            try:
                vr = dictionary_VR(elem.tag)
            except KeyError:
                vr = None
        if vr == "SQ" or (elem.length == _UNDEFINED and elem.tag != _PIXEL_DATA):
            for item in group[elem.tag].value:  # converts the sequence: items framed and read
                _check(item)


class _Raw:
    """Indexed attributes read from the raw element bytes pydicom framed, decoded in the data
    set's Specific Character Set — without converting any other element.

    A value the index cannot hold (longer than its column, a NUL inside, a date that is no
    date) is left out of the index, never a reason to refuse the instance: its name goes to
    `unindexed` (the stored bytes keep the value as received). Values that PS3.5 asks
    receivers to accept in an older form are normalised and named in `normalised`.
    """

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.unindexed: list[str] = []
        self.normalised: list[str] = []
        charset = self.bytes(_CHARSET)
        names = [v.strip() for v in charset.decode("ascii", "replace").split("\\")] if charset else []
        self.encodings = convert_encodings([n for n in names if n] or None)

    def bytes(self, tag: int) -> bytes:
        elem = self.ds._dict.get(BaseTag(tag))
        if elem is None:
            return b""
        if isinstance(elem, RawDataElement):
            return elem.value or b""
        value = elem.value  # converted already (pydicom converts a few as it reads)
        if value is None:
            return b""
        if isinstance(value, pydicom.multival.MultiValue):
            value = "\\".join(str(v) for v in value)
        return str(value).encode("utf-8")

    def _leave_out(self, keyword: str, why: str) -> str:
        self.unindexed.append(f"{keyword}: {why}")
        return ""

    def text(self, tag: int, keyword: str, limit: int) -> str:
        raw = self.bytes(tag)
        if not raw:
            return ""
        text = decode_bytes(raw, self.encodings, _DELIMITERS).strip(" \x00")
        if "\x00" in text:  # PostgreSQL text cannot hold NUL
            return self._leave_out(keyword, "contains a NUL character")
        if len(text) > limit:
            return self._leave_out(keyword, f"longer than the index's {limit} characters")
        return text

    def date(self, tag: int, keyword: str) -> str:
        """DA as YYYYMMDD; the YYYY.MM.DD form of ACR-NEMA is accepted (PS3.5 6.2, DA)."""
        text = self.text(tag, keyword, 64)
        if _OLD_DATE.match(text):
            self.normalised.append(f"{keyword}: YYYY.MM.DD read as YYYYMMDD")
            text = text.replace(".", "")
        if text and not _DATE.match(text):
            return self._leave_out(keyword, "not a date (YYYYMMDD)")
        return text

    def time(self, tag: int, keyword: str) -> str:
        """TM as HHMMSS.FFFFFF; the HH:MM:SS form of ACR-NEMA is accepted (PS3.5 6.2, TM)."""
        text = self.text(tag, keyword, 64)
        if _OLD_TIME.match(text):
            self.normalised.append(f"{keyword}: HH:MM:SS read as HHMMSS")
            text = text.replace(":", "")
        if text and not _TIME.match(text):
            return self._leave_out(keyword, "not a time (HHMMSS.FFFFFF)")
        return text

    def uid(self, tag: int) -> str:
        return self.bytes(tag).decode("ascii", "replace").strip(" \x00")

    def number(self, tag: int) -> int | None:
        try:
            number = int(self.bytes(tag).decode("ascii").strip(" \x00").split("\\")[0])
        except (UnicodeDecodeError, ValueError):
            return None
        return number if -2**31 < number < 2**31 else None

    def unsigned(self, tag: int) -> int | None:
        """A US value (binary, in the data set's byte order)."""
        raw = self.bytes(tag)
        if len(raw) != 2:
            return None
        return int.from_bytes(raw, "little" if self.ds.original_encoding[1] is not False else "big")

    def person(self, tag: int, keyword: str) -> PersonName:
        raw = self.bytes(tag).rstrip(b" \x00")
        if not raw:
            return PersonName()
        name = split_person_name(valuerep.PersonName(raw, self.encodings))
        if "\x00" in name.full:
            self._leave_out(keyword, "contains a NUL character")
            return PersonName()
        if len(name.full) > _NAME_MAX:
            self._leave_out(keyword, f"longer than the index's {_NAME_MAX} characters")
            return PersonName()
        return name


def _info(ds: Dataset) -> InstanceInfo:
    meta = ds.file_meta
    raw = _Raw(ds)
    info = dict(
        sop_class_uid=raw.uid(0x00080016) or str(meta.get("MediaStorageSOPClassUID", "")),
        sop_uid=raw.uid(0x00080018),
        study_uid=raw.uid(0x0020000D),
        series_uid=raw.uid(0x0020000E),
        transfer_syntax=str(meta.get("TransferSyntaxUID", "")),
    )
    # The UIDs are the instance's identity, not an index: without them it cannot be kept.
    for name, uid in info.items():
        if not valid_uid(uid):
            raise Invalid(f"{name} missing or not a valid UID: {uid[:80]!r}")
    if str(meta.get("MediaStorageSOPInstanceUID", info["sop_uid"])) != info["sop_uid"]:
        raise Invalid("data set's SOP Instance UID differs from the meta/request's")
    return InstanceInfo(
        **info,
        patient_id=raw.text(0x00100020, "PatientID", 64),
        patient_name=raw.person(0x00100010, "PatientName"),
        birth_date=raw.date(0x00100030, "PatientBirthDate"),
        sex=raw.text(0x00100040, "PatientSex", 16),
        study_date=raw.date(0x00080020, "StudyDate"),
        study_time=raw.time(0x00080030, "StudyTime"),
        accession_number=raw.text(0x00080050, "AccessionNumber", 16),
        study_id=raw.text(0x00200010, "StudyID", 16),
        study_description=raw.text(0x00081030, "StudyDescription", 200),
        referring_physician=raw.person(0x00080090, "ReferringPhysicianName").full[:200],
        modality=raw.text(0x00080060, "Modality", 16),
        series_number=raw.number(0x00200011),
        series_description=raw.text(0x0008103E, "SeriesDescription", 200),
        body_part=raw.text(0x00180015, "BodyPartExamined", 64),
        instance_number=raw.number(0x00200013),
        rows=raw.unsigned(0x00280010),
        columns=raw.unsigned(0x00280011),
        frames=raw.number(0x00280008),
        unindexed=tuple(raw.unindexed),
        normalised=tuple(raw.normalised),
    )
