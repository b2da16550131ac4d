"""Patient media (患者提供用 CD/DVD, regulation §10; R61, R69, R73): the patient's studies as a
PS3.10 file-set with a DICOMDIR (PS3.11 General Purpose CD-R profile, written by pydicom's
FileSet), packed as a ZIP to burn, and the media register: medium ID, the SHA-256 of every
file, purpose, recipient, who handed it over, returned or destroyed when.

Standard viewers must open such media, and PS3.12 media carry no encryption, so the files
are plain DICOM: the purpose, the recipient and the register entry stand in for encryption,
and the disclosure ZIP (kura.records.disclosure) is the encrypted way out.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tempfile
import zipfile
from pathlib import Path

from pydicom import dcmread
from pydicom.fileset import FileSet
from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid, NotFound
from kura.imaging import service as imaging
from kura.imaging.query import Query
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records.disclosure import PURPOSES
from kura.registers.models import PatientMedium

__all__ = ["make_medium", "mark", "list_media"]


def make_medium(ctx: Context, *, dicom_patient_id: str, purpose: str, recipient: str,
                study_uids: list[str] | None = None) -> tuple[PatientMedium, bytes]:
    """Write the patient's studies (those the caller may read; `study_uids` to choose) as a
    DICOMDIR file-set and register the medium. Returns (entry, ZIP of the medium's files).
    Raises Denied, Invalid (no purpose or recipient), NotFound (no images).
    Ledger: ImagingStudyRetrieved per study, RegisterMediaRecorded (DICOM 110106 Export,
    with the study UIDs and the destination)."""
    ctx.require(Action.RegisterMediaManage, Target(kind="PatientMedium"))
    purpose, recipient = (purpose or "").strip(), (recipient or "").strip()[:200]
    if purpose not in PURPOSES:
        raise Invalid(f"a patient medium needs its purpose, one of: {', '.join(PURPOSES)}")
    if not recipient:
        raise Invalid("a patient medium needs its recipient")
    keys = {"PatientID": dicom_patient_id}
    if study_uids:
        keys["StudyInstanceUID"] = "\\".join(study_uids)
    items = imaging.retrieve(ctx, Query(level="IMAGE", keys=keys))
    if not items:
        raise NotFound(f"no images of DICOM patient {dicom_patient_id} to write")
    serial = secrets.token_hex(3).upper()
    medium_id = f"KURA-{ctx.now():%Y%m%d}-{serial}"
    contents: dict[str, str] = {}
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="kura-medium-") as tmp:
        fs = FileSet()
        fs.ID = f"KURA{ctx.now():%y%m%d}{serial}"  # File-set ID: CS, at most 16 characters
        for item in items:
            fs.add(dcmread(io.BytesIO(item.read(ctx.blobs))))
        fs.write(tmp)
        root = Path(tmp)
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                name = path.relative_to(root).as_posix()
                data = path.read_bytes()
                contents[name] = hashlib.sha256(data).hexdigest()
                zf.writestr(name, data)
    data = buf.getvalue()
    studies = sorted({i.study_uid for i in items})
    who = ctx.actor.name if ctx.actor else "system"
    m = PatientMedium(medium_id=medium_id, patient_id=dicom_patient_id, studies=json.dumps(studies),
                      contents=json.dumps(contents, sort_keys=True), image_sha256=hashlib.sha256(data).hexdigest(),
                      purpose=PURPOSES[purpose], recipient=recipient, handed_over_by=who, created_at=ctx.now())
    ctx.session.add(m)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterMediaRecorded, target=Target(kind="PatientMedium", id=medium_id),
               digest=m.image_sha256, reason=m.purpose,
               detail={"dicom_patient_id": dicom_patient_id, "studies": studies, "files": len(contents),
                       "destination": recipient, "format": "PS3.10 DICOMDIR"})
    return m, data


def mark(ctx: Context, medium_id: str, *, returned: bool = False, destroyed: bool = False, note: str = "") -> PatientMedium:
    """Check a medium back in (R73) or record its destruction. Raises Denied, NotFound, Conflict.
    Ledger: RegisterMediaUpdated."""
    ctx.require(Action.RegisterMediaManage, Target(kind="PatientMedium", id=medium_id))
    m = ctx.session.scalar(select(PatientMedium).where(PatientMedium.medium_id == medium_id))
    if m is None:
        raise NotFound(f"no medium {medium_id}")
    if m.destroyed_at is not None:
        raise Conflict(f"medium {medium_id} was destroyed already")
    if returned:
        m.returned_at = ctx.now()
    if destroyed:
        m.destroyed_at = ctx.now()
    m.status_note = (note or "").strip()[:2000]
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterMediaUpdated, target=Target(kind="PatientMedium", id=medium_id),
               reason=m.status_note, detail={"returned": returned, "destroyed": destroyed})
    return m


def list_media(ctx: Context) -> list[PatientMedium]:
    """The media register: for who makes media, and for the administrators and auditor."""
    if not ctx.allows(Action.RegisterMediaManage, Target(kind="PatientMedium")).allowed:
        ctx.require(Action.RegisterEntryRead, Target(kind="PatientMedium"))
    return list(ctx.session.scalars(select(PatientMedium).order_by(PatientMedium.created_at.desc())))
