"""Driving the `kura` command in tests: in-process through Typer's runner, and free ports."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

import kura.cli as cli

__all__ = ["kura_cmd", "free_port"]


def kura_cmd(home, *args) -> tuple[int, str, str]:
    """Run `kura --home HOME ARGS…` in this process; (exit code, stdout, stderr)."""
    cli._register()
    result = CliRunner().invoke(cli.app, ["--home", str(home), *args], env={"KURA_ENV": "development"})
    if cli.State._kura is not None:
        cli.State._kura.dispose()
        cli.State._kura = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
