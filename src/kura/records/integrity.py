"""`kura audit verify --deep` for the records store (R37, R44): re-hash every stored version.

Each version's bytes must hash to the SHA-256 stored with it, and that hash must be the
digest the ledger committed when the version was written (the create/update/confirm entry,
or for a Provenance the entry of the change it describes). Attachments are decrypted and
re-hashed against their recorded SHA-256, which the ledger committed too. Reads no content
for anyone: it only reports problem lines, so the operator running it sees no patient data.
"""

from __future__ import annotations

import json
from typing import Iterable

from sqlalchemy import select

from kura.blobs.store import Finding
from kura.errors import KuraError
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments
from kura.records.canonical import sha256_hex
from kura.records.models import Attachment, Record, RecordVersion

__all__ = ["deep_check"]

_WRITES = (LedgerTag.RecordsRecordCreated, LedgerTag.RecordsRecordUpdated, LedgerTag.RecordsRecordConfirmed)


def _committed(ctx: Context) -> tuple[dict[tuple[str, str, int], str], set[str]]:
    """(kind, id, version) -> digest the ledger committed; and the committed attachment hashes."""
    versions: dict[tuple[str, str, int], str] = {}
    blobs: set[str] = set()
    stmt = (select(LedgerEntry.target_kind, LedgerEntry.target_id, LedgerEntry.digest, LedgerEntry.detail)
            .where(LedgerEntry.tag.in_([str(t) for t in _WRITES])).execution_options(yield_per=5000))
    for kind, id, digest, detail in ctx.session.execute(stmt):
        d = json.loads(detail or "{}")
        if kind == "Binary":
            if digest:
                blobs.add(digest)
            continue
        if "version" in d and digest:
            versions[(kind, id, int(d["version"]))] = digest
        prov = d.get("provenance")
        if isinstance(prov, dict):
            versions[("Provenance", prov["id"], 1)] = prov["digest"]
        blobs.update(d.get("attachments") or [])
    return versions, blobs


def deep_check(ctx: Context) -> Iterable[str]:
    committed, att_hashes = _committed(ctx)
    problems: list[str] = []
    stmt = (select(Record.rtype, Record.logical_id, RecordVersion.number, RecordVersion.content,
                   RecordVersion.blob, RecordVersion.sha256)
            .join(RecordVersion, RecordVersion.record_pk == Record.pk).execution_options(yield_per=2000))
    for rtype, id, number, content, blob, recorded in ctx.session.execute(stmt):
        name = f"{rtype}/{id}/_history/{number}"
        try:
            data = content if content is not None else ctx.blobs.get(blob)
        except KuraError as exc:
            problems.append(Finding(f"{name}: content missing ({exc})", blob))
            continue
        actual = sha256_hex(data)
        if actual != recorded:
            problems.append(Finding(f"{name}: content does not match its recorded SHA-256", blob))
        ledger = committed.get((rtype, id, number))
        if ledger is None:
            problems.append(f"{name}: no ledger entry commits this version")
        elif ledger != recorded or ledger != actual:
            problems.append(f"{name}: differs from the SHA-256 the ledger committed")
    for att in ctx.session.scalars(select(Attachment)):
        try:
            attachments.read(ctx, att)
        except KuraError as exc:
            problems.append(Finding(f"Binary/{att.id}: {exc}", att.blob))
            continue
        if att.record_pk is not None and att.sha256 not in att_hashes:
            problems.append(f"Binary/{att.id}: its SHA-256 was never committed to the ledger")
    return problems
