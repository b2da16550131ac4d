"""`kura retention worklist`, `kura disposal verify-certificate`, `kura emergency cut|lift|list`:
the console side of retention, disposal and the emergency switch (R74, R79, R80).

Disposal itself is requested and approved by two named people on the screens or the API;
the console acts as one local operator, so it offers no approval (the two-person rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kura.cli import State, _, app, fail
from kura.access.console import console_operator

retention_app = typer.Typer(no_args_is_help=True, help="Retention: what has passed its period.")
disposal_app = typer.Typer(no_args_is_help=True, help="Disposal certificates.")
emergency_app = typer.Typer(no_args_is_help=True, help="The emergency switch: cut off an account, a peer, or all.")
app.add_typer(retention_app, name="retention")
app.add_typer(disposal_app, name="disposal")
app.add_typer(emergency_app, name="emergency")


@retention_app.command("worklist")
def worklist(all_: Annotated[bool, typer.Option("--all", help="Every patient, not only those ending within a year.")]
             = False) -> None:
    """Patients whose retention has ended or ends within a year: id, end date, state, classes."""
    from kura.disposal.worklist import worklist as rows_of

    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        rows = rows_of(ctx, everyone=all_)
        lines = [f"{r.retention.patient_id}\t{r.retention.ends}\t{r.state}\t"
                 + ",".join(p.code for p in r.retention.classes) for r in rows]
    for line in lines:
        typer.echo(line)


@disposal_app.command("verify-certificate")
def verify_certificate(pdf: Path, signature: Path) -> None:
    """Exit 0 when PDF is the certificate this home signed (SIGNATURE: the .sig line), else 1."""
    from kura.disposal import certificate
    from kura.errors import Invalid

    try:
        data, line = pdf.read_bytes(), signature.read_text(encoding="utf-8")
    except OSError as exc:
        fail("cannot read %(path)s: %(reason)s", code=2, path=exc.filename, reason=exc.strerror)
    try:
        sig = certificate.Signature.parse(line)
    except Invalid as exc:
        fail(str(exc), code=2)
    signer = State.kura().signer
    problems = certificate.verify(signer.public_key, signer.key_id, data, sig)
    if problems:
        fail("%(path)s: %(problem)s", path=pdf, problem="; ".join(_(p) for p in problems))
    typer.echo(_("%(path)s: signed by this home (key %(key)s), SHA-256 %(sha256)s", path=pdf, key=sig.key_id,
                 sha256=sig.sha256))


@emergency_app.command("cut")
def cut(scope: Annotated[str, typer.Argument(help="account, peer or all")],
        target: Annotated[str, typer.Argument(help="user name or AE title (none for all)")] = "",
        reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "") -> None:
    """Cut off an account, a DICOM peer, or all external connections, at once."""
    from kura.identity import emergency

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        s = emergency.switch_on(ctx, scope=scope, target=target, reason=reason)
        line = f"{s.id}\t{s.scope}\t{s.target}"
    typer.echo(line)


@emergency_app.command("lift")
def lift(switch_id: str, reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "") -> None:
    """Restore what an emergency switch cut off."""
    from kura.identity import emergency

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        emergency.switch_off(ctx, switch_id, reason=reason)


@emergency_app.command("list")
def list_() -> None:
    """Every emergency switch: id, scope, target, on, lifted."""
    from kura.identity import emergency

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        rows = [f"{s.id}\t{s.scope}\t{s.target}\t{s.on_at:%Y-%m-%d %H:%M}\t"
                f"{s.off_at.strftime('%Y-%m-%d %H:%M') if s.off_at else _('ON')}" for s in emergency.list_switches(ctx)]
    for row in rows:
        typer.echo(row)
