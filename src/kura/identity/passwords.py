"""Argon2id password hashing (RFC 9106) and the password rules (R5, MHLW guideline 6.0)."""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["hash_password", "verify_password", "needs_rehash", "password_problem", "dummy_hash"]

_hasher = PasswordHasher()  # argon2-cffi defaults: Argon2id, RFC 9106 low-memory profile


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so both paths cost the same (R7).
    Made on first use, not at import: an Argon2id hash takes half a second, and every CLI
    command imports this module."""
    return _hasher.hash("kura-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


@functools.cache
def _common() -> frozenset[str]:
    text = resources.files("kura.identity").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def password_problem(password: str, *, username: str, min_length: int) -> str | None:
    """Why `password` is not acceptable, or None. The message is shown to the user."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters"
    if len(password) > 256:
        return "password must be at most 256 characters"
    if any(unicodedata.category(c).startswith("C") for c in password):
        return "password must not contain control characters"
    folded = unicodedata.normalize("NFKC", password).casefold()
    if username and username.casefold() in folded:
        return "password must not contain the user name"
    if folded in _common() or folded.rstrip("0123456789!") in _common():
        return "password is too common"
    if len(set(folded)) < 4:
        return "password has too few different characters"
    return None
