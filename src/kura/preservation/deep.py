"""`audit verify --deep`: re-hash every stored version and object against the recorded hashes.

Each store has a `deep_check(ctx) -> Iterable[str]` (problem lines); STORES lists them.
"""

from __future__ import annotations

from kura.identity import training
from kura.imaging import integrity as imaging_integrity
from kura.operation import Context
from kura.records import integrity as records_integrity

__all__ = ["deep_check", "STORES"]

STORES = (records_integrity, imaging_integrity, training)


def deep_check(ctx: Context) -> list[str]:
    problems: list[str] = []
    for store in STORES:
        problems.extend(store.deep_check(ctx))
    return problems
