"""Build a demo home: its config and keys, one user per role, a DICOM peer, then each area's
seeder in order (records → images → patient matching → retention → registers → accounts → audit → reviews), each reporting its progress."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from kura.access.console import console_operator
from kura.app import build, create_home
from kura.classes import service as classes
from kura.config import load_settings
from kura.identity import service as identity
from kura.imaging import peers
from kura.ledger.tags import LedgerTag

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "DEMO_PEER", "SEEDERS", "build_home"]

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
    ("bucho", "部門 浩二 (放射線科長)", ["department_head"], "N"),
]

SEEDERS = ("kura.demo.records", "kura.demo.images", "kura.demo.matching", "kura.demo.retention", "kura.demo.registers",
           "kura.demo.accounts", "kura.demo.audit", "kura.demo.reviews")
DEMO_PEER = "DEMO"  # a registered DICOM peer on 127.0.0.1 with every right


def build_home(home: Path, progress: Callable[[str, int, int | None], None]) -> None:
    """Create and fill the demo home at `home` (embedded SQLite); `progress(stage, done, total)`
    is called as each seeder advances (kura.cli.progress.bar's callback)."""
    # The demo backs itself up and keeps a replica beside the home (the server's schedules;
    # the operations screen, 運用管理, shows both half a minute after it starts).
    home = home.absolute()
    create_home(home, '[kura]\ndemo = true\nenv = "development"\n'
                f'backup_destination = "{home.parent / (home.name + "-backups")}"\n'
                f'replica_destination = "{home.parent / (home.name + "-replica")}"\n')
    kura = build(load_settings(home))
    try:
        with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            ctx.record(LedgerTag.SystemHomeInitialised, detail={"demo": True})
            classes.seed(ctx)
            for i, (name, display, roles, clearance) in enumerate(DEMO_USERS):
                user, _ = identity.register(ctx, username=name, display_name=display, roles=roles,
                                            clearance=clearance, password=DEMO_PASSWORD, bootstrap=i == 0)
                user.must_change_password = False
        with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            # So a visitor can try dcmtk or any DICOM tool on this machine against the demo.
            peers.add_peer(ctx, ae_title=DEMO_PEER, host="127.0.0.1", port=11113)
        for module in [importlib.import_module(name) for name in SEEDERS]:
            module.seed(kura, progress=_counter(progress, module.DESCRIPTION, module.STEPS))
    finally:
        kura.dispose()


def _counter(progress: Callable[[str, int, int | None], None], stage: str, total: int) -> Callable[[int], None]:
    """The seeders count steps (`advance(n)`); the bar wants the running total."""
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done
        done += n
        progress(stage, done, total)
    return advance
