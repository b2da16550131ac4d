"""The recovery kit (復旧キット): the master key and the signing key's public half, on paper.

The kit is what a restore on another machine needs (`backup restore --key-file`): the master
key opens the sealed backups and the key vault; the public key checks, before anything is
trusted, that a backup's manifest was signed by this home. It is printable text with a QR
code of the same line, for the system administrator to keep offline (e.g. in a safe).
"""

from __future__ import annotations

import base64
import dataclasses
import io
from hashlib import sha256

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Invalid
from kura.ledger.signing import key_id
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["Kit", "export_kit", "parse_kit"]

PREFIX = "KURA-KIT1"


@dataclasses.dataclass(frozen=True)
class Kit:
    master_key: bytes
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def line(self) -> str:
        """One line holding both keys and a check: what the QR code encodes."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"{PREFIX}:{_b32(self.master_key)}:{_b32(raw)}:{_check(self.master_key, raw)}"

    def text(self, *, home: str, at: str) -> str:
        import segno

        qr = io.StringIO()
        segno.make(self.line(), error="m").terminal(out=qr, compact=True, border=2)
        master = _b32(self.master_key)
        groups = " ".join(master[i:i + 4] for i in range(0, len(master), 4))
        return "\n".join([
            "kura 復旧キット (recovery kit) — 厳重保管: オフラインで保管すること",
            f"home: {home}",
            f"created: {at}",
            f"signing key id: {self.key_id}",
            "",
            "master key (base32):",
            f"  {groups}",
            "",
            "line (the QR code holds the same):",
            self.line(),
            "",
            qr.getvalue(),
            "Restore: kura backup restore DEST --into DIR --key-file THIS-FILE",
            "",
        ])


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    text = text.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _check(master: bytes, public: bytes) -> str:
    return sha256(master + public).hexdigest()[:8]


def export_kit(ctx: Context) -> Kit:
    """The home's kit. Ledger: OpsKeyExported (who took the master key, and when).
    Raises Denied without Action.OpsKeyExport."""
    target = Target(kind="Key", id="master")
    ctx.require(Action.OpsKeyExport, target)
    ctx.record(LedgerTag.OpsKeyExported, target=target, detail={"key_id": ctx.signer.key_id})
    return Kit(ctx.master_key, ctx.signer.public_key)


def parse_kit(text: str) -> Kit:
    """Find the KURA-KIT1 line in a kit's text (a typed-in copy works too). Raises Invalid."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(PREFIX + ":"):
            continue
        parts = line.split(":")
        if len(parts) != 4:
            break
        try:
            master, public = _unb32(parts[1]), _unb32(parts[2])
        except ValueError:
            break
        if len(master) != 32 or len(public) != 32:
            break
        if _check(master, public) != parts[3].lower():
            raise Invalid("the recovery kit's check digits do not match (a typing error?)")
        return Kit(master, Ed25519PublicKey.from_public_bytes(public))
    raise Invalid("no valid KURA-KIT1 line in the key file")
