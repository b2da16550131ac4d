"""FHIR JSON on the wire, written one way: compact UTF-8 bytes, and the OperationOutcome.

Shared by the searchset/history builder (searchset.py), the batch/transaction processor
(transaction.py) and the web adapter's error replies, so every FHIR body kura writes is
encoded alike and every failure reads alike. Pure.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

__all__ = ["dumps", "operation_outcome"]


def dumps(obj: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (non-ASCII kept as is: Japanese names stay readable)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def operation_outcome(message: str, *, code: str = "processing", severity: str = "error",
                      more: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """An OperationOutcome with one issue (`severity`, `code`, `message` as diagnostics) and
    any further issues given in `more` (FHIR R4 §3.1.0.5: errors are OperationOutcomes)."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": message}, *more]}
