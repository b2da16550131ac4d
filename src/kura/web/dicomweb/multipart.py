"""multipart/related (RFC 2387) as DICOMweb uses it (PS3.18 §8.6.1.2): split and build."""

from __future__ import annotations

import secrets
from typing import Iterable

from kura.errors import Invalid

__all__ = ["parse_content_type", "split", "build"]


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """'multipart/related; type="application/dicom"; boundary=x' → (media type, params)."""
    parts = [p.strip() for p in (value or "").split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def split(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (headers with lower-case names, content)."""
    if not boundary or len(boundary) > 200:
        raise Invalid("multipart/related needs a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        raise Invalid("multipart body without parts")
    out = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the close delimiter
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep:
            raise Invalid("multipart part without headers")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = {}
        for line in head.split(b"\r\n"):
            if b":" in line:
                k, _, v = line.partition(b":")
                headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
        out.append((headers, content))
    return out


def build(parts: Iterable[bytes | tuple[bytes, str]], media_type: str, extra: dict[str, str] | None = None
          ) -> tuple[Iterable[bytes], str]:
    """A streamed multipart/related body and its Content-Type. A part given as (content,
    content type) has its own Content-Type (e.g. with its transfer-syntax parameter)."""
    boundary = secrets.token_hex(16)

    def chunks():
        for part in parts:
            part_type = media_type
            if isinstance(part, tuple):
                part, part_type = part
            head = f"--{boundary}\r\nContent-Type: {part_type}\r\n"
            for k, v in (extra or {}).items():
                head += f"{k}: {v}\r\n"
            yield head.encode() + b"\r\n"
            yield part
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return chunks(), f'multipart/related; type="{media_type}"; boundary={boundary}'
