"""Record versions sealed at rest, and opened only when they are what was written (R37, R44).

A version's canonical JSON is sealed with kura.keys.service.seal under the owner of its
record — the patient's data keys ("patient:<Patient id>"), or the home's key for records that
name no patient (Practitioner) — in a K2 envelope whose AAD binds the record type and id, the
version number, the patient, and the version's status, confidentiality label and management
class. A stolen database file shows no content; destroying the patient's keys makes every
version unreadable (crypto-shredding); changing any bound column makes the envelope fail.

Every read opens through `open_version`: the AEAD tag must hold, the plaintext must hash to
the recorded SHA-256 (the digest the ledger committed), and the record row's label, class
and status must equal its current version's (`check_record`), so lowering
`record.confidentiality` with one SQL UPDATE is caught before anything is served. On any
mismatch the reader gets IntegrityFailure and the ledger a RecordsRecordTampered security
alert (written even though the reader's unit of work rolls back) — never the altered data.
"""

from __future__ import annotations

from typing import Any

from kura.access.policy import Target
from kura.errors import IntegrityFailure
from kura.keys import service as keys
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.canonical import sha256_hex
from kura.records.models import Record, RecordVersion

__all__ = ["owner_of", "aad_of", "seal_content", "open_version", "check_record", "tampered", "MESSAGE"]

# What the user is told (FHIR OperationOutcome diagnostics / the error page): both languages,
# since the same text reaches API clients and the Japanese-first UI.
MESSAGE = ("保存された記録の整合性検証に失敗したため表示できません。改ざんの疑いがあり、セキュリティ警告を記録しました。"
           " / The stored record failed its integrity check and is not shown; it may have been altered."
           " A security alert has been recorded.")


def owner_of(patient_id: str | None) -> str:
    """Whose data keys seal a record: its patient's, or the home's when it names no patient."""
    return keys.owner_of_patient(patient_id) if patient_id else keys.HOME


def aad_of(*, rtype: str, logical_id: str, number: int, patient_id: str | None, status: str, label: str,
           class_code: str | None) -> bytes:
    """The associated data an envelope is bound to (format v1; fields joined by U+001F)."""
    return "\x1f".join(("kura-record-version-v1", rtype, logical_id, str(number), patient_id or "", status,
                        label, class_code or "")).encode()


def seal_content(ctx: Context, *, rtype: str, logical_id: str, number: int, patient_id: str | None,
                 status: str, label: str, class_code: str | None, plaintext: bytes) -> bytes:
    """The envelope stored as record_version.content. Raises Shredded (the owner's keys were destroyed)."""
    return keys.seal(ctx, owner_of(patient_id), plaintext,
                     aad_of(rtype=rtype, logical_id=logical_id, number=number, patient_id=patient_id,
                            status=status, label=label, class_code=class_code))


def tampered(ctx: Context, *, rtype: str, logical_id: str, patient_id: str | None, number: int | None,
             problem: str) -> IntegrityFailure:
    """Note a RecordsRecordTampered security alert (kept through a rollback) and return the
    IntegrityFailure to raise. `problem` names what failed, never any content."""
    name = f"{rtype}/{logical_id}" + (f"/_history/{number}" if number else "")
    ctx.alert(LedgerTag.RecordsRecordTampered, target=Target(kind=rtype, id=logical_id, patient_id=patient_id),
              reason=f"{name}: {problem}", detail={"version": number, "problem": problem})
    return IntegrityFailure(f"{name}: {MESSAGE}")


def open_version(ctx: Context, rec: Record, v: RecordVersion) -> bytes:
    """The verified plaintext of version `v` of record `rec`.

    A version written in this unit of work carries its plaintext already. Otherwise the
    envelope is opened (AEAD over the version's bound columns) and the plaintext re-hashed.
    Raises IntegrityFailure (ledger: RecordsRecordTampered, an alert), Shredded (disposed of).
    """
    plain: bytes | None = getattr(v, "plain", None)
    if plain is not None:
        return plain
    common: dict[str, Any] = dict(rtype=rec.rtype, logical_id=rec.logical_id, patient_id=rec.patient_id, number=v.number)
    sealed = v.content
    if not sealed or sealed[:1] == b"{":
        # A plaintext row after the sealing migration was put there by hand.
        raise tampered(ctx, **common, problem="content is not sealed")
    try:
        plain = keys.open(ctx, sealed, aad_of(rtype=rec.rtype, logical_id=rec.logical_id, number=v.number,
                                              patient_id=rec.patient_id, status=v.status, label=v.label,
                                              class_code=v.class_code))
    except IntegrityFailure:
        raise tampered(ctx, **common, problem="sealed content failed authentication (content, status, label, "
                                               "class or patient changed)") from None
    if sha256_hex(plain) != v.sha256:
        raise tampered(ctx, **common, problem="content does not match its recorded SHA-256")
    return plain


def check_record(ctx: Context, rec: Record, current: RecordVersion) -> None:
    """The record row's copies (what access decisions read) must equal its current version's
    bound columns; `current` must be opened too (open_version), which proves those columns.
    Raises IntegrityFailure (ledger: RecordsRecordTampered)."""
    for what, row_value, version_value in (("label", rec.confidentiality, current.label),
                                            ("management class", rec.class_code, current.class_code),
                                            ("status", rec.status, current.status)):
        if (row_value or None) != (version_value or None):
            raise tampered(ctx, rtype=rec.rtype, logical_id=rec.logical_id, patient_id=rec.patient_id,
                           number=current.number,
                           problem=f"the record's {what} {row_value!r} differs from its current version's "
                                   f"{version_value!r}")
