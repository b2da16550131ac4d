"""`kura audit verify|export|checkpoint`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer

from kura.cli import State, app, fail
from kura.cli.common import operator

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident ledger: verify, export, checkpoint.")
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every stored version and object.")] = False) -> None:
    """Exit 0 when the ledger is intact; exit 1 naming the first broken entry."""
    from rich.progress import Progress

    from kura.audit import service as audit

    kura = State.kura()
    with Progress(transient=True) as bar, kura.unit_of_work(operator(), "HOPERAT") as ctx:
        task = bar.add_task("verifying", total=None)
        result = audit.verify(ctx, progress=lambda n: bar.update(task, completed=n))
        problems = []
        if deep and result.ok:
            from kura.preservation.deep import deep_check  # registered by each store
            problems = deep_check(ctx)
    if not result.ok:
        fail(result.line())
    if problems:
        fail(f"{len(problems)} stored object(s) differ from the ledger; first: {problems[0]}")
    typer.echo(result.line() + (" (deep: every stored version and object matches)" if deep else ""))


@audit_app.command()
def checkpoint() -> None:
    """Sign and print the latest checkpoint (tree size, root hash, signature)."""
    from kura.audit import service as audit

    kura = State.kura()
    with kura.unit_of_work(operator(), "HOPERAT") as ctx:
        cp = audit.checkpoint(ctx)
        line = (f"kura-checkpoint v1 size={cp.tree_size} root={cp.root_hash} "
                f"at={cp.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} key={cp.key_id} sig={cp.signature}")
    typer.echo(line)


def _time(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"not an ISO 8601 time: {value!r}", code=2)
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
    with kura.unit_of_work(operator(), "HOPERAT") as ctx:
        for chunk in export_entries(ctx, fmt=fmt, since=_time(since), until=_time(until)):
            typer.echo(chunk, nl=False)
