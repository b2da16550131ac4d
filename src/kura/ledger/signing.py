"""Ed25519 signatures over checkpoints and signed documents (disposal certificates, review
reports); the key pair lives in the home's keys folder."""

from __future__ import annotations

import dataclasses
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["Signer", "checkpoint_message", "verify_signature", "key_id", "DocumentSignature", "verify_document"]


def checkpoint_message(tree_size: int, root_hex: str, at_iso: str) -> bytes:
    return f"kura-checkpoint v1\n{tree_size}\n{root_hex}\n{at_iso}\n".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def private_pem(self) -> str:
        """For sealed backups only (kura.preservation); never logged or shown."""
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature_hex: str) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclasses.dataclass(frozen=True)
class DocumentSignature:
    """A detached Ed25519 signature over a document's bytes (a PDF), published as one line
    ``<kind> sha256=<hex> key=<key id> sig=<hex>`` — e.g. ``kura-disposal-certificate v1 …``
    — so anyone with the home's public key can check the document."""

    kind: str
    sha256: str
    key_id: str
    signature: str

    def line(self) -> str:
        return f"{self.kind} sha256={self.sha256} key={self.key_id} sig={self.signature}"

    @classmethod
    def of(cls, signer: Signer, kind: str, data: bytes) -> DocumentSignature:
        return cls(kind, sha256(data).hexdigest(), signer.key_id, signer.sign(data))

    @classmethod
    def parse(cls, text: str, kinds: tuple[str, ...]) -> DocumentSignature:
        """Raises ValueError naming what is wrong with the line."""
        text = text.strip()
        kind = next((k for k in kinds if text.startswith(k + " ")), None)
        if kind is None:
            raise ValueError(f"not a kura signature line (it starts with {' or '.join(repr(k) for k in kinds)})")
        fields = dict(p.split("=", 1) for p in text[len(kind):].split() if "=" in p)
        try:
            return cls(kind, fields["sha256"], fields["key"], fields["sig"])
        except KeyError:
            raise ValueError("the signature line lacks sha256=, key= or sig=") from None


def verify_document(public_key: Ed25519PublicKey, key_id: str, data: bytes, sig: DocumentSignature) -> list[str]:
    """Problems found (empty: `data` is the document this home signed)."""
    problems = []
    if sig.key_id != key_id:
        problems.append(f"signed by key {sig.key_id}, not this home's key {key_id}")
    if sha256(data).hexdigest() != sig.sha256:
        problems.append("the document's SHA-256 differs from the signed one")
    if not verify_signature(public_key, data, sig.signature):
        problems.append("the Ed25519 signature does not verify")
    return problems
