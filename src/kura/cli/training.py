"""`kura training add|due`: training records (regulation §14, R82) from the console."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, app, fail
from kura.access.console import console_operator

training_app = typer.Typer(no_args_is_help=True, help="Training records: add one, list who is due.")
app.add_typer(training_app, name="training")


@training_app.command("add")
def add(name: str,
        course: Annotated[str, typer.Option("--course", help="security, privacy, operation, drill, admin or other.")],
        date: Annotated[str, typer.Option("--date", help="The day it was taken, YYYY-MM-DD.")],
        expires: Annotated[Optional[str], typer.Option("--expires", help="Valid until (security: a year by default).")]
        = None,
        title: Annotated[str, typer.Option("--title")] = "",
        evidence: Annotated[Optional[Path], typer.Option("--evidence", help="A certificate or attendance list, stored "
                                                         "encrypted.")] = None) -> None:
    """Record a training a user took, with its evidence file."""
    from kura.identity import training

    data = None
    if evidence is not None:
        try:
            data = evidence.read_bytes()
        except OSError as exc:
            fail("cannot read %(path)s: %(reason)s", code=2, path=evidence, reason=exc.strerror)
    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        row = training.record(ctx, username=name, course=course, completed_on=date, expires_on=expires, title=title,
                              evidence=data, evidence_name=evidence.name if evidence else "",
                              evidence_type=(mimetypes.guess_type(evidence.name)[0] or "") if evidence else "")
        line = f"{name}\t{row.course}\t{row.completed_on}\t{row.expires_on or '-'}\t{row.evidence_sha256 or '-'}"
    typer.echo(line)


@training_app.command("due")
def due(within: Annotated[int, typer.Option("--within", help="Also those whose training expires within DAYS.")]
        = 30) -> None:
    """Who is due for the annual security training: user, department, valid until, state. Exit 1 when anyone is."""
    from kura.identity import training

    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        rows = training.due_report(ctx, within_days=within)
        lines = [f"{s.username}\t{s.department or '-'}\t{s.expires_on or '-'}\t{state}" for s, state in rows]
    for line in lines:
        typer.echo(line)
    if any(state in ("expired", "never") for _, state in rows):
        raise typer.Exit(1)
