"""`kura audit verify --deep` for images: re-hash every stored instance version.

Each instance row's SHA-256 was committed in the ledger entry that stored it; here every
version's blob is opened with its patient's key and hashed again (真正性 / 保存性, R44).
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from sqlalchemy import select

from kura.errors import KuraError
from kura.imaging.models import ImagingInstance, ImagingPatient, ImagingStudy
from kura.imaging.keys import open_instance, owner_of
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.blobs.store import Finding
from kura.operation import Context

__all__ = ["deep_check"]


def deep_check(ctx: Context) -> Iterable[str]:
    """One line per problem: a missing or altered blob, or a stored hash the ledger never committed."""
    committed = set(ctx.session.scalars(select(LedgerEntry.digest).where(
        LedgerEntry.tag == str(LedgerTag.ImagingInstanceStored))))
    owners: dict[str, str] = {}
    rows = ctx.session.execute(
        select(ImagingInstance, ImagingStudy.patient_ref)
        .join(ImagingStudy, ImagingStudy.id == ImagingInstance.study_ref)
        .order_by(ImagingInstance.stored_at, ImagingInstance.sop_uid, ImagingInstance.version))
    for inst, patient_ref in rows:
        where = f"instance {inst.sop_uid} v{inst.version}"
        if inst.sha256 not in committed:
            yield f"{where}: hash {inst.sha256[:12]}… was never committed in the ledger"
            continue
        try:
            if patient_ref not in owners:
                owners[patient_ref] = owner_of(ctx.session.get_one(ImagingPatient, patient_ref))
            data = open_instance(ctx, inst.sha256, ctx.blobs.get(inst.sha256), owner=owners[patient_ref])
        except KuraError as exc:
            yield Finding(f"{where}: {exc}", inst.sha256)
            continue
        if hashlib.sha256(data).hexdigest() != inst.sha256:
            yield Finding(f"{where}: content does not match its hash", inst.sha256)
