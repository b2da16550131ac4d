"""`kura scrub`, `kura replicate`, `kura selfcheck`: the operations manager's checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail
from kura.access.console import console_operator
from kura.cli.progress import bar


@app.command()
def scrub(repair: Annotated[bool, typer.Option("--repair", help="Replace damaged or missing objects from a "
                                                                  "replica or backup holding a good copy.")] = False,
          source: Annotated[Optional[list[Path]], typer.Option(
              "--from", metavar="DEST", help="A replica or backup to repair from (repeatable; default: every "
                                             "destination this home has written to).")] = None) -> None:
    """Re-read every stored object and version against its recorded hash; exit 1 naming each mismatch."""
    from kura.preservation import scrub as s
    from kura.preservation.vault import known_destinations

    kura = State.kura()
    with bar() as progress, kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        sources = list(source or []) or known_destinations(ctx.session, kura.settings)
        report = s.scrub(ctx, repair=repair, sources=sources, progress=progress)
    for name in report.repaired:
        typer.echo(_("repaired blob %(name)s", name=name), err=True)
    if not report.ok:
        for line in report.problems:
            typer.echo("kura: " + _("mismatch: %(problem)s", problem=line), err=True)
        fail(report.line(_))
    typer.echo(report.line(_))


@app.command()
def replicate(dest: Annotated[Path, typer.Argument(help="The second medium (another disk, a NAS mount).")]) -> None:
    """Bring the replica at DEST in step with the home (only what changed is copied)."""
    from kura.preservation.replicate import replicate as run

    kura = State.kura()
    with bar() as progress:
        result = run(kura, console_operator(), dest, progress=progress)
    typer.echo(result.line(_, replica=True))


@app.command()
def selfcheck(sbom: Annotated[Optional[Path], typer.Option(
        "--sbom", metavar="FILE", help="Also write the CycloneDX SBOM (JSON) to FILE.")] = None) -> None:
    """Verify the installed software against its recorded hashes, the home's keys and permissions,
    the schema and the ledger head; exit 1 on any anomaly."""
    from kura.preservation.selfcheck import selfcheck as run

    from kura.registers import software

    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        report = run(ctx)
        approval = software.approved_for(ctx, report.version, report.files_digest)
    if sbom is not None:
        try:
            fd = os.open(sbom, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(report.sbom)
        except OSError as exc:
            fail("cannot write %(path)s: %(reason)s", code=2, path=sbom, reason=exc.strerror)
    for note in report.notes:
        typer.echo(_("note: %(note)s", note=note), err=True)
    if approval is None:  # §9: used before the operations manager approved it
        typer.echo(_("warning: kura %(version)s (files %(digest)s…) has no approved software review: submit it "
                     "(`kura software submit`) and have the operations manager approve it",
                     version=report.version, digest=report.files_digest[:16]), err=True)
    if not report.ok:
        for line in report.anomalies:
            typer.echo("kura: " + _("anomaly: %(problem)s", problem=line), err=True)
        fail(report.line(_))
    typer.echo(report.line(_))
