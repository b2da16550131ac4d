"""WADO-RS content negotiation (PS3.18 8.7): which representation the client accepts.

The Accept header lists media types, best (highest q) first; for multipart/related the part
type is its `type` parameter. The `transfer-syntax` parameter names the transfer syntax
wanted; `*` means as the origin server has it. Without one, PS3.18 8.7.3.5's defaults hold:
Explicit VR Little Endian for application/dicom, uncompressed pixels for
application/octet-stream, and the first transfer syntax of each image/* type.
"""

from __future__ import annotations

import dataclasses

from pydicom import uid

from kura.errors import KuraError
from kura.imaging.transcode import AS_STORED
from kura.web.dicomweb.multipart import parse_content_type

__all__ = ["NotAcceptable", "Wanted", "instance_syntaxes", "pixel_wants", "IMAGE_TYPES", "OCTET",
           "media_type_of"]

OCTET = "application/octet-stream"
DICOM = "application/dicom"
# PS3.18 Table 8.7.3-5: the image media types of compressed pixel data, and their transfer syntaxes
# (the first is the default).
IMAGE_TYPES = {
    "image/jpeg": (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1),
    "image/jls": (uid.JPEGLSLossless, uid.JPEGLSNearLossless),
    "image/jp2": (uid.JPEG2000Lossless, uid.JPEG2000),
    "image/x-dicom-rle": (uid.RLELossless,),
}


class NotAcceptable(KuraError):
    """None of the representations the client accepts can be given (HTTP 406)."""


@dataclasses.dataclass(frozen=True)
class Wanted:
    media_type: str  # of the part: application/dicom, application/octet-stream, image/jls, …
    transfer_syntax: str  # a UID, or AS_STORED


def media_type_of(transfer_syntax: str) -> str:
    """The image media type of compressed pixel data in `transfer_syntax` (octet-stream if none)."""
    for media, syntaxes in IMAGE_TYPES.items():
        if transfer_syntax in syntaxes:
            return media
    return OCTET


def _ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """(part media type, parameters) of each media range, by q, best first; q=0 left out."""
    ranges = []
    for n, item in enumerate(i for i in (accept or "").split(",") if i.strip()):
        media, params = parse_content_type(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q <= 0:
            continue
        if media == "multipart/related":
            media = params.get("type", "").lower() or DICOM
        ranges.append((-q, n, media, params))
    return [(media, params) for _, _, media, params in sorted(ranges)]


def instance_syntaxes(accept: str) -> list[str]:
    """Transfer syntaxes acceptable for whole instances (application/dicom), best first.
    Raises NotAcceptable when the client accepts no application/dicom at all."""
    if not (accept or "").strip():
        return [uid.ExplicitVRLittleEndian]
    out = []
    for media, params in _ranges(accept):
        if media in (DICOM, "application/*", "*/*", "*"):
            out.append(params.get("transfer-syntax") or uid.ExplicitVRLittleEndian)
    if not out:
        raise NotAcceptable(f"instances are given as {DICOM}, not as {accept}")
    return out


def pixel_wants(accept: str) -> list[Wanted]:
    """Representations acceptable for pixel data (frames, bulk data), best first. `*/*` and
    missing Accept mean uncompressed pixels. Raises NotAcceptable for no usable media type."""
    if not (accept or "").strip():
        return [Wanted(OCTET, uid.ExplicitVRLittleEndian)]
    out = []
    for media, params in _ranges(accept):
        ts = params.get("transfer-syntax", "")
        if media in (OCTET, "application/*", "*/*", "*"):
            if media != OCTET and ts == AS_STORED:
                out.append(Wanted("*", AS_STORED))  # whatever the server has, image/* included
            else:
                out.append(Wanted(OCTET, uid.ExplicitVRLittleEndian))
        elif media in IMAGE_TYPES:
            if ts and ts != AS_STORED and ts not in IMAGE_TYPES[media]:
                continue
            out.append(Wanted(media, ts or IMAGE_TYPES[media][0]))
        elif media == "image/*":
            out.append(Wanted("*", AS_STORED))
    if not out:
        raise NotAcceptable(f"pixel data are given as {OCTET} or image/*, not as {accept}")
    return out
