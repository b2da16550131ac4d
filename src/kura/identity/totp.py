"""RFC 6238 TOTP: 30-second steps, 6 digits, one step of drift either way, no replay."""

from __future__ import annotations

import datetime as dt
import hmac

import pyotp

__all__ = ["new_secret", "provisioning_uri", "accepted_step", "code_at"]

STEP = 30
DRIFT = 1  # steps accepted either side of now


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str = "kura") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def code_at(secret: str, at: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def accepted_step(secret: str, code: str, *, now: dt.datetime, last_step: int) -> int | None:
    """The time step `code` belongs to, if valid and newer than `last_step` (RFC 6238 §5.2)."""
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(now.timestamp()) // STEP
    found = None
    for step in range(now_step - DRIFT, now_step + DRIFT + 1):
        # compare every candidate, so timing does not reveal which step matched
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or found <= last_step:
        return None
    return found
