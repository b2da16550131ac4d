"""`kura backup create`: a verified, encrypted, incremental generation, while the server runs.

Order matters (each step is why a restore is consistent):
1. a signed checkpoint is committed, so the snapshot holds it;
2. the database snapshot is read in one consistent transaction (kura.preservation.snapshot),
   compressed and sealed under the backup subkey of the master key, with the ledger head as
   that transaction saw it;
3. the blobs are listed after the snapshot — every blob a snapshot row names was written
   before that row committed — and those DEST lacks are copied (content addressed: every
   backup after the first is incremental);
4. everything is flushed to disk, then the manifest (every file's SHA-256, the ledger head,
   signed with the home's Ed25519 key) is written, then the folder is renamed into place;
5. the current key vault is rewritten next to the generations (DEST/vault.sealed).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.blobs.store import BlobStore
from kura.errors import IntegrityFailure
from kura.ledger import service as ledger
from kura.ledger.merkle import Frontier
from kura.ledger.service import Anchor
from kura.ledger.tags import LedgerTag
from kura.preservation import snapshot, vault
from kura.preservation.destination import FORMAT, Destination, Manifest, sync_fs, write_atomic
from kura.preservation.ports import App, Progress
from kura.preservation.sealing import BACKUP_KEY_INFO, SealedWriter, Sink, seal_bytes, subkey
from kura.i18n import Say, plain

__all__ = ["create", "BackupResult", "TARGET", "run_failed"]

TARGET = Target(kind="Backup")


@dataclasses.dataclass
class BackupResult:
    dest: Path
    generation: str
    files: int
    bytes_total: int
    blobs_new: int
    bytes_new: int
    seconds: float
    ledger_size: int

    def line(self, say: Say = plain, *, replica: bool = False) -> str:
        fields = dict(generation=self.generation, dest=self.dest, files=self.files, size=_size(self.bytes_total),
                      blobs=self.blobs_new, copied=_size(self.bytes_new), seconds=self.seconds,
                      ledger=self.ledger_size)
        if replica:
            return say("replica %(generation)s complete in %(dest)s: %(files)s files, %(size)s (%(blobs)s new blobs, "
                       "%(copied)s copied) in %(seconds).1f s; ledger size %(ledger)s", **fields)
        return say("backup %(generation)s complete in %(dest)s: %(files)s files, %(size)s (%(blobs)s new blobs, "
                   "%(copied)s copied) in %(seconds).1f s; ledger size %(ledger)s", **fields)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class _HashingFile:
    """A write-only file that hashes what passes through it."""

    def __init__(self, fh: Sink) -> None:
        self.fh, self.h, self.n = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.h.update(data)
        self.n += len(data)


def run_failed(app: App, actor: Subject | None, what: str, dest: Path | str, exc: BaseException) -> None:
    """Ledger the failure of a run as an alert for the operations manager (OpsRunFailed)."""
    reason = f"{what} {dest}: {type(exc).__name__}: {exc}"[:500]
    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.record(LedgerTag.OpsRunFailed, target=Target(kind="Backup", id=str(dest)), outcome=8,
                   reason=reason, detail={"run": what, "dest": str(dest)}, alert=True)


def create(app: App, actor: Subject | None, dest: Path, *, progress: Progress | None = None,
           kind: str = "backup") -> BackupResult:
    """Write one generation to `dest`. Raises Denied (no OpsBackupCreate), Invalid (DEST belongs
    to another home), Conflict (another run holds DEST), OSError (e.g. disk full: the partial
    generation is removed). Ledger: AuditCheckpointCreated, then OpsBackupCreated — or
    OpsRunFailed (an alert) when the run fails."""
    dest = Path(dest).absolute()
    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.require(Action.OpsReplicaRun if kind == "replica" else Action.OpsBackupCreate, TARGET)
        ctx.record(LedgerTag.AuditCheckpointCreated, target=Target(kind="Ledger"),
                   detail={"for": f"{kind} {dest}"})
        cp = ledger.make_checkpoint(ctx.session, at=ctx.now(), signer=ctx.signer)
        anchor = Anchor.of(cp).line()
    try:
        result = _write(app, dest, anchor=anchor, kind=kind, progress=progress)
    except Exception as exc:
        run_failed(app, actor, kind, dest, exc)
        raise
    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.record(LedgerTag.OpsReplicaSynced if kind == "replica" else LedgerTag.OpsBackupCreated,
                   target=Target(kind="Backup", id=result.generation), reason=result.line(),
                   detail={"dest": str(dest), "generation": result.generation, "bytes": result.bytes_total,
                           "files": result.files, "blobs_new": result.blobs_new, "bytes_new": result.bytes_new,
                           "seconds": round(result.seconds, 2), "ledger_size": result.ledger_size})
    return result


def _previous_blobs(d: Destination, public_key: Ed25519PublicKey) -> dict[str, list[Any]]:
    """Blob hashes from the newest complete generation whose manifest is signed by this home."""
    for gen in reversed(d.generations()):
        try:
            m = d.manifest(gen)
            m.check(public_key)
        except IntegrityFailure:
            continue
        blobs: dict[str, list[Any]] = m.body.get("blobs", {})
        return blobs
    return {}


def _write(app: App, dest: Path, *, anchor: str, kind: str, progress: Progress | None) -> BackupResult:
    t0 = time.monotonic()
    d = Destination(dest)
    signer = app.signer
    with d.lock():
        d.open_for_writing(signer.key_id, kind)
        for stale in d.partials():  # left by a killed run: never complete, never trusted
            d.remove_tree(stale)
        gen = d.new_generation_name(app.clock.now())
        work = d.generations_dir / f".partial-{gen}"
        work.mkdir(mode=0o700)
        try:
            return _fill(app, d, work, gen, anchor=anchor, kind=kind, progress=progress, t0=t0)
        except BaseException:
            d.remove_tree(work)
            raise


def _fill(app: App, d: Destination, work: Path, gen: str, *, anchor: str, kind: str, progress: Progress | None,
          t0: float) -> BackupResult:
    key = subkey(app.master_key, BACKUP_KEY_INFO)
    files: dict[str, list[Any]] = {}
    from kura.migrations import metadata

    # 2. the database, in one consistent read transaction; 3. the blobs DEST lacks, copied by
    # worker threads while the database is read (copying and hashing release the GIL)
    engine = snapshot.reader_engine(app.settings.db_url)
    known = _previous_blobs(d, app.signer.public_key)
    blobs: dict[str, list[Any]] = {}
    written = [work / "db.sealed", work / "home.sealed"]
    pending: dict[concurrent.futures.Future[list[Any]], str] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kura-backup")
    try:
        fd = os.open(work / "db.sealed", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with snapshot.snapshot_connection(engine) as conn, os.fdopen(fd, "wb") as raw:
            head = conn.execute(ledger_head_sql()).one()
            # listed once the snapshot's transaction has begun: every blob a snapshot row
            # names was written before that row committed
            folders: set[Path] = set()
            for name in app.blobs.names():
                path = d.blob_path(name)
                if name in known and path.exists():
                    blobs[name] = known[name]
                    continue
                if path.parent not in folders:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    folders.add(path.parent)
                pending[pool.submit(_copy_blob, app.blobs, name, path)] = name  # durable below
                written.append(path)
            revision = snapshot.schema_revision(conn)
            sink = _HashingFile(raw)
            w = SealedWriter(sink, key, f"{gen}/db")
            counts = snapshot.dump(conn, metadata(), w,
                                   progress=(lambda n: progress("database", n, None)) if progress else None)
            w.close()
            files["db.sealed"] = [sink.h.hexdigest(), sink.n]
        os.chmod(work / "db.sealed", 0o400)
        root = Frontier.loads(head.size, head.frontier).root().hex()
        home = {"signing_key_pem": _signing_pem(app), "config": _config_text(app)}
        data = seal_bytes(key, f"{gen}/home", json.dumps(home).encode())
        write_atomic(work / "home.sealed", data, fsync=False)
        files["home.sealed"] = [hashlib.sha256(data).hexdigest(), len(data)]
        new, new_bytes = len(pending), 0
        for i, future in enumerate(concurrent.futures.as_completed(pending)):
            blobs[pending[future]] = future.result()
            new_bytes += blobs[pending[future]][1]
            if progress:
                progress("blobs", i + 1, len(pending))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # before the partial folder is removed
        engine.dispose()
    blobs = dict(sorted(blobs.items()))
    done_bytes = sum(b[1] for b in blobs.values())

    # 4. durable, then the manifest, then the folder into place
    _durable(d, written)
    now = app.clock.now()
    body = {"format": FORMAT, "kind": kind, "generation": gen, "created_at": now.isoformat(),
            "engine": app.engine.dialect.name, "schema": revision, "tables": counts, "files": files,
            "blobs": blobs, "ledger": {"size": head.size, "chain": head.chain_hash, "root": root,
                                       "checkpoint": anchor}}
    write_atomic(work / "manifest.json", Manifest.sign(body, app.signer).to_bytes())
    os.chmod(work, 0o500)
    os.rename(work, d.generations_dir / gen)
    _fsync(d.generations_dir)

    # 5. the current vault (kept apart from the immutable generations)
    vault.write(app, d)
    total = sum(f[1] for f in files.values()) + done_bytes
    return BackupResult(d.root, gen, len(files) + len(blobs), total, new, new_bytes,
                        time.monotonic() - t0, head.size)


# Copy-and-hash workers: the kernel copy and SHA-256 run outside the GIL, so two cores copy
# about twice as fast as one; more threads than cores only add seeks.
_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _copy_blob(store: BlobStore, name: str, path: Path) -> list[Any]:
    """Copy one sealed blob into DEST (read-only, via a temporary name); [sha256, size] of the
    bytes as they are in DEST. A filesystem store is copied by the kernel (copy_file_range,
    as `cp` does) and the copy is hashed from the page cache."""
    local = getattr(store, "local_path", None)
    # A blob still in a pack segment (kura.blobs.pack, not yet compacted) has no file of its
    # own: it is read through the store.
    if local is None or not hasattr(os, "copy_file_range") or not os.path.exists(local(name)):
        data = store.get(name)
        write_atomic(path, data, fsync=False)
        return [hashlib.sha256(data).hexdigest(), len(data)]
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        try:
            src = os.open(local(name), os.O_RDONLY)
        except FileNotFoundError:
            from kura.errors import NotFound
            raise NotFound(f"blob {name} is missing") from None
        try:
            dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _kernel_copy(src, dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        sha, n = _hash(tmp)
        os.chmod(tmp, 0o400)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return [sha, n]


_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _kernel_copy(src: int, dst: int) -> None:
    """copy_file_range, as cp does; a plain read/write loop where the kernel cannot (another
    filesystem on an older kernel: EXDEV — the usual case for a backup disk)."""
    size = os.fstat(src).st_size
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done)
            if n == 0:
                break
            done += n
        return
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
    os.lseek(src, done, os.SEEK_SET)
    os.lseek(dst, done, os.SEEK_SET)
    while chunk := os.read(src, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]


def _hash(path: Path) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _durable(d: Destination, written: list[Path]) -> None:
    """Flush what this run wrote: file by file when it is little (an incremental run; a
    syncfs would also wait for every other writer's data on a shared disk), else one syncfs."""
    if len(written) > 32:
        sync_fs(d.root)
        return
    for path in written:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    folders: set[Path] = set()
    for p in written:  # new folders too: their entries live in their parents
        folders.update(q for q in p.parents if q == d.root or d.root in q.parents)
    for folder in folders:
        _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ledger_head_sql() -> Select[Any]:
    from sqlalchemy import select

    from kura.ledger.models import LedgerHead
    h = LedgerHead.__table__
    return select(h.c.size, h.c.chain_hash, h.c.frontier).where(h.c.id == 1)


def _signing_pem(app: App) -> str:
    # The restored home must go on signing checkpoints with the same key, or its old
    # checkpoints would no longer verify; the kit holds only the public half to check it.
    return app.signer.private_pem()


def _config_text(app: App) -> str:
    from kura.config import CONFIG_FILE
    try:
        return (app.settings.home / CONFIG_FILE).read_text(encoding="utf-8")
    except OSError:
        return "[kura]\n"
