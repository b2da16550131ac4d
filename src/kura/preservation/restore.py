"""`kura backup restore DEST --into DIR`: a new home from a generation plus the current vault.

Nothing is trusted before it is checked: the manifest's signature against the home's public
key (the current home's, or the recovery kit's), then every file's and blob's SHA-256 as it is
read. The database is migrated to the schema revision the snapshot was taken at, loaded, then
migrated to this kura's head; the key vault is installed; the search indexes are rebuilt from
the content (`finish`, once the new home can be built); and the restore is the new home's
first ledger entry after the restored ones.
"""

from __future__ import annotations

import dataclasses
import concurrent.futures
import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.errors import IntegrityFailure, Invalid
from kura.ledger.tags import LedgerTag
from kura.preservation import snapshot, vault
from kura.preservation.destination import Destination, sync_fs
from kura.preservation.ports import App, Progress
from kura.preservation.sealing import BACKUP_KEY_INFO, open_bytes, open_stream, subkey

__all__ = ["restore_files", "finish", "Restored"]


@dataclasses.dataclass
class Restored:
    home: Path
    generation: str
    tables: dict[str, int]
    blobs: int
    ledger_size: int
    vault_rows: int | None


def _check_into(into: Path) -> None:
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise Invalid(f"{into} is not empty: restore builds a new home in an empty folder")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


