"""The key vault next to the generations: DEST/vault.sealed (THE KEY DESIGN, THREAT_MODEL.md).

The wrapped data keys never enter an immutable generation (kura.preservation.snapshot leaves
the data_key table out); the current vault, sealed under the vault subkey by kura.keys.vault,
is rewritten atomically at every backup and replication and after every shred, at every
destination this home knows. A restore takes a generation plus the current vault, so a key
destroyed since a generation was written stays destroyed in the restored home.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.config import Settings
from kura.errors import IntegrityFailure
from kura.keys import vault as kv
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.destination import Destination, write_atomic
from kura.preservation.ports import App

__all__ = ["write", "read", "install", "known_destinations", "refresh_all", "FILE"]

FILE = kv.VAULT_FILE


def write(app: App, d: Destination) -> None:
    """Rewrite DEST/vault.sealed from the database's current data keys (atomically, read-only)."""
    with app.sessions() as session:
        data = kv.export_vault(session, app.keyring)
    write_atomic(d.root / FILE, data, mode=0o400)


def read(d: Destination, master_key: bytes) -> list[dict[str, Any]] | None:
    """The vault's rows, opened with the master key; None when DEST has no vault. Raises
    IntegrityFailure when it does not open (altered, or another home's key)."""
    path = d.root / FILE
    if not path.exists():
        return None
    try:
        return kv.read_vault(path.read_bytes(), master_key)
    except IntegrityFailure:
        raise
    except Exception as exc:  # noqa: BLE001 — any failure to open is an integrity failure here
        raise IntegrityFailure(f"{FILE}: does not open with this master key ({type(exc).__name__})") from None


def install(session: Session, rows: list[dict[str, Any]] | None) -> None:
    if rows is not None:
        kv.install_vault(session, rows)


def known_destinations(session: Session, settings: Settings | None = None) -> list[Path]:
    """Every destination this home has backed up or replicated to (from the ledger), and the
    configured ones."""
    found: list[Path] = []
    for s in (getattr(settings, "backup_destination", ""), getattr(settings, "replica_destination", "")):
        if s:
            found.append(Path(s))
    stmt = select(LedgerEntry.detail).where(LedgerEntry.tag.in_(
        [str(LedgerTag.OpsBackupCreated), str(LedgerTag.OpsReplicaSynced)]))
    for (detail,) in session.execute(stmt):
        dest = json.loads(detail or "{}").get("dest")
        if dest:
            found.append(Path(dest))
    seen: set[str] = set()
    out: list[Path] = []
    for p in found:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def refresh_all(app: App) -> list[tuple[Path, str]]:
    """After a shred is committed (call it then): rewrite the vault at every known destination that is reachable now.
    Returns (destination, "ok" or why not) per destination; an unreachable one (an offline
    disk) gets its vault rewritten at its next backup, before anything is restored from it."""
    with app.sessions() as session:
        dests = known_destinations(session, app.settings)
    results: list[tuple[Path, str]] = []
    for root in dests:
        d = Destination(root)
        try:
            if d.info().get("key_id") != app.signer.key_id:
                results.append((root, "another home's destination"))
                continue
            write(app, d)
            results.append((root, "ok"))
        except Exception as exc:  # noqa: BLE001 — report and go on to the next destination
            results.append((root, f"{type(exc).__name__}: {exc}"))
    return results
