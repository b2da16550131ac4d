"""Bounds on what a request may carry, checked before it reaches SQL or a parser. Pure.

SQLite integers are 64-bit and PostgreSQL's INTEGER is 32-bit: a 30-digit `_offset` or
InstanceNumber used to overflow inside the driver (a 500). Every paging number and every
integer matching key is held to MAX_INT, so an absurd value is a clear Invalid (400) instead.

FHIR strings SHALL NOT contain characters below U+0020 but tab, CR and LF (FHIR R4
datatypes.html#string); PostgreSQL cannot store U+0000 in text at all.
"""

from __future__ import annotations

import re

from kura.errors import Invalid

__all__ = ["MAX_INT", "MIN_INT", "check_index", "control_characters", "parse_index", "within_int"]

MAX_INT = 2**31 - 1  # PostgreSQL INTEGER, DICOM IS (PS3.5 6.2)
MIN_INT = -(2**31)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_characters(text: str) -> bool:
    """True when `text` holds a character FHIR forbids in a string (below U+0020 but tab, CR, LF)."""
    return _CONTROL.search(text) is not None


def within_int(value: int) -> bool:
    return MIN_INT <= value <= MAX_INT


def check_index(value: int, name: str, *, maximum: int = MAX_INT) -> int:
    """`value` if 0 <= value <= maximum. Raises Invalid naming the parameter."""
    if not 0 <= value <= maximum:
        raise Invalid(f"{name} must be an integer from 0 to {maximum}")
    return value


def parse_index(text: str | None, name: str, *, default: int, maximum: int = MAX_INT) -> int:
    """A paging number (`_offset`, `_count`, `offset`, `limit`) from a query string: decimal
    digits only, 0..maximum; `default` when absent. Raises Invalid."""
    if text is None:
        return default
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise Invalid(f"{name} must be an integer from 0 to {maximum}")
    return check_index(int(text), name, maximum=maximum)