# Copy-and-check workers: reading, SHA-256 and writing run outside the GIL.
_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _copy_checked(source: Path, target: Path, sha: str, size: int, rel: str) -> None:
    data = _read_checked(source, sha, size, rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _read_checked(path: Path, sha: str, size: int, rel: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityFailure(f"{rel}: missing") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        raise IntegrityFailure(f"{rel}: SHA-256 differs from the manifest")
    return data


def _raw(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class _CheckedReader:
    """Reads a file while hashing it; `check()` compares with the manifest at the end."""

    def __init__(self, path: Path, sha: str, size: int, rel: str) -> None:
        self.fh = open(path, "rb")
        self.h, self.n, self.sha, self.size, self.rel = hashlib.sha256(), 0, sha, size, rel

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.h.update(data)
        self.n += len(data)
        return data

    def check(self) -> None:
        self.fh.close()
        if self.n != self.size or self.h.hexdigest() != self.sha:
            raise IntegrityFailure(f"{self.rel}: SHA-256 differs from the manifest")


def restore_files(dest: Path, into: Path, *, master_key: bytes, public_key: Ed25519PublicKey,
                  generation: str | None = None, database_url: str = "",
                  progress: Progress | None = None) -> Restored:
    """Build the home at `into` (keys, config, database, blobs). Raises Invalid (DIR not empty,
    no such generation, a key that does not match) and IntegrityFailure (a bad signature, a
    damaged file); on any failure the half-built home is removed."""
    into = Path(into).absolute()
    _check_into(into)
    d = Destination(dest)
    d.info()
    gens = d.generations()
    if not gens:
        raise Invalid(f"{dest} holds no complete generation")
    gen = generation or gens[-1]
    if gen not in gens:
        raise Invalid(f"no complete generation {gen} in {dest}")
    m = d.manifest(gen)
    m.check(public_key)
    body = m.body
    key = subkey(master_key, BACKUP_KEY_INFO)
    gdir = d.generations_dir / gen
    sha, size = body["files"]["home.sealed"]
    try:
        home = json.loads(open_bytes(key, f"{gen}/home", _read_checked(gdir / "home.sealed", sha, size,
                                                                       f"generations/{gen}/home.sealed")))
    except IntegrityFailure as exc:
        raise IntegrityFailure(f"{exc} (is this the right master key?)") from None
    signing = serialization.load_pem_private_key(home["signing_key_pem"].encode(), password=None)
    if _raw(signing.public_key()) != _raw(public_key):
        raise Invalid("the backup's signing key is not the one the key file names")
    rows = vault.read(d, master_key)
    # (a generation written before kura.keys carried its keys in its own tables)
    if rows is None and "patient_key" not in body.get("tables", {}):
        raise Invalid(f"{dest} has no {vault.FILE}: copy the newest one from another destination of this home")

    created = not into.exists()
    try:
        return _build(d, gen, body, into, key=key, master_key=master_key, home=home, rows=rows,
                      database_url=database_url, progress=progress)
    except BaseException:
        if created:
            shutil.rmtree(into, ignore_errors=True)
        else:
            for p in into.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        raise


def _build(d: Destination, gen: str, body: dict[str, Any], into: Path, *, key: bytes, master_key: bytes,
           home: dict[str, Any], rows: list[dict[str, Any]] | None, database_url: str,
           progress: Progress | None) -> Restored:
    from alembic import command

    from kura.db.engine import make_engine
    from kura.migrations import alembic_config, upgrade

    into.mkdir(parents=True, exist_ok=True)
    into.chmod(0o700)
    (into / "keys").mkdir(mode=0o700)
    (into / "blobs").mkdir()
    _write_private(into / "keys" / "master.key", master_key)
    _write_private(into / "keys" / "signing.key", home["signing_key_pem"].encode())
    config = tomllib.loads(home.get("config") or "")
    section = config.setdefault("kura", {})
    section.pop("database_url", None)  # the new home's database: --database-url, else SQLite inside it
    if database_url:
        section["database_url"] = database_url
    (into / "config.toml").write_text(tomli_w.dumps(config), encoding="utf-8")

    url = database_url or f"sqlite:///{into / 'kura.db'}"
    engine = make_engine(url)
    # the blobs are copied (and checked) by worker threads while the database is loaded; the
    # pool starts after the engine, so the `finally` below always shuts it down
    blobs = body.get("blobs", {})
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kura-restore")
    try:
        copies = [pool.submit(_copy_checked, d.blob_path(name), into / "blobs" / name[:2] / name[2:4] / name,
                              sha, size, f"blobs/{name[:2]}/{name[2:4]}/{name}")
                  for name, (sha, size) in blobs.items()]
        with engine.connect() as conn:
            from sqlalchemy import inspect
            if inspect(conn).get_table_names():
                raise Invalid("the target database is not empty")
        for rev in body["schema"].split(","):
            command.upgrade(alembic_config(engine), rev)
        sha, size = body["files"]["db.sealed"]
        reader = _CheckedReader(d.generations_dir / gen / "db.sealed", sha, size, f"generations/{gen}/db.sealed")
        with engine.begin() as conn:
            tables = snapshot.load(conn, open_stream(reader, key, f"{gen}/db"),
                                   progress=(lambda n: progress("database", n, None)) if progress else None)
            reader.check()
        upgrade(engine)
        if rows is not None:
            from sqlalchemy.orm import Session
            with Session(engine) as session:
                vault.install(session, rows)
                session.commit()
        for i, future in enumerate(concurrent.futures.as_completed(copies)):
            future.result()
            if progress:
                progress("blobs", i + 1, len(blobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        engine.dispose()
    sync_fs(into)
    return Restored(into, gen, tables, len(blobs), body.get("ledger", {}).get("size", 0),
                    len(rows) if rows is not None else None)


def finish(app: App, actor: Subject | None, restored: Restored, *, source: Path) -> int:
    """In the new home: rebuild the search indexes, then ledger OpsBackupRestored.
    Raises Denied without OpsBackupRestore. Returns the records indexed."""
    from kura.records.store import rebuild_indexes

    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.require(Action.OpsBackupRestore, Target(kind="Backup"))
        n = rebuild_indexes(ctx)
        ctx.record(LedgerTag.OpsBackupRestored, target=Target(kind="Backup", id=restored.generation),
                   reason=f"restored generation {restored.generation} from {source}",
                   detail={"dest": str(source), "generation": restored.generation, "blobs": restored.blobs,
                           "ledger_size": restored.ledger_size, "records_indexed": n})
    return n
