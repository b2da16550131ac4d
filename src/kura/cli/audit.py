"""`kura audit verify|export|checkpoint`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail
from kura.access.console import console_operator

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident ledger: verify, export, checkpoint.")
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every stored version and object.")] = False,
           checkpoint: Annotated[Optional[Path], typer.Option(
               "--checkpoint", metavar="FILE",
               help="A line printed earlier by `kura audit checkpoint` and kept off this machine "
                    "(the last such line in FILE is used). The ledger must still hold that tree: "
                    "this also catches entries cut off after the last checkpoint in the database, "
                    "and checkpoints deleted from it.")] = None) -> None:
    """Exit 0 when the ledger is intact; exit 1 naming the first broken entry.

    Checks every entry's hash, the hash chain, the head, and every signed checkpoint's root and signature. Keep `kura audit checkpoint` output somewhere else (paper, another machine, mail) and pass it with --checkpoint, so that cutting off the newest entries together with their checkpoints is caught too.
    """
    from rich.progress import Progress

    from kura.audit import service as audit
    from kura.ledger.service import Anchor

    anchor = None
    if checkpoint is not None:
        try:
            lines = [ln for ln in checkpoint.read_text(encoding="utf-8").splitlines() if ln.strip()]
            anchor = Anchor.parse(lines[-1] if lines else "")
        except OSError as exc:
            fail("cannot read %(path)s: %(reason)s", code=2, path=checkpoint, reason=exc.strerror)
        except ValueError as exc:
            fail("%(path)s: %(problem)s", code=2, path=checkpoint, problem=exc)
    kura = State.kura()
    result, problems = None, []
    try:
        with Progress(transient=True) as bar, kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            task = bar.add_task(_("verifying"), total=None)
            result = audit.verify(ctx, progress=lambda n: bar.update(task, completed=n), anchor=anchor)
            if deep and result.ok:
                from kura.preservation.deep import deep_check  # registered by each store
                problems = deep_check(ctx)
    except Exception:
        if result is None or result.ok:
            raise
        # the broken ledger would not take the entry recording this verdict; the verdict stands
    if not result.ok:
        fail(result.line())
    if problems:
        fail("%(n)s stored object(s) differ from the ledger; first: %(first)s", n=len(problems), first=problems[0])
    typer.echo(result.line() + (" " + _("(deep: every stored version and object matches)") if deep else ""))


@audit_app.command()
def checkpoint() -> None:
    """Sign and print the latest checkpoint (tree size, root hash, signature).

    Keep the line off this machine; `kura audit verify --checkpoint FILE` checks against it.
    """
    from kura.audit import service as audit
    from kura.ledger.service import Anchor

    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        line = Anchor.of(audit.checkpoint(ctx)).line()
    typer.echo(line)


def _time(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        fail("not an ISO 8601 time: %(value)r", code=2, value=value)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


@audit_app.command()
def export(fmt: Annotated[str, typer.Option("--format", help="fhir, csv or syslog")],
           since: Annotated[Optional[str], typer.Option("--since", help="ISO 8601 time (UTC if no zone).")] = None,
           until: Annotated[Optional[str], typer.Option("--until")] = None) -> None:
    """Audit entries to stdout: a FHIR AuditEvent Bundle, CSV, or RFC 5424 syslog (DICOM PS3.15 A.5)."""
    from kura.audit.export import export_entries

    if fmt not in ("fhir", "csv", "syslog"):
        fail("--format must be fhir, csv or syslog", code=2)
    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        for chunk in export_entries(ctx, fmt=fmt, since=_time(since), until=_time(until)):
            typer.echo(chunk, nl=False)
