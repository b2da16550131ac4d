"""The key vault: the data keys as one small sealed file, kept apart from the bulk data.

Backups and replicas carry the bulk data (database snapshot, blobs) in immutable
generations *without* the data keys, and the vault beside them as one file that is
rewritten on every backup and on every shred. A restore takes a bulk generation plus the
current vault, so a key destroyed by a disposal never comes back with an old generation
(DESIGN.md "Keys"; THREAT_MODEL.md). Losing every vault copy loses the data: the vault is
written to every destination and checked by ``backup verify``.

The file: b"KV1" || AES-GCM envelope (vault subkey of the master key) of canonical JSON
{"format": 1, "keys": [{id, owner, origin, is_primary, wrapped (base64 or null),
created_at, shredded_at}]}. The wrapped keys stay wrapped by the master key inside it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from kura.blobs.crypto import open_sealed, seal
from kura.errors import IntegrityFailure
from kura.keys.models import DataKey
from kura.keys.ring import VAULT_INFO, KeyRing, derive

__all__ = ["VAULT_FILE", "export_vault", "read_vault", "install_vault"]

VAULT_FILE = "vault.sealed"
_MAGIC = b"KV1"
_AAD = b"kura key vault"


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.timezone.utc).isoformat() if t else None


def _time(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s) if s else None


def export_vault(session: Session, keyring: KeyRing) -> bytes:
    """Every data key row (shredded ones as tombstones), sealed under the vault subkey."""
    rows = session.scalars(select(DataKey).order_by(DataKey.id))
    keys = [{"id": r.id, "owner": r.owner, "origin": r.origin, "is_primary": bool(r.is_primary),
             "wrapped": base64.b64encode(r.wrapped).decode() if r.wrapped is not None else None,
             "created_at": _iso(r.created_at), "shredded_at": _iso(r.shredded_at)} for r in rows]
    body = json.dumps({"format": 1, "keys": keys}, sort_keys=True, separators=(",", ":")).encode()
    return _MAGIC + seal(keyring.vault_key, body, _AAD)


def read_vault(data: bytes, master_key: bytes) -> list[dict[str, Any]]:
    """The rows of a vault file, opened with the master key (a restore has no running home).
    Raises IntegrityFailure when it is damaged or another home's."""
    if data[:3] != _MAGIC:
        raise IntegrityFailure("not a kura key vault")
    body = json.loads(open_sealed(derive(master_key, VAULT_INFO), data[3:], _AAD))
    if body.get("format") != 1:
        raise IntegrityFailure("unknown key vault format")
    return [{**k, "wrapped": base64.b64decode(k["wrapped"]) if k["wrapped"] else None,
             "created_at": _time(k["created_at"]), "shredded_at": _time(k["shredded_at"])}
            for k in body["keys"]]


def install_vault(session: Session, rows: list[dict[str, Any]]) -> int:
    """Replace the data key table with the vault's rows (restore). Flushes, never commits."""
    session.execute(delete(DataKey))
    if rows:
        session.execute(insert(DataKey), rows)
    session.flush()
    return len(rows)
