"""Content-addressed blob stores. Keys are the SHA-256 of the plaintext; values are sealed bytes.

FilesystemStore writes temp file + fsync + rename + directory fsync, so a blob that `put`
returned for is durable (an acknowledged C-STORE survives a crash).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator, Protocol

from kura.errors import NotFound

__all__ = ["BlobStore", "FilesystemStore", "MemoryStore", "Finding"]


class BlobStore(Protocol):
    """`put` returns once the blob is durable. `stage` may defer that to the next `sync`,
    which makes every blob staged before it durable at once (kura.blobs.pack)."""

    def put(self, name: str, data: bytes) -> None: ...
    def stage(self, name: str, data: bytes) -> None: ...
    def sync(self) -> None: ...
    def get(self, name: str) -> bytes: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...
    def names(self) -> Iterator[str]: ...


class Finding(str):
    """A problem line from an integrity check that names the blob it concerns (or None), so
    `kura scrub --repair` knows which object to fetch from a replica or backup."""

    blob: str | None

    def __new__(cls, text: str, blob: str | None = None) -> Finding:
        self = super().__new__(cls, text)
        self.blob = blob
        return self


def _check(name: str) -> str:
    if len(name) < 8 or not all(c in "0123456789abcdef-_." for c in name):
        raise ValueError(f"bad blob name {name!r}")
    return name


class FilesystemStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        _check(name)
        return self.root / name[:2] / name[2:4] / name

    def local_path(self, name: str) -> Path:
        """The file that holds blob `name`, for copies the kernel does (backups)."""
        return self._path(name)

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def stage(self, name: str, data: bytes) -> None:
        self.put(name, data)

    def sync(self) -> None:
        pass

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {name} is missing") from None

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/??/*")):
            if not path.name.startswith(".tmp-"):
                yield path.name


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def put(self, name: str, data: bytes) -> None:
        self._data.setdefault(_check(name), data)

    def stage(self, name: str, data: bytes) -> None:
        self.put(name, data)

    def sync(self) -> None:
        pass

    def get(self, name: str) -> bytes:
        try:
            return self._data[name]
        except KeyError:
            raise NotFound(f"blob {name} is missing") from None

    def exists(self, name: str) -> bool:
        return name in self._data

    def delete(self, name: str) -> None:
        self._data.pop(name, None)

    def names(self) -> Iterator[str]:
        yield from sorted(self._data)
