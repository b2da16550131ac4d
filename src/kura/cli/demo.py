"""`kura demo`: a demo home with synthetic Japanese data and one user per role, then serve."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kura.cli import State, app, fail

DEMO_PASSWORD = "kura-demo-2026"  # noqa: S105 — the demo homes' published password (README)

# username, display name, roles, clearance
DEMO_USERS = [
    ("admin", "管理 太郎", ["admin"], "N"),
    ("ops", "運用 花子", ["operations"], "N"),
    ("audit", "監査 一郎", ["auditor"], "N"),
    ("doctor", "医師 健一", ["physician"], "R"),
    ("nurse", "看護 美咲", ["nurse"], "N"),
    ("tech", "技師 誠", ["technologist"], "N"),
    ("clerk", "医事 由美", ["clerk"], "N"),
]

SEEDERS = ("kura.records.demo", "kura.imaging.demo", "kura.disposal.demo")
DEMO_PEER = "DEMO"  # a registered DICOM peer on 127.0.0.1 with every right


def build_demo_home() -> None:
    """Create and fill the demo home (embedded SQLite); each area seeds its own data."""
    import importlib

    from rich.progress import Progress

    from kura.app import build, create_home
    from kura.classes import service as classes
    from kura.access.console import console_operator
    from kura.identity import service as identity
    from kura.ledger.tags import LedgerTag

    # The demo backs itself up and keeps a replica beside the home (the server's schedules;
    # the operations screen, 運用管理, shows both half a minute after it starts).
    home = State.home.absolute()
    create_home(State.home, '[kura]\ndemo = true\nenv = "development"\n'
                f'backup_destination = "{home.parent / (home.name + "-backups")}"\n'
                f'replica_destination = "{home.parent / (home.name + "-replica")}"\n')
    kura = build(State.settings())
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        ctx.record(LedgerTag.SystemHomeInitialised, detail={"demo": True})
        classes.seed(ctx)
        for i, (name, display, roles, clearance) in enumerate(DEMO_USERS):
            user, _ = identity.register(ctx, username=name, display_name=display, roles=roles,
                                        clearance=clearance, password=DEMO_PASSWORD, bootstrap=i == 0)
            user.must_change_password = False
    from kura.imaging import peers

    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        # So a visitor can try dcmtk or any DICOM tool on this machine against the demo.
        peers.add_peer(ctx, ae_title=DEMO_PEER, host="127.0.0.1", port=11113)
    seeders = [importlib.import_module(module) for module in SEEDERS]
    with Progress() as bar:
        for module in seeders:
            task = bar.add_task(module.DESCRIPTION, total=module.STEPS)
            module.seed(kura, progress=lambda n=1, t=task: bar.advance(t, n))
    kura.dispose()
    State._kura = None


@app.command()
def demo(http: Annotated[Optional[str], typer.Option("--http", help="HOST:PORT (default 127.0.0.1:8080)")] = None,
         dicom: Annotated[Optional[str], typer.Option("--dicom", help="HOST:PORT (default 127.0.0.1:11112)")] = None) -> None:
    """A demo home (synthetic patients, records, images, one user per role); prints the URL and logins, serves."""
    from kura.cli.serve import run_servers

    config = State.home / "config.toml"
    if not config.exists():
        build_demo_home()
    elif "demo = true" not in config.read_text(encoding="utf-8"):
        fail(f"{State.home} is a real kura home, not a demo home; use --home to choose another folder", code=2)
    kura = State.kura()

    def banner(url: str) -> None:
        typer.echo(f"kura demo: {url}   (home: {State.home})")
        typer.echo(f"demo logins — password for every account: {DEMO_PASSWORD}")
        typer.echo("  the 6-digit code for each account is shown on the demo's login page")
        for name, display, roles, _ in DEMO_USERS:
            typer.echo(f"  {name:<8} {display}  ({', '.join(roles)})")
        host = (dicom or kura.settings.dicom).rpartition(":")
        typer.echo(f"DICOM: AE title {kura.settings.aet} at {host[0]}:{host[2]}; the peer {DEMO_PEER} is registered, e.g.")
        typer.echo(f"  echoscu -aet {DEMO_PEER} -aec {kura.settings.aet} {host[0]} {host[2]}")
        typer.echo("press Ctrl+C to stop")

    run_servers(kura, http=http or kura.settings.http, dicom=dicom or kura.settings.dicom,
                aet=None, banner=banner)
