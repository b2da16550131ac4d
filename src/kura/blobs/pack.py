"""Pack segments: new blobs made durable together, with one fdatasync for a whole group.

A blob written by `FilesystemStore.put` costs two synchronous writes (the file, then its
directory for the rename) — per instance, on the path of every acknowledgement. `stage`
instead appends the sealed blob to the process's current pack segment, and `sync` makes
every staged blob durable with one fdatasync: the image archive's ingest stages the blobs of
a group commit and syncs once, before the database commit that references them. `compact`
later copies packed blobs into the ordinary file layout (each durable, off the path of any
acknowledgement) and removes the segment; until then `get` reads them from the segment. The layout on disk stays the one
content-addressed tree that backups, scrub and `audit verify --deep` read.

A segment is a sequence of records: b"KPK1", the name's length (2 bytes) and the blob's
length (8 bytes) and CRC-32 (4 bytes), big-endian, then the name and the blob. A segment
cut short at any byte (a crash mid-append) yields its whole records and ignores the rest:
nothing acknowledged is lost, because an instance is acknowledged only after the fdatasync
that covered its record. The process appending to a segment holds an flock on it, so
`compact` in another process (or after a restart) takes only segments nobody writes.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Iterator

from kura.blobs.store import FilesystemStore, _check
from kura.errors import NotFound

__all__ = ["PackedStore", "MAGIC", "read_segment"]

MAGIC = b"KPK1"
_HEAD = struct.Struct(">4sHQI")
SEGMENT_MAX = 64 << 20  # a segment is rolled (and then compacted) past this size


def read_segment(path: Path, start: int = 0) -> Iterator[tuple[str, int, int, int]]:
    """(name, offset of the blob, length, end of the record) of each whole record from byte
    `start` on, in order; stops at the first record that is cut short or does not check (the
    tail of an interrupted append)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read()
    at = 0
    while at + _HEAD.size <= len(data):
        magic, name_len, length, crc = _HEAD.unpack_from(data, at)
        begin = at + _HEAD.size + name_len
        if magic != MAGIC or begin + length > len(data):
            return
        try:
            name = _check(data[at + _HEAD.size:begin].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return
        if zlib.crc32(data[begin:begin + length]) != crc:
            return
        at = begin + length
        yield name, start + begin, length, start + at


class PackedStore(FilesystemStore):
    """The filesystem store, plus pack segments for blobs staged in groups (see the module)."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.packs = self.root / "packs"
        self.packs.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._compacting = threading.Lock()
        self._index: dict[str, tuple[Path, int, int]] = {}
        self._scanned: dict[Path, int] = {}  # segment → bytes read (whole records)
        self._current: tuple[Path, int] | None = None  # (segment, fd)
        self._size = 0

    # -- staging ------------------------------------------------------------------------
    def stage(self, name: str, data: bytes) -> None:
        """Append a blob to the current segment; durable only after `sync`."""
        head = _HEAD.pack(MAGIC, len(name), len(data), zlib.crc32(data))
        record = head + _check(name).encode("ascii") + data
        with self._lock:
            path, fd = self._segment()
            offset = self._size + len(head) + len(name)
            os.write(fd, record)
            self._size += len(record)
            self._index[name] = (path, offset, len(data))

    def sync(self) -> None:
        """Make every staged blob durable (one fdatasync)."""
        with self._lock:
            if self._current is not None:
                os.fdatasync(self._current[1])

    def _segment(self) -> tuple[Path, int]:
        if self._current is None:
            path = self.packs / f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.pack"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # ours while we append: no compaction elsewhere
            dir_fd = os.open(self.packs, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the segment's name is durable before anything in it counts
            finally:
                os.close(dir_fd)
            self._current, self._size = (path, fd), 0
        return self._current

    # -- reading ------------------------------------------------------------------------
    def get(self, name: str) -> bytes:
        try:
            return super().get(name)
        except NotFound:
            where = self._find(name)
            if where is None:
                raise
        path, offset, length = where
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
        except FileNotFoundError:  # compacted meanwhile: the file is there now
            return super().get(name)
        if len(data) != length:
            raise NotFound(f"blob {name} is cut short in {path.name}")
        return data

    def exists(self, name: str) -> bool:
        return super().exists(name) or self._find(name) is not None

    def delete(self, name: str) -> None:
        # A packed blob is moved into the file layout first and deleted there: deleting only
        # the file would let a later compaction copy it back from its segment (a disposed
        # patient's blob must leave the live home, R79).
        if super().exists(name) is False and self._find(name) is not None:
            self.compact()
        super().delete(name)
        with self._lock:
            self._index.pop(name, None)

    def names(self) -> Iterator[str]:
        self._scan()
        with self._lock:
            packed = set(self._index)
        yield from sorted(set(super().names()) | packed)

    def _find(self, name: str) -> tuple[Path, int, int] | None:
        with self._lock:
            where = self._index.get(name)
        if where is None:
            self._scan()  # written by another process since we last looked
            with self._lock:
                where = self._index.get(name)
        return where

    def _scan(self) -> None:
        """Index the records other processes (or this one before a restart) packed: only
        what was appended since the last look is read."""
        for path in sorted(self.packs.glob("*.pack")):
            with self._lock:
                if self._current is not None and path == self._current[0]:
                    continue  # ours: indexed as staged
                done = self._scanned.get(path, 0)
            try:
                if path.stat().st_size == done:
                    continue
                found = list(read_segment(path, done))
            except FileNotFoundError:
                continue
            with self._lock:
                for name, offset, length, end in found:
                    self._index.setdefault(name, (path, offset, length))
                    done = end
                self._scanned[path] = done

    # -- compaction ---------------------------------------------------------------------
    def compact(self) -> int:
        """Copy every packed blob of segments no process appends to into the file layout
        (each file durable, as `put` writes it), then remove those segments. Rolls this process's
        current segment first. Returns the number of blobs copied. Safe to run at any time,
        also after a crash (a segment cut short gives up its whole records only)."""
        with self._compacting:
            with self._lock:
                if self._current is not None:
                    path, fd = self._current
                    os.fdatasync(fd)
                    os.close(fd)  # releases the flock: the segment is closed
                    self._scanned[path] = self._size
                    self._current = None
            done, copied = [], 0
            for path in sorted(self.packs.glob("*.pack")):
                fd = os.open(path, os.O_RDONLY)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # another process still appends to it
                    with open(path, "rb") as fh:
                        data = fh.read()
                    for name, offset, length, _ in read_segment(path):
                        if not super().exists(name):
                            super().put(name, data[offset:offset + length])
                            copied += 1
                    done.append((path, fd))
                    fd = -1
                finally:
                    if fd >= 0:
                        os.close(fd)
            if not done:
                return copied
            for path, fd in done:
                path.unlink(missing_ok=True)
                os.close(fd)
            dir_fd = os.open(self.packs, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            with self._lock:
                gone = {p for p, _ in done}
                self._index = {n: w for n, w in self._index.items() if w[0] not in gone}
                for path in gone:
                    self._scanned.pop(path, None)
            return copied
