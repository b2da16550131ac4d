"""`kura equipment list`, `kura software list|submit`: the equipment inventory (§7) and the
software review (§9) from the console. Approving a build is done on the screen, by the
signed-in operations manager, so the approver is a named person."""

from __future__ import annotations

from typing import Annotated

import typer

from kura.cli import State, _, app
from kura.access.console import console_operator

equipment_app = typer.Typer(no_args_is_help=True, help="The equipment inventory (機器台帳) and its inspections.")
software_app = typer.Typer(no_args_is_help=True, help="Software review (ソフトウェア審査) of kura's builds.")
app.add_typer(equipment_app, name="equipment")
app.add_typer(software_app, name="software")


@equipment_app.command("list")
def equipment_list(overdue: Annotated[bool, typer.Option(
        "--overdue", help="Only the items whose inspection is overdue; exit 1 when there is one.")] = False) -> None:
    """Every item: asset number, kind, state, location, person responsible, next inspection."""
    from kura.disposal.retention import today
    from kura.registers import inventory

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        day = today(ctx)
        rows = inventory.overdue(ctx, day) if overdue else inventory.list_items(ctx)
        lines = [f"{e.asset_no}\t{e.kind}\t{e.state}\t{e.name}\t{e.location}\t{e.responsible}\t"
                 f"{e.next_due or '-'}{' ' + _('OVERDUE') if e.next_due and e.next_due < day.isoformat() else ''}"
                 for e in rows]
    for line in lines:
        typer.echo(line)
    if overdue and lines:
        raise typer.Exit(1)


@software_app.command("list")
def software_list() -> None:
    """Every review: submitted, version, files digest, state, decided by."""
    from kura.registers import software

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        lines = [f"{r.id}\t{r.submitted_at:%Y-%m-%dT%H:%M:%SZ}\t{r.version}\t{r.files_digest[:16]}\t{r.state}\t"
                 f"{r.decided_by_name or '-'}" for r in software.list_reviews(ctx)]
    for line in lines:
        typer.echo(line)


@software_app.command("submit")
def software_submit() -> None:
    """Run the self-check on the installed kura and submit it for review, with its SBOM."""
    from kura.registers import software

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        r = software.submit(ctx)
        line = _("submitted kura %(version)s (files %(digest)s…) for review: %(id)s", version=r.version,
                 digest=r.files_digest[:16], id=r.id)
    typer.echo(line)
