"""`kura demo`: a demo home with synthetic Japanese data and one user per role, then serve."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kura.access.roles import ROLE_LABELS, Role
from kura.cli import State, _, app, fail, language


@app.command()
def demo(http: Annotated[Optional[str], typer.Option("--http", help="HOST:PORT (default 127.0.0.1:8080)")] = None,
         dicom: Annotated[Optional[str], typer.Option("--dicom", help="HOST:PORT (default 127.0.0.1:11112)")] = None) -> None:
    """A demo home (synthetic patients, records, images, one user per role); prints the URL and logins, serves."""
    from kura.cli.progress import bar
    from kura.cli.serve import run_servers
    from kura.demo.seed import DEMO_PASSWORD, DEMO_PEER, DEMO_USERS, build_home

    config = State.home / "config.toml"
    if not config.exists():
        with bar() as progress:
            build_home(State.home, progress)
    elif "demo = true" not in config.read_text(encoding="utf-8"):
        fail("%(home)s is a real kura home, not a demo home; use --home to choose another folder", code=2, home=State.home)
    kura = State.kura()

    def banner(url: str) -> None:
        typer.echo(_("kura demo: %(url)s   (home: %(home)s)", url=url, home=State.home))
        typer.echo(_("demo logins — password for every account: %(password)s", password=DEMO_PASSWORD))
        typer.echo("  " + _("the 6-digit code for each account is shown on the demo's login page"))
        for name, display, roles, _clearance in DEMO_USERS:
            typer.echo(f"  {name:<8} {display}  ({', '.join(ROLE_LABELS[Role(r)][0 if language() == 'ja' else 1] for r in roles)})")
        host = (dicom or kura.settings.dicom).rpartition(":")
        typer.echo(_("DICOM: AE title %(aet)s at %(host)s:%(port)s; the peer %(peer)s is registered, e.g.",
                     aet=kura.settings.aet, host=host[0], port=host[2], peer=DEMO_PEER))
        typer.echo(f"  echoscu -aet {DEMO_PEER} -aec {kura.settings.aet} {host[0]} {host[2]}")
        typer.echo(_("press Ctrl+C to stop"))

    run_servers(kura, http=http or kura.settings.http, dicom=dicom or kura.settings.dicom,
                aet=None, banner=banner)
