"""`audit verify --deep`: re-hash every stored version and object against the recorded hashes.

Each store has a module with `deep_check(ctx) -> Iterable[str]` (problem lines); they are
listed in STORES. A store not yet installed is skipped.
"""

from __future__ import annotations

import importlib

from kura.operation import Context

__all__ = ["deep_check", "STORES"]

STORES = ("kura.records.integrity", "kura.imaging.integrity")


def deep_check(ctx: Context) -> list[str]:
    problems: list[str] = []
    for name in STORES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(exc.name or "-"):
                raise
            continue
        problems.extend(module.deep_check(ctx))
    return problems
