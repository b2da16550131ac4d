"""Canonical JSON and SHA-256: the exact bytes a version is stored, hashed and served as.

Canonical form: keys sorted, no insignificant whitespace, UTF-8 without \\u escapes of
non-ASCII text (kanji and kana stay legible in the stored bytes). Pure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical", "sha256_hex", "loads"]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def loads(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))
