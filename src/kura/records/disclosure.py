"""カルテ開示: one patient's records as a ZIP for the patient or their representative.

Regulation §6 (extract recorded information promptly) and R48/R49/R64: the export holds the
records in a standard format readable without kura (FHIR R4 JSON), a human-readable PDF,
the attachments as they were received, and a manifest with the SHA-256 of every file, so
the recipient can check that nothing was altered in transit. R69: exporting needs the
explicit right (Action.RecordsRecordExport), a stated purpose and recipient, and is one
ledger entry (LedgerTag.RecordsRecordExported, DICOM 110106 Export) carrying the SHA-256 of
the ZIP and of the manifest, the exported object IDs and the destination.

Regulation §10 / R71: the ZIP is encrypted — AES-256 (WinZip AE-2, which 7-Zip, Windows 11
and macOS Archive Utility open) under a random password that is returned once, shown once to
the person exporting and never stored: it reaches the recipient by another channel.

Layout of the ZIP:
    manifest.json                     files, their SHA-256 and size; who exported, when
    fhir/bundle.json                  Bundle (collection): the current version of every record
    fhir/history.json                 Bundle (history): every version of every record (R43)
    summary.pdf                       the patient summary, watermarked (see printout)
    attachments/<id>.<ext>            each attachment of the patient's documents
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import mimetypes
import secrets
from typing import Any

import pyzipper
from sqlalchemy import select

from kura.access.actions import Action
from kura.errors import Invalid
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments, printout
from kura.records import service as records
from kura.records.models import Record, RecordVersion
from kura.records.store import instant, version_of

__all__ = ["Export", "export_patient", "MANIFEST", "verify_zip", "PURPOSES", "new_password"]

MANIFEST = "manifest.json"
# Why a disclosure is made (regulation §10: no carrying out without a stated purpose).
PURPOSES = {
    "patient": "本人への開示",
    "representative": "法定代理人・遺族等への開示",
    "referral": "紹介先医療機関への提供",
    "legal": "裁判所・弁護士会照会等への提供",
    "insurer": "保険者・審査支払機関への提供",
    "other": "その他 (理由を記載)",
}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I


def new_password() -> str:
    """24 random characters (about 139 bits) in groups of 4, easy to read out over a phone."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(24))
    return "-".join(chars[i:i + 4] for i in range(0, 24, 4))


_EXT = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "text/plain": ".txt"}


@dataclasses.dataclass(frozen=True)
class Export:
    data: bytes  # the AES-256 encrypted ZIP
    filename: str
    sha256: str
    manifest: dict[str, Any]
    password: str = dataclasses.field(repr=False, default="")  # shown once, never stored


def _bundle(kind: str, entries: list[bytes], at: str) -> bytes:
    head = json.dumps({"resourceType": "Bundle", "type": kind, "timestamp": at, "total": len(entries)},
                      ensure_ascii=False, separators=(",", ":")).encode()
    return head[:-1] + b',"entry":[' + b",".join(entries) + b"]}"


