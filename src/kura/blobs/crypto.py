"""AES-256-GCM envelopes: a per-patient data key (DEK) wrapped by the home's master key.

Destroying a patient's wrapped DEK makes every copy of that patient's blobs unreadable,
backups included (crypto-shredding, R79).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kura.errors import IntegrityFailure

__all__ = ["new_key", "seal", "open_sealed", "wrap_key", "unwrap_key", "KEY_ID_BYTES", "seal_for",
           "key_id_of", "open_for"]

_VERSION = b"K1"
_K2 = b"K2"
KEY_ID_BYTES = 16


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate: b"K1" || nonce(12) || ciphertext+tag."""
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if sealed[:2] != _VERSION:
        raise IntegrityFailure("unknown envelope format")
    try:
        return AESGCM(key).decrypt(sealed[2:14], sealed[14:], aad)
    except InvalidTag:
        raise IntegrityFailure("envelope failed authentication (wrong key or altered data)") from None


def wrap_key(master: bytes, dek: bytes, label: str) -> bytes:
    return seal(master, dek, b"dek:" + label.encode())


def unwrap_key(master: bytes, wrapped: bytes, label: str) -> bytes:
    return open_sealed(master, wrapped, b"dek:" + label.encode())


# K2 envelopes name the data key that opens them, so any reader (scrub, backup verify,
# disposal) finds the key without knowing whose data it is:
#   b"K2" || key id (16) || nonce (12) || ciphertext+tag; the header is authenticated too.

def seal_for(key_id: bytes, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    if len(key_id) != KEY_ID_BYTES:
        raise ValueError("a key id has 16 bytes")
    header = _K2 + key_id
    nonce = os.urandom(12)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def key_id_of(sealed: bytes) -> bytes | None:
    """The key id of a K2 envelope; None for the older K1 envelopes (which name no key)."""
    if sealed[:2] == _K2 and len(sealed) >= 2 + KEY_ID_BYTES + 12 + 16:
        return sealed[2:2 + KEY_ID_BYTES]
    return None


def open_for(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if sealed[:2] == _VERSION:
        return open_sealed(key, sealed, aad)
    if key_id_of(sealed) is None:
        raise IntegrityFailure("unknown envelope format")
    header, nonce, body = sealed[:18], sealed[18:30], sealed[30:]
    try:
        return AESGCM(key).decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise IntegrityFailure("envelope failed authentication (wrong key or altered data)") from None
