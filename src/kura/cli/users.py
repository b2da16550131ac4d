"""`kura init` and `kura user …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app
from kura.access.console import console_operator
from kura.cli.common import read_password

user_app = typer.Typer(no_args_is_help=True, help="Accounts: add, list, disable, reset password.")
app.add_typer(user_app, name="user")

PasswordFile = Annotated[Optional[Path], typer.Option("--password-file", help="File whose first line is the password.")]


@app.command()
def init(admin: Annotated[str, typer.Option("--admin", help="User name of the first system administrator.")],
         password_file: PasswordFile = None) -> None:
    """Create the home (config, database, keys) and the first system administrator."""
    from kura.app import build, create_home
    from kura.classes import service as classes
    from kura.identity import service as identity
    from kura.identity.service import normalise_username
    from kura.ledger.tags import LedgerTag

    name = normalise_username(admin)
    password = read_password(password_file)
    create_home(State.home)
    kura = build(State.settings())
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        ctx.record(LedgerTag.SystemHomeInitialised, detail={"home": str(State.home.resolve())})
        classes.seed(ctx)
        _user, uri = identity.register(ctx, username=name, display_name=name, roles=["admin"],
                                   password=password, bootstrap=True)
    typer.echo(uri)


@user_app.command("add")
def add(name: str,
        role: Annotated[str, typer.Option("--role", help="Comma-separated: admin, operations, auditor, "
                                          "physician, technologist, clerk, nurse.")],
        clearance: Annotated[str, typer.Option("--clearance", help="N, R or V.")] = "N",
        display_name: Annotated[Optional[str], typer.Option("--display-name")] = None,
        password_file: PasswordFile = None) -> None:
    """Add a user; prints the user's otpauth:// URI. The password must be changed at first login."""
    from kura.identity import service as identity

    kura = State.kura()
    password = read_password(password_file)
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        _user, uri = identity.register(ctx, username=name, display_name=display_name or name,
                                   roles=role.split(","), clearance=clearance, password=password)
    typer.echo(uri)


@user_app.command("list")
def list_() -> None:
    """Every account, disabled ones included."""
    from kura.identity import service as identity

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        users = identity.list_users(ctx)
        rows = [(u.username, u.roles, u.clearance, _("disabled") if u.disabled else
                 _("locked") if u.locked_until and u.locked_until > ctx.now() else _("active"),
                 _("must change password") if u.must_change_password else "",
                 _("ends %(date)s", date=u.end_date) if u.end_date else "") for u in users]
    for row in rows:
        typer.echo("\t".join(row).rstrip())


@user_app.command("disable")
def disable(name: str) -> None:
    """Disable an account at once; its sessions end. Accounts are never deleted."""
    from kura.identity import service as identity

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        identity.disable(ctx, username=name)
    typer.echo(_("disabled %(name)s", name=name))


@user_app.command("unlock")
def unlock(name: str) -> None:
    """Lift a lockout after failed logins."""
    from kura.identity import service as identity

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        identity.unlock(ctx, username=name)
    typer.echo(_("unlocked %(name)s", name=name))


@user_app.command("reset-password")
def reset_password(name: str, password_file: PasswordFile = None) -> None:
    """Set a new initial password and second factor; prints the new otpauth:// URI."""
    from kura.identity import service as identity

    kura = State.kura()
    password = read_password(password_file)
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        _user, uri = identity.reset_password(ctx, username=name, password=password)
    typer.echo(uri)


@user_app.command("end-date")
def end_date(name: str,
             date: Annotated[str, typer.Argument(help="YYYY-MM-DD (hospital time), or 'none' to clear it.")],
             reason: Annotated[str, typer.Option("--reason", help="Why (退職, 異動, …); kept in the ledger.")] = "") -> None:
    """Schedule the day an account ends (leaving, transfer): it is disabled on that day."""
    from kura.identity import lifecycle

    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        user = lifecycle.set_end_date(ctx, username=name, end_date=None if date == "none" else date, reason=reason)
        line = ((_("%(name)s: ends %(date)s (disabled now)") if user.disabled else _("%(name)s: ends %(date)s"))
                % {"name": user.username, "date": user.end_date}
                if user.end_date else _("%(name)s: no end date", name=user.username))
    typer.echo(line)
