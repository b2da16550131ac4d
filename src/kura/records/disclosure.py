"""カルテ開示: one patient's records as a ZIP for the patient or their representative.

Regulation §6 (extract recorded information promptly) and R48/R49/R64: the export holds the
records in a standard format readable without kura (FHIR R4 JSON), a human-readable PDF,
the attachments as they were received, and a manifest with the SHA-256 of every file, so
the recipient can check that nothing was altered in transit. R69: exporting needs the
explicit right (Action.RecordsRecordExport) and is one ledger entry
(LedgerTag.RecordsRecordExported) carrying the SHA-256 of the ZIP and of the manifest.

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
import zipfile

from sqlalchemy import select

from kura.access.actions import Action
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import attachments, printout
from kura.records import service as records
from kura.records.models import Record, RecordVersion
from kura.records.store import instant, version_of

__all__ = ["Export", "export_patient", "MANIFEST", "verify_zip"]

MANIFEST = "manifest.json"
_EXT = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "text/plain": ".txt"}


@dataclasses.dataclass(frozen=True)
class Export:
    data: bytes
    filename: str
    sha256: str
    manifest: dict


def _bundle(kind: str, entries: list[bytes], at: str) -> bytes:
    head = json.dumps({"resourceType": "Bundle", "type": kind, "timestamp": at, "total": len(entries)},
                      ensure_ascii=False, separators=(",", ":")).encode()
    return head[:-1] + b',"entry":[' + b",".join(entries) + b"]}"


def export_patient(ctx: Context, patient_id: str) -> Export:
    """The disclosure ZIP of `patient_id`: what the caller may read and export about them.

    Raises NotFound, Denied (no export right on the patient; beyond clearance without
    break-glass). Records the caller may read but not export are left out and counted in
    the manifest. Ledger: RecordsRecordRead ($everything), RecordsRecordExported
    (digest = the ZIP's SHA-256; detail: the manifest's SHA-256, files and records).
    """
    summary = records.patient_summary(ctx, patient_id)
    pv = summary["patient"][0]
    target = printout.target_of_version(ctx, pv)
    ctx.require(Action.RecordsRecordExport, target)
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
        "records": len(kept),
        "versions": len(hist),
        "omitted_records": omitted,
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())],
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        stamp = now.astimezone(printout.LOCAL_TZ).timetuple()[:6]
        for name, data in [(MANIFEST, manifest_bytes), *sorted(files.items())]:
            zf.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    ctx.record(LedgerTag.RecordsRecordExported, target=target, digest=sha,
               detail={"format": "zip", "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                       "files": len(files), "records": len(kept), "omitted_records": omitted,
                       "destination": "download"})
    return Export(data, f"disclosure-{patient_id}-{now.astimezone(printout.LOCAL_TZ):%Y%m%d%H%M%S}.zip",
                  sha, manifest)


def verify_zip(data: bytes) -> list[str]:
    """The problems found checking a disclosure ZIP against its manifest (empty: intact)."""
    problems = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        listed = {f["path"] for f in manifest["files"]}
        for f in manifest["files"]:
            got = zf.read(f["path"])
            if hashlib.sha256(got).hexdigest() != f["sha256"] or len(got) != f["size"]:
                problems.append(f"{f['path']}: does not match the manifest")
        extra = set(zf.namelist()) - listed - {MANIFEST}
        problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    return problems
