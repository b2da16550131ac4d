"""`kura db check`: migrations and models agree (autogenerate would be empty)."""

from __future__ import annotations

import typer

from kura.cli import State, app, fail

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


@db_app.command()
def check() -> None:
    """Exit 1 when the models have changes no migration holds."""
    from kura.migrations import pending_diff

    diff = pending_diff(State.kura().engine)
    if diff:
        fail(f"models differ from migrations: {diff[0]!r} (+{len(diff) - 1} more)")
    typer.echo("schema matches migrations")
