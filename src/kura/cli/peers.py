"""`kura dicom-peer add|list`: the DICOM nodes allowed to associate (read at association time,
so a change reaches a running server at once)."""

from __future__ import annotations

from typing import Annotated

import typer

from kura.cli import State, app
from kura.access.console import console_operator

peer_app = typer.Typer(no_args_is_help=True, help="DICOM peers: the AE titles allowed to associate.")
app.add_typer(peer_app, name="dicom-peer")


@peer_app.command("add")
def add(ae_title: str, host: str, port: int,
        rights: Annotated[str, typer.Option("--rights", help="Comma-separated: store, query, retrieve.")]
        = "store,query,retrieve") -> None:
    """Register a peer (or change an existing one's address and rights)."""
    from kura.imaging import peers

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        peer = peers.add_peer(ctx, ae_title=ae_title, host=host, port=port, rights=rights.split(","))
        line = f"{peer.ae_title}\t{peer.host}:{peer.port}\t{peer.rights}"
    typer.echo(line)


@peer_app.command("list")
def list_() -> None:
    """Every registered peer: AE title, address, rights."""
    from kura.imaging import peers

    with State.kura().unit_of_work(console_operator(), "HOPERAT") as ctx:
        rows = [f"{p.ae_title}\t{p.host}:{p.port}\t{p.rights}" for p in peers.list_peers(ctx)]
    for row in rows:
        typer.echo(row)
