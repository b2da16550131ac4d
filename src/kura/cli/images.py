"""`kura images reconcile`: link every study filed under a DICOM Patient ID that is now a
registered Patient's identifier, and bring the FHIR ImagingStudy mirror in step (issue 10)."""

from __future__ import annotations

import typer

from kura.cli import State, _, app
from kura.access.console import console_operator
from kura.cli.progress import bar

images_app = typer.Typer(no_args_is_help=True, help="The image archive.")
app.add_typer(images_app, name="images")


@images_app.command("reconcile")
def reconcile() -> None:
    """Link images that arrived before their patient was registered; idempotent, ledgered."""
    from kura.imaging import reconcile as r

    with bar() as progress, State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        totals = r.reconcile_all(ctx, progress=progress)
    typer.echo(_("linked %(patients)s patient IDs (%(studies)s studies); %(checked)s linked studies in step; "
                 "%(unmatched)s patient IDs unmatched; %(flagged)s studies flagged",
                 patients=totals["patients_linked"], studies=totals["studies_linked"],
                 checked=totals["studies_checked"], unmatched=totals["unmatched_patients"],
                 flagged=totals["flagged_studies"]))
