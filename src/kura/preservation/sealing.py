"""Subkeys of the master key and streamed AES-GCM files for backups (no plain byte in DEST).

A backup file is sealed in chunks so a database snapshot of any size streams through a fixed
amount of memory: b"KBS1" + 16-byte file id, then chunks of (4-byte length, ciphertext+tag).
Each file gets its own key, HKDF(backup subkey, file id), so counter nonces never repeat
under one key; each chunk's AAD binds its label, its index and whether it is the last, so
chunks cannot be reordered, moved between files or cut off unnoticed.
"""

from __future__ import annotations

import os
import struct
from typing import Iterator, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kura.errors import IntegrityFailure

__all__ = ["subkey", "SealedWriter", "open_stream", "seal_bytes", "open_bytes", "BACKUP_KEY_INFO", "Sink", "Source"]

MAGIC = b"KBS1"
CHUNK = 1 << 20
BACKUP_KEY_INFO = "kura backup v1"


class Sink(Protocol):
    """Where bytes are written: a file, or a wrapper that hashes or seals them on the way."""

    def write(self, data: bytes, /) -> object: ...


class Source(Protocol):
    """Where bytes are read from: a file, or a wrapper that hashes them on the way."""

    def read(self, n: int = ..., /) -> bytes: ...


def subkey(master: bytes, info: str) -> bytes:
    """A 256-bit key derived from the master key (HKDF-SHA256, RFC 5869); never stored."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(master)


def _file_key(key: bytes, file_id: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id, info=b"kura backup file").derive(key))


def _aad(label: str, index: int, last: bool) -> bytes:
    return f"{label}\0{index}\0{int(last)}".encode()


def _nonce(index: int) -> bytes:
    return struct.pack(">4xQ", index)


class SealedWriter:
    """Write plaintext in; sealed chunks go to `out`. `close()` writes the final chunk."""

    def __init__(self, out: Sink, key: bytes, label: str) -> None:
        self._out, self._label = out, label
        file_id = os.urandom(16)
        self._aead = _file_key(key, file_id)
        self._buf = bytearray()
        self._index = 0
        out.write(MAGIC + file_id)

    def write(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) > CHUNK:
            self._emit(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), chunk, _aad(self._label, self._index, last))
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf.clear()


def open_stream(src: Source, key: bytes, label: str) -> Iterator[bytes]:
    """Yield the plaintext chunks; raises IntegrityFailure on a wrong key, an altered,
    reordered or truncated file."""
    head = src.read(20)
    if len(head) != 20 or head[:4] != MAGIC:
        raise IntegrityFailure(f"{label}: not a kura sealed file")
    aead = _file_key(key, head[4:])
    index = 0
    while True:
        size = src.read(4)
        if len(size) != 4:
            raise IntegrityFailure(f"{label}: truncated (no final chunk)")
        (n,) = struct.unpack(">I", size)
        sealed = src.read(n)
        if len(sealed) != n:
            raise IntegrityFailure(f"{label}: truncated")
        for last in (False, True):
            try:
                plain = aead.decrypt(_nonce(index), sealed, _aad(label, index, last))
            except InvalidTag:
                continue
            break
        else:
            raise IntegrityFailure(f"{label}: failed authentication (wrong key or altered data)")
        yield plain
        index += 1
        if last:
            if src.read(1):
                raise IntegrityFailure(f"{label}: data after the final chunk")
            return


def seal_bytes(key: bytes, label: str, data: bytes) -> bytes:
    import io
    buf = io.BytesIO()
    w = SealedWriter(buf, key, label)
    w.write(data)
    w.close()
    return buf.getvalue()


def open_bytes(key: bytes, label: str, data: bytes) -> bytes:
    import io
    return b"".join(open_stream(io.BytesIO(data), key, label))
