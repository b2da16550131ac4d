"""Crash harness helpers, shared by every test that kills kura with SIGKILL (backups, FHIR
writes here; C-STORE and STOW-RS in the ingest tests): a real `kura serve` or any `kura`
command in a subprocess, killed at a random moment, and the checks that must hold afterwards.

    with KuraProcess.serve(home) as srv:       # starts, waits for /healthz
        ... srv.url, srv.dicom_port ...
        srv.kill()                             # SIGKILL, no cleanup of any kind
    problems = after_crash(home)               # [] when ledger, versions, objects and blobs are sound
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["free_port", "KuraProcess", "kill_at_random", "after_crash"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    src = str(Path(__file__).parents[2] / "src")
    return {**os.environ, "KURA_ENV": "development",
            "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


class KuraProcess:
    def __init__(self, proc: subprocess.Popen, url: str = "", dicom_port: int = 0):
        self.proc, self.url, self.dicom_port = proc, url, dicom_port

    @classmethod
    def command(cls, home: Path, *args: str) -> KuraProcess:
        """Any `kura` command, running (not waited for)."""
        proc = subprocess.Popen([sys.executable, "-m", "kura", "--home", str(home), *args], env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return cls(proc)

    @classmethod
    @contextlib.contextmanager
    def serve(cls, home: Path, *, timeout: float = 60):
        port, dport = free_port(), free_port()  # never the default ports other runs may hold
        args = ["serve", "--http", f"127.0.0.1:{port}", "--dicom", f"127.0.0.1:{dport}"]
        srv = cls.command(home, *args)
        srv.url, srv.dicom_port = f"http://127.0.0.1:{port}", dport
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if srv.proc.poll() is not None:
                raise RuntimeError(f"kura serve exited: {srv.proc.stderr.read()}")
            try:
                if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            srv.kill()
            raise RuntimeError("kura serve did not start")
        try:
            yield srv
        finally:
            srv.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def wait(self, timeout: float = 300) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def kill_at_random(proc: KuraProcess, lo: float, hi: float, rng: random.Random) -> float:
    """SIGKILL `proc` after a random delay in [lo, hi) seconds; returns the delay."""
    delay = rng.uniform(lo, hi)
    time.sleep(delay)
    proc.kill()
    return delay


def after_crash(home: Path) -> list[str]:
    """Open the home as a restart would and check everything: the ledger (hash chain, head,
    checkpoints), every version and object against its recorded hash, no temporary blob files
    promoted. Returns problem lines; [] when the home is sound."""
    from kura.app import build
    from kura.config import load_settings
    from kura.ledger import service as ledger
    from kura.preservation.deep import deep_check
    from tests.factories import ADMIN

    app = build(load_settings(home, env="development"))
    try:
        problems: list[str] = []
        with app.sessions() as s:
            result = ledger.verify(s, signer=app.signer)
            if not result.ok:
                problems.append(result.line())
        with app.unit_of_work(ADMIN, "HOPERAT") as ctx:
            problems += [str(p) for p in deep_check(ctx)]
        return problems
    finally:
        app.dispose()
