"""A rich progress bar on a terminal (stderr), nothing otherwise: `with bar() as progress:`
hands the core a `progress(stage, done, total)` callback; the stage is shown in the CLI's language."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

from kura.cli import _

__all__ = ["bar"]


@contextlib.contextmanager
def bar() -> Iterator[Callable[[str, int, int | None], None]]:
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TransferSpeedColumn)

    tasks: dict[str, Any] = {}  # rich TaskIDs
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as p:
        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = p.add_task(_(stage), total=total)
            p.update(tasks[stage], completed=done, total=total)
        yield update
