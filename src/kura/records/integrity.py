"""`kura audit verify --deep` for the records store (R37, R44): re-hash every stored version.

Each version's envelope must open (its AAD binds the version's type/id/number, patient,
status, label and class: records.sealing), its plaintext must hash to the SHA-256 stored
with it, and that hash must be the digest the ledger committed when the version was written
(the create/update/confirm entry, or for a Provenance the entry of the change it describes).
The label and status in the committed content's meta, and the label, class and status the
ledger entry names, must equal the version row's; each record row's label, class, status and
current version must equal its latest version's — so lowering a label with one SQL UPDATE,
anywhere, is reported. Each record's copy of its patient's label (and its name-index rows')
must equal the Patient's label. Versions whose keys were destroyed (disposed of) are skipped. Attachments are decrypted and
re-hashed against their recorded SHA-256, which the ledger committed too. Reads no content
for anyone: it only reports problem lines, so the operator running it sees no patient data.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from kura.blobs.store import Finding
from kura.errors import IntegrityFailure, KuraError, Shredded
from kura.keys import service as keys
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments
from kura.records.canonical import loads, sha256_hex
from kura.records.models import Attachment, Record, RecordVersion, SearchString
from kura.records.sealing import aad_of
from kura.records.store import CONFIDENTIALITY_SYSTEM, STATUS_SYSTEM

__all__ = ["deep_check"]

# (kind, id, version) -> (digest, the entry's detail); the ledger's target id is nullable
_Committed = dict[tuple[str, str | None, int], tuple[str, dict[str, Any]]]

_WRITES = (LedgerTag.RecordsRecordCreated, LedgerTag.RecordsRecordUpdated, LedgerTag.RecordsRecordConfirmed)


def _committed(ctx: Context) -> tuple[_Committed, set[str]]:
    """(kind, id, version) -> (digest, the entry's detail) the ledger committed; and the
    committed attachment hashes."""
    versions: _Committed = {}
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
            versions[(kind, id, int(d["version"]))] = (digest, d)
        prov = d.get("provenance")
        if isinstance(prov, dict):
            versions[("Provenance", prov["id"], 1)] = (prov["digest"], {})
        blobs.update(d.get("attachments") or [])
    return versions, blobs


def _meta(plain: bytes) -> tuple[str | None, str | None]:
    """(label, status) the content's meta states — committed by the digest with it."""
    meta = loads(plain).get("meta") or {}
    label = next((c.get("code") for c in meta.get("security") or []
                  if isinstance(c, dict) and c.get("system") == CONFIDENTIALITY_SYSTEM), None)
    status = next((c.get("code") for c in meta.get("tag") or []
                   if isinstance(c, dict) and c.get("system") == STATUS_SYSTEM), None)
    return label, status


def _version_problems(ctx: Context, committed: _Committed) -> list[str]:
    problems: list[str] = []
    stmt = (select(Record.rtype, Record.logical_id, Record.patient_id, RecordVersion.number, RecordVersion.content,
                   RecordVersion.blob, RecordVersion.sha256, RecordVersion.status, RecordVersion.label,
                   RecordVersion.class_code)
            .join(RecordVersion, RecordVersion.record_pk == Record.pk).execution_options(yield_per=2000))
    for rtype, id, patient_id, number, content, blob, recorded, status, label, class_code in ctx.session.execute(stmt):
        name = f"{rtype}/{id}/_history/{number}"
        try:
            if content is None:
                assert blob is not None  # a version's content is sealed in its row or in a blob
                data = ctx.blobs.get(blob)
            else:
                data = keys.open(ctx, content, aad_of(rtype=rtype, logical_id=id, number=number,
                                                      patient_id=patient_id, status=status, label=label,
                                                      class_code=class_code))
        except Shredded:
            continue  # disposed of: nothing left to check
        except IntegrityFailure:
            problems.append(f"{name}: sealed content fails authentication (its content, status, label, class "
                            f"or patient was changed)")
            continue
        except KuraError as exc:
            problems.append(Finding(f"{name}: content missing ({exc})", blob))
            continue
        actual = sha256_hex(data)
        if actual != recorded:
            problems.append(Finding(f"{name}: content does not match its recorded SHA-256", blob))
        if content is not None and _meta(data) != (label, status):
            problems.append(f"{name}: the stored label/status ({label}, {status}) differ from the content's")
        ledger = committed.get((rtype, id, number))
        if ledger is None:
            problems.append(f"{name}: no ledger entry commits this version")
            continue
        digest, detail = ledger
        if digest != recorded or digest != actual:
            problems.append(f"{name}: differs from the SHA-256 the ledger committed")
        for what, key, stored in (("label", "label", label), ("class", "class", class_code),
                                  ("status", "status", status)):
            if key in detail and (detail[key] or None) != (stored or None):
                problems.append(f"{name}: its {what} {stored!r} differs from the {detail[key]!r} the ledger committed")
    return problems


def _record_problems(ctx: Context) -> list[str]:
    """Each record row against its latest version (what access decisions read must be proven)."""
    problems: list[str] = []
    latest = (select(RecordVersion.record_pk, func.max(RecordVersion.number).label("n"))
              .group_by(RecordVersion.record_pk).subquery())
    stmt = (select(Record.rtype, Record.logical_id, Record.current_version, Record.confidentiality,
                   Record.class_code, Record.status, latest.c.n, RecordVersion.label, RecordVersion.class_code,
                   RecordVersion.status)
            .outerjoin(latest, latest.c.record_pk == Record.pk)
            .outerjoin(RecordVersion, and_(RecordVersion.record_pk == Record.pk,
                                           RecordVersion.number == Record.current_version))
            .execution_options(yield_per=5000))
    for rtype, id, current, label, class_code, status, n, v_label, v_class, v_status in ctx.session.execute(stmt):
        name = f"{rtype}/{id}"
        if n is None or current != n:
            problems.append(f"{name}: the record names version {current}, its latest stored version is {n}")
            continue
        for what, row, version in (("label", label, v_label), ("management class", class_code, v_class),
                                   ("status", status, v_status)):
            if (row or None) != (version or None):
                problems.append(f"{name}: the record's {what} {row!r} differs from its current version's {version!r}")
    return problems


def deep_check(ctx: Context) -> Iterable[str]:
    committed, att_hashes = _committed(ctx)
    problems = _version_problems(ctx, committed) + _record_problems(ctx)
    for att in ctx.session.scalars(select(Attachment)):
        try:
            attachments.read(ctx, att)
        except Shredded:
            continue
        except KuraError as exc:
            problems.append(Finding(f"Binary/{att.id}: {exc}", att.blob))
            continue
        if att.record_pk is not None and att.sha256 not in att_hashes:
            problems.append(f"Binary/{att.id}: its SHA-256 was never committed to the ledger")
    return problems + _patient_label_problems(ctx)


def _patient_label_problems(ctx: Context) -> list[str]:
    """Copies of the patient's label (store.patient_relabelled) that differ from the Patient's
    own: lowered by hand, they would open a restricted patient's records."""
    pat = aliased(Record)
    stmt = (select(Record.rtype, Record.logical_id, Record.patient_confidentiality, pat.confidentiality)
            .outerjoin(pat, and_(pat.rtype == "Patient", pat.logical_id == Record.patient_id))
            .where(Record.rtype != "Patient", Record.patient_id.is_not(None),
                   Record.patient_confidentiality != func.coalesce(pat.confidentiality, "N")))
    out = [f"{rtype}/{id}: its patient's label {copy!r} differs from the Patient's {label or 'N'!r}"
           for rtype, id, copy, label in ctx.session.execute(stmt)]
    names = (select(Record.rtype, Record.logical_id).join(SearchString, SearchString.record_pk == Record.pk)
            .where(SearchString.patient_confidentiality != Record.patient_confidentiality).distinct())
    out += [f"{rtype}/{id}: its name index names another patient's label" for rtype, id in ctx.session.execute(names)]
    return out
