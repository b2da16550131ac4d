"""`kura serve`: web UI, REST, FHIR and DICOMweb over HTTP(S), and the DICOM SCP."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail


def split_hostport(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail("%(option)s must be HOST:PORT, not %(value)r", code=2, option=option, value=value)
    return host.strip("[]"), int(port)


def _free(host: str, port: int, option: str) -> None:
    """Fail in one line, naming the port and the option that changes it, when the address
    is taken — before anything starts (the servers would otherwise die half-started)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail("port %(port)s on %(host)s is already in use (another kura or program?); "
                     "choose another with %(option)s HOST:PORT", code=1, port=port, host=host, option=option)
            fail("cannot listen on %(host)s:%(port)s (%(reason)s); choose another with %(option)s HOST:PORT", code=1,
                 host=host, port=port, reason=exc.strerror, option=option)


def run_servers(kura, *, http: str, dicom: str | None, aet: str | None,
                tls_cert: Path | None = None, tls_key: Path | None = None, banner=None) -> None:
    """Serve until interrupted; the start and stop are ledger entries (R29, DICOM 110100)."""
    import uvicorn

    from kura import logs
    from kura.ledger.tags import LedgerTag
    from kura.web import create_app
    from kura.access.console import console_operator

    if bool(tls_cert) != bool(tls_key):
        fail("--tls-cert and --tls-key go together", code=2)
    for f in (tls_cert, tls_key):
        if f and not f.is_file():
            fail("no such file: %(path)s", code=2, path=f)
    host, port = split_hostport(http, "--http")
    _free(host, port, "--http")
    if dicom:
        _free(*split_hostport(dicom, "--dicom"), "--dicom")
    s = kura.settings
    logs.configure(level=s.log_level, file=s.log_path, max_bytes=s.log_file_max_bytes, keep=s.log_file_keep)
    dicom_server = None
    if dicom:
        dhost, dport = split_hostport(dicom, "--dicom")
        try:
            from kura.dicom.server import start as start_dicom
        except ModuleNotFoundError:
            start_dicom = None
        if start_dicom is not None:
            if aet and aet != kura.settings.aet:
                import dataclasses
                kura.settings = dataclasses.replace(kura.settings, aet=aet).validate()
            dicom_server = start_dicom(kura, dhost, dport, block=False)
    config = uvicorn.Config(create_app(kura, tls=bool(tls_cert)), host=host, port=port,
                            # our handler (kura.logs) takes uvicorn's records; kura logs requests itself
                            log_config=None, log_level=s.log_level.lower(), access_log=False, lifespan="off",
                            ssl_certfile=str(tls_cert) if tls_cert else None,
                            ssl_keyfile=str(tls_key) if tls_key else None)
    config.load()
    if config.ssl is not None:
        # R21: TLS 1.2 at the least; the default context prefers 1.3 when the client has it.
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    server = uvicorn.Server(config)
    scheme = "https" if tls_cert else "http"
    from kura.preservation.schedule import JOBS, Scheduler
    scheduler = Scheduler(kura, JOBS)  # backups, replication, scrub, selfcheck from the config
    scheduler.start()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        ctx.record(LedgerTag.SystemServerStarted, detail={"http": http, "dicom": dicom or "", "tls": bool(tls_cert)})
    if banner:
        banner(f"{scheme}://{host}:{port}")
    else:
        url = f"{scheme}://{host}:{port}"
        typer.echo(_("kura serving %(url)s and DICOM %(aet)s@%(dicom)s", url=url, aet=aet or kura.settings.aet, dicom=dicom)
                   if dicom_server else _("kura serving %(url)s", url=url))
    try:
        server.run()
    finally:
        scheduler.stop()
        if dicom_server is not None:
            dicom_server.shutdown()
        with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            ctx.record(LedgerTag.SystemServerStopped)


@app.command()
def serve(http: Annotated[Optional[str], typer.Option("--http", help="HOST:PORT (default 127.0.0.1:8080)")] = None,
          dicom: Annotated[Optional[str], typer.Option("--dicom", help="HOST:PORT (default 127.0.0.1:11112)")] = None,
          aet: Annotated[Optional[str], typer.Option("--aet", help="AE title (default KURA)")] = None,
          tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="PEM certificate")] = None,
          tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="PEM private key")] = None) -> None:
    """Serve the web UI, REST, FHIR and DICOMweb, and the DICOM SCP."""
    kura = State.kura()
    run_servers(kura, http=http or kura.settings.http, dicom=dicom or kura.settings.dicom,
                aet=aet, tls_cert=tls_cert, tls_key=tls_key)
