"""`kura key export`: the recovery kit (master key + signing public key) for offline keeping."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail
from kura.access.console import console_operator

key_app = typer.Typer(no_args_is_help=True, help="The home's keys: the recovery kit.")
app.add_typer(key_app, name="key")


@key_app.command("export")
def export(out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="FILE", help="Write the kit to FILE (created with mode 0600; refuses an "
        "existing file). Default: stdout, e.g. piped to a printer.")] = None) -> None:
    """Print the recovery kit: the master key and the signing public key, with a QR code.

    Keep it offline (printed, in a safe); anyone holding it and a backup can read the backup.
    Restoring on another machine needs it: `kura backup restore DEST --into DIR --key-file F`.
    """
    from kura.preservation.kit import export_kit

    if out is None:
        # A shell redirection creates the file with the umask's mode: refuse one others can read.
        try:
            mode = os.fstat(sys.stdout.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            mode = 0
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            fail("stdout is a file others can read: use --out FILE (written with mode 0600)", code=2)
    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        kit = export_kit(ctx)
        text = kit.text(home=str(State.home.resolve()), at=ctx.now().strftime("%Y-%m-%d %H:%M UTC"))
    if out is None:
        typer.echo(text)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail("%(path)s exists: the kit is never written over a file", code=2, path=out)
    except OSError as exc:
        fail("cannot create %(path)s: %(reason)s", code=2, path=out, reason=exc.strerror)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    typer.echo(_("recovery kit written to %(path)s (mode 0600); print it, keep it offline, delete the file", path=out),
               err=True)
