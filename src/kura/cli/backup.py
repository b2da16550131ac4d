"""`kura backup create|verify|list|prune|restore|drill`: verified, encrypted, incremental backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail
from kura.access.console import console_operator
from kura.cli.progress import bar

backup_app = typer.Typer(no_args_is_help=True, help="Backups: create, verify, list, prune, restore.")
app.add_typer(backup_app, name="backup")

Dest = Annotated[Path, typer.Argument(help="The backup destination (a folder on another disk, a NAS mount).")]


@backup_app.command()
def create(dest: Dest) -> None:
    """Write a new generation to DEST while the server runs (only what DEST lacks is copied)."""
    from kura.preservation.backup import create as create_backup

    kura = State.kura()
    with bar() as progress:
        result = create_backup(kura, console_operator(), dest, progress=progress)
    typer.echo(result.line(_))


@backup_app.command()
def verify(dest: Dest, generation: Annotated[Optional[str], typer.Option(
        "--generation", help="Only this generation (default: all).")] = None) -> None:
    """Re-hash every file against the signed manifests; exit 1 naming each damaged or missing file."""
    from kura.preservation.generations import verify as verify_backup

    kura = State.kura()
    with bar() as progress, kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        report = verify_backup(ctx, dest, public_key=kura.signer.public_key, master_key=kura.master_key,
                               generation=generation, progress=progress)
    if not report.ok:
        for line in report.problems:
            typer.echo("kura: " + _("damaged: %(problem)s", problem=line), err=True)
        raise typer.Exit(1)
    typer.echo(report.line(_))


@backup_app.command("list")
def list_(dest: Dest) -> None:
    """Generations, newest first: date, size, files, ledger entries, last verification."""
    from kura.preservation.generations import list_generations

    rows = list_generations(dest)
    typer.echo("\t".join(_(h) for h in ("generation", "created", "size", "files", "ledger entries", "verified")))
    for g in rows:
        verified = (_("never") if g.verified_at is None
                    else f"{g.verified_at[:19]} {_('ok') if g.verified_ok else _('DAMAGED')}")
        typer.echo(f"{g.name}\t{g.created_at[:19]}\t{g.bytes / 1048576:.1f} MB\t{g.files}\t{g.ledger_size}\t{verified}")


@backup_app.command()
def prune(dest: Dest) -> None:
    """Delete generations the policy (backup_keep_daily/weekly/monthly) does not keep, and
    blobs no kept generation names."""
    from kura.preservation.generations import prune as prune_backup

    kura = State.kura()
    s = kura.settings
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        gone, blobs = prune_backup(ctx, dest, daily=s.backup_keep_daily, weekly=s.backup_keep_weekly,
                                   monthly=s.backup_keep_monthly)
    typer.echo(_("pruned %(n)s generation(s) and %(blobs)s blob(s)", n=len(gone), blobs=blobs)
               + (f": {', '.join(gone)}" if gone else ""))


@backup_app.command()
def drill(dest: Dest) -> None:
    """Restore drill (R59): restore DEST's newest generation into scratch space inside the home,
    verify it (ledger, every stored object, this home's history), delete it; exit 1 on a problem."""
    from kura.preservation.drill import drill as run_drill

    kura = State.kura()
    with bar() as progress:
        result = run_drill(kura, console_operator(), dest, progress=progress)
    if not result.ok:
        fail(result.line(_))
    typer.echo(result.line(_))


@backup_app.command()
def restore(dest: Dest,
            into: Annotated[Path, typer.Option("--into", help="An empty folder for the new home.")],
            key_file: Annotated[Optional[Path], typer.Option(
                "--key-file", help="The recovery kit (`kura key export`); default: this home's keys.")] = None,
            generation: Annotated[Optional[str], typer.Option("--generation", help="Default: the newest.")] = None,
            database_url: Annotated[Optional[str], typer.Option(
                "--database-url", help="An empty database for the new home (default: SQLite inside it).")] = None,
            ) -> None:
    """Build a new home in an empty folder from a generation and the current key vault."""
    from kura.app import build
    from kura.config import load_settings
    from kura.preservation import restore as r

    if key_file is not None:
        from kura.preservation.kit import parse_kit
        try:
            kit = parse_kit(key_file.read_text(encoding="utf-8"))
        except OSError as exc:
            fail("cannot read %(path)s: %(reason)s", code=2, path=key_file, reason=exc.strerror)
        master, public = kit.master_key, kit.public_key
    else:
        if not (State.home / "config.toml").exists():
            fail("%(home)s is not a kura home: give the recovery kit with --key-file", code=2, home=State.home)
        kura = State.kura()
        master, public = kura.master_key, kura.signer.public_key
    with bar() as progress:
        restored = r.restore_files(dest, into, master_key=master, public_key=public, generation=generation,
                                   database_url=database_url or "", progress=progress)
    new = build(load_settings(restored.home))
    try:
        n = r.finish(new, console_operator(), restored, source=dest)
    finally:
        new.dispose()
    typer.echo(_("restored generation %(generation)s into %(home)s: %(rows)s rows, %(blobs)s blobs, %(records)s records "
                 "indexed, ledger of %(entries)s entries; check it with `kura --home %(home)s audit verify --deep` "
                 "and `scrub`", generation=restored.generation, home=restored.home, rows=sum(restored.tables.values()),
                 blobs=restored.blobs, records=n, entries=restored.ledger_size))
