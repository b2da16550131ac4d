"""`kura db check`: migrations and models agree (autogenerate would be empty)."""

from __future__ import annotations

import typer

from kura.cli import State, _, app, fail

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


@db_app.command()
def check() -> None:
    """Exit 1 when the models have changes no migration holds."""
    from kura.migrations import pending_diff

    diff = pending_diff(State.kura().engine)
    if diff:
        fail("models differ from migrations: %(first)r (+%(more)s more)", first=diff[0], more=len(diff) - 1)
    typer.echo(_("schema matches migrations"))
