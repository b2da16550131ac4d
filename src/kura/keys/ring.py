"""The key ring: the master key, its derived subkeys and a cache of unwrapped data keys.

One per application (kura.app.Kura.keyring); no module-level state. The cache is bounded and
entries expire, so a key shredded by another kura process stops working here within
``ttl`` seconds even without a purge (the process that shreds purges at once).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KeyRing", "derive", "BLIND_INFO", "VAULT_INFO"]

BLIND_INFO = b"kura blind index v1"
VAULT_INFO = b"kura key vault v1"


def derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class KeyRing:
    def __init__(self, master: bytes, *, ttl: float = 60.0, max_keys: int = 10_000):
        self.master = master
        self.blind_key = derive(master, BLIND_INFO)
        self.vault_key = derive(master, VAULT_INFO)
        self._ttl, self._max = ttl, max_keys
        self._lock = threading.Lock()
        self._by_id: dict[bytes, tuple[bytes, float]] = {}  # key id -> (data key, expiry)
        self._primary: dict[str, tuple[bytes, float]] = {}  # owner -> (key id, expiry)

    def get(self, key_id: bytes) -> bytes | None:
        with self._lock:
            hit = self._by_id.get(key_id)
            if hit is None or hit[1] < time.monotonic():
                return None
            return hit[0]

    def primary(self, owner: str) -> tuple[bytes, bytes] | None:
        """(key id, data key) of the owner's sealing key, when cached and fresh."""
        with self._lock:
            hit = self._primary.get(owner)
            if hit is None or hit[1] < time.monotonic():
                return None
            key = self._by_id.get(hit[0])
            return (hit[0], key[0]) if key else None

    def remember(self, key_id: bytes, key: bytes, *, primary_of: str | None = None) -> None:
        expiry = time.monotonic() + self._ttl
        with self._lock:
            if len(self._by_id) >= self._max:
                self._by_id.clear()
                self._primary.clear()
            self._by_id[key_id] = (key, expiry)
            if primary_of is not None:
                self._primary[primary_of] = (key_id, expiry)

    def purge(self, key_ids: list[bytes] | None = None) -> None:
        """Forget the given keys (all keys when None): after a shred, or on demand."""
        with self._lock:
            if key_ids is None:
                self._by_id.clear()
                self._primary.clear()
                return
            for key_id in key_ids:
                self._by_id.pop(key_id, None)
            for owner in [o for o, (k, _) in self._primary.items() if k in key_ids]:
                del self._primary[owner]

    def blind(self, kind: str, value: str) -> str:
        """A keyed token for a blind index: equal inputs give equal tokens, and the token
        reveals nothing without the master key (HMAC-SHA256, truncated to 128 bits)."""
        mac = hmac.new(self.blind_key, kind.encode() + b"\x00" + value.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]
