"""AES-256-GCM envelopes: a per-patient data key (DEK) wrapped by the home's master key.

Destroying a patient's wrapped DEK makes every copy of that patient's blobs unreadable,
backups included (crypto-shredding, R79).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kura.errors import IntegrityFailure

__all__ = ["new_key", "seal", "open_sealed", "wrap_key", "unwrap_key"]

_VERSION = b"K1"


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
