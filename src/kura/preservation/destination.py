"""A backup destination's layout, its lock, atomic read-only files, and signed manifests.

    DEST/KURA-BACKUP                  what this folder is (format, the home's key id); no patient data
    DEST/blobs/ab/cd/<name>           sealed blobs, shared by every generation (content addressed)
    DEST/generations/<UTC time>/      one complete generation: db.sealed, home.sealed, manifest.json
    DEST/generations/.partial-<time>/ a generation being written (or left by a killed run)
    DEST/vault.sealed                 the current key vault, rewritten atomically (never in a generation)
    DEST/verified.json                when each generation was last verified, and the result

Every file is written to a temporary name, fsynced and renamed, then made read-only; a
generation's manifest is written last, and only then is its folder renamed from .partial-,
so a killed backup never looks complete. Files are never modified in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kura.errors import Conflict, IntegrityFailure, Invalid
from kura.ledger.signing import Signer, verify_signature

__all__ = ["Destination", "Manifest", "write_atomic", "sync_fs", "GEN_RE", "FORMAT"]

FORMAT = "kura-backup v1"
GEN_RE = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


def sync_fs(path: Path) -> None:
    """Flush everything written to the filesystem holding `path` (syncfs(2); sync(2) elsewhere).
    One call instead of an fsync per blob: a generation is only complete once its manifest is
    written, which happens after this."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o400, fsync: bool = True) -> None:
    """Write `data` to `path` via a temporary file and rename; read-only afterwards."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


class Manifest:
    """The signed list of a generation's files and blobs, with their SHA-256 and size."""

    def __init__(self, body: dict[str, Any], key_id: str, signature: str) -> None:
        self.body, self.key_id, self.signature = body, key_id, signature

    @staticmethod
    def _message(body: dict[str, Any]) -> bytes:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def sign(cls, body: dict[str, Any], signer: Signer) -> Manifest:
        return cls(body, signer.key_id, signer.sign(b"kura-manifest v1\n" + cls._message(body)))

    def check(self, public_key: Ed25519PublicKey) -> None:
        """Raises IntegrityFailure unless the signature is this home's over this body."""
        if not verify_signature(public_key, b"kura-manifest v1\n" + self._message(self.body), self.signature):
            raise IntegrityFailure("manifest.json: bad signature (altered, or signed by another home)")

    def to_bytes(self) -> bytes:
        return json.dumps({"body": self.body, "key_id": self.key_id, "signature": self.signature},
                          sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            d = json.loads(data)
            return cls(d["body"], d["key_id"], d["signature"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityFailure("manifest.json: unreadable") from None


class Destination:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def generations_dir(self) -> Path:
        return self.root / "generations"

    def blob_path(self, name: str) -> Path:
        return self.blobs / name[:2] / name[2:4] / name

    def open_for_writing(self, key_id: str, kind: str) -> None:
        """Create the layout (or check it belongs to this home). Raises Invalid otherwise."""
        marker = self.root / "KURA-BACKUP"
        if marker.exists():
            info = json.loads(marker.read_text(encoding="utf-8"))
            if info.get("key_id") != key_id:
                raise Invalid(f"{self.root} holds the backups of another home (key {info.get('key_id')})")
            return
        if self.root.exists() and any(p for p in self.root.iterdir() if p.name != ".lock"):
            raise Invalid(f"{self.root} is neither empty nor a kura backup destination")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.blobs.mkdir(exist_ok=True)
        self.generations_dir.mkdir(exist_ok=True)
        write_atomic(marker, json.dumps({"format": FORMAT, "key_id": key_id, "kind": kind}).encode() + b"\n",
                     mode=0o444)

    def info(self) -> dict[str, Any]:
        try:
            info: dict[str, Any] = json.loads((self.root / "KURA-BACKUP").read_text(encoding="utf-8"))
            return info
        except (OSError, ValueError):
            raise Invalid(f"{self.root} is not a kura backup destination") from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One writer (backup, prune, replicate, verify's record) at a time. Raises Conflict."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(f"another backup, prune or replication is using {self.root}") from None
            yield
        finally:
            os.close(fd)

    def generations(self) -> list[str]:
        """Complete generations, oldest first."""
        if not self.generations_dir.is_dir():
            return []
        return sorted(p.name for p in self.generations_dir.iterdir()
                      if GEN_RE.match(p.name) and (p / "manifest.json").is_file())

    def partials(self) -> list[Path]:
        if not self.generations_dir.is_dir():
            return []
        return [p for p in self.generations_dir.iterdir() if p.name.startswith(".partial-")]

    def manifest(self, generation: str) -> Manifest:
        path = self.generations_dir / generation / "manifest.json"
        try:
            return Manifest.from_bytes(path.read_bytes())
        except FileNotFoundError:
            raise IntegrityFailure(f"generations/{generation}/manifest.json: missing") from None

    def new_generation_name(self, now: dt.datetime) -> str:
        base = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        taken = set(self.generations()) | {p.name.removeprefix(".partial-") for p in self.partials()}
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def remove_tree(self, path: Path) -> None:
        """Remove a generation folder (its files are read-only; the folder is made writable first)."""
        for p in [path, *path.rglob("*")]:
            if p.is_dir():
                os.chmod(p, stat.S_IRWXU)
        shutil.rmtree(path)

    def verifications(self) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads((self.root / "verified.json").read_text(encoding="utf-8"))
            return found
        except (OSError, ValueError):
            return {}

    def note_verification(self, generation: str, at: str, ok: bool, problems: int) -> None:
        data = self.verifications()
        data[generation] = {"at": at, "ok": ok, "problems": problems}
        data = {k: v for k, v in data.items() if k in set(self.generations())}
        write_atomic(self.root / "verified.json", json.dumps(data, sort_keys=True).encode(), mode=0o600)
