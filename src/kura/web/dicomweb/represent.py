"""WADO-RS representations: a stored instance, or its pixel data, in what the client accepts.

Converted copies come from kura.imaging.transcode and are never stored. Every accepted source
transfer syntax can be decoded (pydicom, pylibjpeg), so whether a conversion is possible is
known from the transfer syntaxes alone; only a damaged instance fails while converting.
"""

from __future__ import annotations

from pydicom import uid

from kura.imaging import transcode
from kura.imaging.transcode import AS_STORED, CannotConvert
from kura.web.dicomweb.accept import IMAGE_TYPES, OCTET, NotAcceptable, Wanted, media_type_of

__all__ = ["instance_target", "instance_in", "pixel_target", "pixel_frames"]


def instance_target(stored: str, syntaxes: list[str]) -> str:
    """The transfer syntax to give an instance stored in `stored`. Raises NotAcceptable."""
    for ts in syntaxes:
        if ts in (AS_STORED, stored):
            return stored
        if transcode.can_make(ts):
            return ts
    raise NotAcceptable(f"an instance stored in {uid.UID(stored).name} cannot be given in "
                        f"{', '.join(syntaxes)}")


def instance_in(data: bytes, target: str) -> bytes:
    """The stored instance as Part 10 bytes in `target`. Raises NotAcceptable."""
    try:
        return transcode.transcode(data, target)
    except CannotConvert as exc:
        raise NotAcceptable(str(exc)) from None


def pixel_target(stored: str, wants: list[Wanted]) -> tuple[str, str]:
    """(part media type, transfer syntax) for the pixel data of an instance stored in `stored`.
    Raises NotAcceptable."""
    compressed = uid.UID(stored).is_compressed
    for want in wants:
        if want.media_type == "*":
            target = stored if compressed else uid.ExplicitVRLittleEndian
            return media_type_of(target), target
        if want.media_type == OCTET:
            return OCTET, uid.ExplicitVRLittleEndian
        if want.transfer_syntax == AS_STORED:
            if stored in IMAGE_TYPES[want.media_type]:
                return want.media_type, stored
            continue
        if want.transfer_syntax == stored or transcode.can_make(want.transfer_syntax):
            return want.media_type, want.transfer_syntax
    raise NotAcceptable(f"pixel data stored in {uid.UID(stored).name} cannot be given as asked")


def pixel_frames(data: bytes, target: str) -> list[bytes]:
    """The frames of the stored instance's pixel data in `target`. Raises NotAcceptable."""
    try:
        return transcode.frames(transcode.transcode(data, target))
    except CannotConvert as exc:
        raise NotAcceptable(str(exc)) from None
