"""A stored instance in another transfer syntax, for a client that cannot take it as stored.

Pure (pydicom and the pylibjpeg decoders kura ships). The archive keeps the bytes as
received; a copy in another transfer syntax is made only on the way out (WADO-RS asked for
one, PS3.18 8.7.3; a DICOM peer that accepted no presentation context for the stored one)
and never stored. What can be made:

- from any transfer syntax kura accepts, whose pixel data a decoder can read: the
  uncompressed little endian ones (Explicit VR — PS3.18's default —, Implicit VR, Deflated);
- RLE Lossless and JPEG 2000 Lossless, encoded from those pixels.

Nothing else (lossy encodings, Explicit VR Big Endian, JPEG-LS): CannotConvert. Pixels
decoded from a lossy transfer syntax keep Lossy Image Compression "01" (PS3.3 C.7.6.1.1.5).
A copy in another transfer syntax is the same SOP Instance: its UID is kept (pydicom would
make a new one).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.filereader import read_dataset as _read_group, read_preamble
from pydicom.sequence import Sequence

from kura.errors import Invalid
from kura.imaging.instance import read_dataset

__all__ = ["CannotConvert", "transcode", "frames", "split_part10", "transfer_syntax_of", "can_make", "AS_STORED",
           "NATIVE", "ENCODABLE"]

AS_STORED = "*"  # PS3.18 8.7.3.5.2: the transfer syntax the origin server has
NATIVE = (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian)
ENCODABLE = (uid.RLELossless, uid.JPEG2000Lossless)
_LOSSY = {uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLSNearLossless, uid.JPEG2000}
_SWAP = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


class CannotConvert(Invalid):
    """The instance cannot be given in the transfer syntax asked for (WADO-RS: 406)."""


def can_make(target: str) -> bool:
    """Whether kura can encode `target` at all (from an instance it can decode)."""
    return target in NATIVE or target in ENCODABLE


def split_part10(data: bytes) -> tuple[str, bytes]:
    """(Transfer Syntax UID, the data set's bytes as stored) of stored Part 10 bytes."""
    fp = io.BytesIO(data)
    read_preamble(fp, False)
    meta = _read_group(fp, is_implicit_VR=False, is_little_endian=True,
                       stop_when=lambda tag, vr, length: tag.group != 2)
    return str(meta.get("TransferSyntaxUID", "")), data[fp.tell():]


def transfer_syntax_of(data: bytes) -> str:
    return split_part10(data)[0]


def transcode(data: bytes, target: str) -> bytes:
    """Stored Part 10 bytes as a Part 10 file in `target`: `data` itself when it is in
    `target` already. Raises CannotConvert."""
    source = transfer_syntax_of(data)
    if source == target:
        return data
    if not can_make(target):
        raise CannotConvert(f"kura cannot encode {uid.UID(target).name}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_dataset(data)
            _to_native(ds, uid.UID(source))
            if target in ENCODABLE:
                ds.compress(target, generate_instance_uid=False)
            else:
                ds.file_meta.TransferSyntaxUID = uid.UID(target)
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            return out.getvalue()
    except CannotConvert:
        raise
    except Exception as exc:  # noqa: BLE001 — decoders and encoders raise many kinds
        raise CannotConvert(f"{uid.UID(source).name} to {uid.UID(target).name}: "
                            f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _to_native(ds: Dataset, source: uid.UID) -> None:
    """Decode `ds` in place to Explicit VR Little Endian with native pixel data."""
    if source.is_compressed:
        if "PixelData" in ds:
            ds.decompress(generate_instance_uid=False)  # pydicom's pixel decoders (pylibjpeg, RLE); sets the transfer syntax
            if source in _LOSSY:
                ds.LossyImageCompression = "01"
        ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    elif not source.is_little_endian:
        _swap(ds, bits=int(ds.get("BitsAllocated", 8) or 8))
        ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian


def _swap(ds: Dataset, *, bits: int) -> None:
    """Big endian to little endian, in place: pydicom re-encodes numbers and text itself but
    leaves the bytes of OW/OF/OL/OD/OV values as they are (filewriter.dcmwrite's warning)."""
    for elem in list(ds):  # iterating converts each raw element, read with its big endian encoding
        if elem.VR == "SQ":
            for item in elem.value or Sequence():
                _swap(item, bits=bits)
            continue
        size = _SWAP.get(elem.VR)
        if elem.tag == 0x7FE00010:  # OW pixel data: words of 16 bits, or of its pixels when wider
            size = (bits // 8 if bits in (32, 64) else 2) if elem.VR == "OW" else None
        if size and isinstance(elem.value, bytes) and len(elem.value) % size == 0:
            elem.value = np.frombuffer(elem.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()
    ds.set_original_encoding(False, True, ds.original_character_set)


def frames(data: bytes) -> list[bytes]:
    """The frames of stored Part 10 bytes as they are encoded: each compressed frame of
    encapsulated pixel data, or each frame's share of native pixel data. Raises CannotConvert
    (no pixel data, or native pixel data in big endian: transcode it first)."""
    source = uid.UID(transfer_syntax_of(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(data)
        if "PixelData" not in ds:
            raise CannotConvert("the instance has no pixel data")
        count = int(ds.get("NumberOfFrames", 1) or 1)
        if source.is_compressed:
            return list(generate_frames(ds.PixelData, number_of_frames=count))
        if not source.is_little_endian:
            raise CannotConvert("native pixel data in big endian")
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
        pixels = ds.PixelData
        if size <= 0 or len(pixels) < size * count:
            raise CannotConvert("the pixel data are shorter than their frames")
        return [pixels[i * size:(i + 1) * size] for i in range(count)]