def export_patient(ctx: Context, patient_id: str, *, purpose: str, recipient: str, note: str = "") -> Export:
    """The encrypted disclosure ZIP of `patient_id`: what the caller may read and export about them.

    `purpose` is a key of PURPOSES ("other" needs `note`), `recipient` who receives it.
    Raises Invalid (no purpose or recipient), NotFound, Denied (no export right on the patient;
    beyond clearance without break-glass). Records the caller may read but not export are
    left out and counted in the manifest. Ledger: RecordsRecordRead ($everything),
    RecordsRecordExported (DICOM 110106; digest = the ZIP's SHA-256; detail: the manifest's
    SHA-256, purpose, destination, the exported object IDs).
    """
    summary = records.patient_summary(ctx, patient_id)
    pv = summary["patient"][0]
    target = printout.target_of_version(ctx, pv)
    ctx.require(Action.RecordsRecordExport, target)
    purpose, recipient, note = (purpose or "").strip(), (recipient or "").strip()[:200], (note or "").strip()[:500]
    if purpose not in PURPOSES:
        raise Invalid(f"an export needs its purpose, one of: {', '.join(PURPOSES)} (持ち出しの目的が必要です)")
    if purpose == "other" and not note:
        raise Invalid("purpose 'other' needs a note saying what for (目的を記載してください)")
    if not recipient:
        raise Invalid("an export needs its recipient (提供先が必要です)")
    now = ctx.now()
    at = instant(now)
    current = [v for vs in summary.values() for v in vs]
    kept = [v for v in current
            if v is pv or ctx.allows(Action.RecordsRecordExport, printout.target_of_version(ctx, v)).allowed]
    if any(ctx.allows(Action.RecordsRecordExport, printout.target_of_version(ctx, v)).break_glass for v in kept):
        for v in kept:
            ctx.require(Action.RecordsRecordExport, printout.target_of_version(ctx, v))
    omitted = len(current) - len(kept)

    files: dict[str, bytes] = {}
    files["fhir/bundle.json"] = _bundle("collection", [
        b'{"fullUrl":' + json.dumps(f"{v.rtype}/{v.id}").encode() + b',"resource":' + v.content + b"}"
        for v in kept], at)
    # Every version of every exported record, oldest first: the update history (R43).
    ids = [(v.rtype, v.id) for v in kept]
    hist: list[bytes] = []
    for rtype, rid in ids:
        rec = ctx.session.scalar(select(Record).where(Record.rtype == rtype, Record.logical_id == rid))
        assert rec is not None  # `kept` holds current versions read in this unit of work
        for rv in ctx.session.scalars(select(RecordVersion).where(RecordVersion.record_pk == rec.pk)
                                      .order_by(RecordVersion.number)):
            ver = version_of(ctx, rec, rv)
            req = {"method": "POST" if ver.activity != "update" else "PUT",
                   "url": f"{rtype}/{rid}/$confirm" if ver.activity == "confirm" else f"{rtype}/{rid}"}
            hist.append(b'{"fullUrl":' + json.dumps(f"{rtype}/{rid}/_history/{ver.number}").encode()
                        + b',"resource":' + ver.content + b',"request":' + json.dumps(req).encode() + b"}")
    files["fhir/history.json"] = _bundle("history", hist, at)

    kept_ids = set(ids)
    summary_kept = {k: [v for v in vs if (v.rtype, v.id) in kept_ids] for k, vs in summary.items()}
    mark = printout.watermark_text(ctx.actor.name if ctx.actor else "system", now)
    pdf, _ = printout.render_pdf(title="診療情報の開示 (カルテ開示)", subtitle=f"Patient/{patient_id}  作成 {at}",
                                 sections=printout.summary_sections(summary_kept), mark=mark)
    files["summary.pdf"] = pdf

    doc_pks = {rec.pk for rec in ctx.session.scalars(
        select(Record).where(Record.rtype == "DocumentReference",
                             Record.logical_id.in_([v.id for v in kept if v.rtype == "DocumentReference"])))}
    for pk in sorted(doc_pks):
        for att in attachments.of_record(ctx, pk):
            ext = _EXT.get(att.content_type) or mimetypes.guess_extension(att.content_type or "") or ".bin"
            files[f"attachments/{att.id}{ext}"] = attachments.read(ctx, att)

    manifest = {
        "kind": "kura disclosure export (カルテ開示)",
        "patient": f"Patient/{patient_id}",
        "created": at,
        "created_by": ctx.actor.name if ctx.actor else "system",
        "purpose": PURPOSES[purpose] + (f": {note}" if note else ""),
        "recipient": recipient,
        "records": len(kept),
        "versions": len(hist),
        "omitted_records": omitted,
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())],
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    password = new_password()
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode())
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
        stamp = now.astimezone(printout.LOCAL_TZ).timetuple()[:6]
        for name, data in [(MANIFEST, manifest_bytes), *sorted(files.items())]:
            info = zf.zipinfo_cls(name, date_time=stamp)  # pyzipper's AESZipInfo
            info.external_attr = 0o600 << 16
            zf.writestr(info, data, compress_type=pyzipper.ZIP_DEFLATED)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    ctx.record(LedgerTag.RecordsRecordExported, target=target, digest=sha, reason=str(manifest["purpose"]),
               detail={"format": "zip", "encryption": "AES-256 (WinZip AE-2)",
                       "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                       "files": len(files), "records": len(kept), "omitted_records": omitted,
                       "purpose": purpose, "destination": recipient,
                       "objects": [f"{v.rtype}/{v.id}" for v in kept][:500]})
    return Export(data, f"disclosure-{patient_id}-{now.astimezone(printout.LOCAL_TZ):%Y%m%d%H%M%S}.zip",
                  sha, manifest, password)


def verify_zip(data: bytes, password: str | None = None) -> list[str]:
    """The problems found checking a disclosure ZIP against its manifest (empty: intact).
    `password` opens an encrypted export (as every export is since regulation §10)."""
    problems = []
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        if password:
            zf.setpassword(password.encode())
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except RuntimeError:
            return ["the ZIP is encrypted: the password is missing or wrong"]
        listed = {f["path"] for f in manifest["files"]}
        for f in manifest["files"]:
            got = zf.read(f["path"])
            if hashlib.sha256(got).hexdigest() != f["sha256"] or len(got) != f["size"]:
                problems.append(f"{f['path']}: does not match the manifest")
        extra = set(zf.namelist()) - listed - {MANIFEST}
        problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    return problems
