"""Attachments (scanned letters, PDFs, images) in the blob store, sealed per patient.

An attachment is sealed under its patient's data key (kura.keys; aad binds the patient),
so a stolen disk or backup reveals nothing and destroying the patient's keys shreds every
copy (R71, R79). A
DocumentReference carries `Binary/{id}` as the attachment's url, never the bytes; the web
adapter serves that url to callers who may read the DocumentReference.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from typing import Any

from sqlalchemy import select

from kura.errors import IntegrityFailure, Invalid
from kura.keys import service as keys
from kura.operation import Context
from kura.records.models import Attachment

__all__ = ["store", "read", "inline", "blob_name"]


def blob_name(sha: str, patient_id: str) -> str:
    return f"{sha}-{hashlib.sha256(patient_id.encode()).hexdigest()[:16]}"


def store(ctx: Context, *, patient_id: str, data: bytes, content_type: str,
          record_pk: str | None = None) -> Attachment:
    """Seal and store `data` for `patient_id`. Raises Invalid above settings.attachment_max_bytes."""
    limit = ctx.settings.attachment_max_bytes if ctx.settings else 50 * 1024 * 1024
    if len(data) > limit:
        raise Invalid(f"attachment of {len(data)} bytes is larger than the limit of {limit} bytes")
    sha = hashlib.sha256(data).hexdigest()
    name = blob_name(sha, patient_id)
    if not ctx.blobs.exists(name):
        ctx.blobs.put(name, keys.seal(ctx, keys.owner_of_patient(patient_id), data,
                                      b"att:" + patient_id.encode()))
    att = Attachment(patient_id=patient_id, record_pk=record_pk, blob=name, sha256=sha, size=len(data),
                     content_type=(content_type or "application/octet-stream")[:200],
                     uploaded_by_id=ctx.actor.id if ctx.actor else None, uploaded_at=ctx.now())
    ctx.session.add(att)
    ctx.session.flush()
    return att


def read(ctx: Context, att: Attachment) -> bytes:
    """The plaintext, checked against its recorded SHA-256 (R37). Raises IntegrityFailure,
    Shredded (the patient was disposed of)."""
    sealed = ctx.blobs.get(att.blob)
    data = keys.open(ctx, sealed, b"att:" + att.patient_id.encode(),
                     owner=keys.owner_of_patient(att.patient_id))
    if hashlib.sha256(data).hexdigest() != att.sha256:
        raise IntegrityFailure(f"attachment {att.id} does not match its recorded hash")
    return data


def inline(ctx: Context, resource: dict[str, Any], *, patient_id: str) -> tuple[dict[str, Any], list[Attachment]]:
    """Move base64 `content[].attachment.data` of a DocumentReference into the blob store.

    Returns the resource with `url: Binary/{id}`, `size` and `hash` (SHA-1, as FHIR R4 defines
    it) in place of the data, and the attachments it now names (new or uploaded before).
    """
    out = copy.deepcopy(resource)
    used: list[Attachment] = []
    for i, item in enumerate(out.get("content") or []):
        att = (item or {}).get("attachment") or {}
        if att.get("data") is not None:
            try:
                raw = base64.b64decode(att["data"], validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(f"DocumentReference.content[{i}].attachment.data is not base64") from None
            row = store(ctx, patient_id=patient_id, data=raw, content_type=att.get("contentType", ""))
            del att["data"]
            att["url"] = f"Binary/{row.id}"
            att["size"] = row.size
            att["hash"] = base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324 (FHIR R4 defines SHA-1)
            used.append(row)
        elif str(att.get("url") or "").startswith("Binary/"):
            named = ctx.session.get(Attachment, att["url"].removeprefix("Binary/"))
            if named is None or named.patient_id != patient_id:
                raise Invalid(f"DocumentReference.content[{i}].attachment.url names no attachment of this patient")
            used.append(named)
    return out, used


def of_record(ctx: Context, record_pk: str) -> list[Attachment]:
    return list(ctx.session.scalars(select(Attachment).where(Attachment.record_pk == record_pk)))
