"""Disposal after retention (regulation §13; R52, R78–R80): two people, crypto-shredding,
a tombstone and a signed certificate (CONTRACT.md "Retention, hold and disposal").

request → the system administrator or operations manager asks, with a reason; refused
(Conflict, naming the date) while the retention runs or a legal hold is in force.
approve → a *different* administrator or operations manager approves; then, in one unit
of work, every data key of the patient is destroyed (kura.keys.service.shred: the patient's
key and any DICOM keys merged into it), every row naming the patient is removed leaving
tombstones (kura.disposal.removal), and the certificate is rendered and signed. From then
on every read answers Shredded (HTTP 410), searches leave the patient out, and a backup
restored with the recovery kit cannot open their content: the key vault no longer holds it.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.classes.models import ManagementClass
from kura.disposal import certificate, removal
from kura.disposal.models import DONE, REQUESTED, WITHDRAWN, Disposal
from kura.disposal.retention import PatientRetention, retention_of
from kura.errors import Conflict, Invalid, NotFound, SamePerson
from kura.keys import service as keys
from kura.ledger.tags import LedgerTag
from kura.operation import Context, Denial
from kura.preservation import vault
from kura.records.models import Record
from kura.tombstones import check as check_disposed

__all__ = ["request", "approve", "after_approval", "withdraw", "get", "list_disposals", "certificate_of",
           "retention_for"]


def _target(patient_id: str) -> Target:
    return Target(kind="Patient", id=patient_id, patient_id=patient_id)


def _who(ctx: Context) -> tuple[str | None, str]:
    a = ctx.actor
    return (a.id if a else None), (a.name if a else "system")


def retention_for(ctx: Context, patient_id: str) -> PatientRetention:
    """The patient's retention; raises Shredded when disposed of already, NotFound if unknown."""
    found = retention_of(ctx, [patient_id]).get(patient_id)
    if found is None:
        check_disposed(ctx, "Patient", patient_id)
        raise NotFound(f"Patient/{patient_id} not found")
    return found


def _disposable(ctx: Context, patient_id: str) -> PatientRetention:
    """Raise Conflict naming the retention end or the hold when the patient may not go yet."""
    r = retention_for(ctx, patient_id)
    if r.holds:
        h = r.holds[0]
        raise Conflict(f"Patient/{patient_id} is under legal hold {h.id} since {h.placed_at:%Y-%m-%d} "
                       f"({h.reason}); it cannot be disposed of until the hold is lifted "
                       f"(訴訟ホールド中のため廃棄できません)")
    if not r.ended:
        raise Conflict(f"the retention of Patient/{patient_id} ends on {r.ends.isoformat()}; it cannot be "
                       f"disposed of before then (保存期間は {r.ends.isoformat()} まで)")
    return r


def request(ctx: Context, *, patient_id: str, reason: str) -> Disposal:
    """Ask for the disposal of `patient_id`'s data. Raises Denied, Invalid (no reason), NotFound,
    Shredded (disposed of already), Conflict (retention not ended — the message names the
    date; a legal hold; a request pending). Ledger: RetentionDisposalRequested."""
    patient_id = (patient_id or "").strip()
    ctx.require(Action.RetentionDisposalRequest, _target(patient_id))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a disposal request needs a reason")
    r = _disposable(ctx, patient_id)
    pending = ctx.session.scalar(select(Disposal.id).where(Disposal.patient_id == patient_id,
                                                            Disposal.status == REQUESTED))
    if pending:
        raise Conflict(f"disposal {pending} of Patient/{patient_id} is already waiting for approval")
    who_id, who_name = _who(ctx)
    d = Disposal(patient_id=patient_id, reason=reason[:2000], status=REQUESTED, retention_end=r.ends.isoformat(),
                 requested_by_id=who_id, requested_by_name=who_name, requested_at=ctx.now())
    ctx.session.add(d)
    ctx.session.flush()
    ctx.record(LedgerTag.RetentionDisposalRequested, target=_target(patient_id), reason=d.reason,
               detail={"disposal": d.id, "retention_end": d.retention_end})
    return d


def get(ctx: Context, disposal_id: str) -> Disposal:
    ctx.require(Action.RetentionDisposalRead, Target(kind="Disposal", id=disposal_id))
    d = ctx.session.get(Disposal, disposal_id)
    if d is None:
        raise NotFound(f"no disposal {disposal_id}")
    return d


def list_disposals(ctx: Context) -> list[Disposal]:
    ctx.require(Action.RetentionDisposalRead, Target(kind="Disposal"))
    return list(ctx.session.scalars(select(Disposal).order_by(Disposal.requested_at.desc())))


def _same_person(ctx: Context, d: Disposal) -> bool:
    who_id, who_name = _who(ctx)
    return who_id == d.requested_by_id if who_id or d.requested_by_id else who_name == d.requested_by_name


def approve(ctx: Context, disposal_id: str) -> Disposal:
    """A second person approves, and the disposal is carried out in this unit of work.

    Raises NotFound, Denied (no right; the requester themself — two-person rule, R80),
    Conflict (not waiting for approval; a hold placed or the retention extended since).
    Ledger: the keys' shred entries (kura.keys), then RetentionDisposalApproved (digest =
    the certificate's SHA-256; detail: keys destroyed, objects removed by kind and class).
    """
    d = ctx.session.get(Disposal, disposal_id)
    if d is None:
        ctx.require(Action.RetentionDisposalApprove, Target(kind="Disposal", id=disposal_id))
        raise NotFound(f"no disposal {disposal_id}")
    target = _target(d.patient_id)
    ctx.require(Action.RetentionDisposalApprove, target)
    if _same_person(ctx, d):
        reason = "two-person rule: the requester of a disposal cannot approve it (申請者本人は承認できません)"
        ctx.denials.append(Denial(Action.RetentionDisposalApprove, target, reason))
        raise SamePerson(reason)
    if d.status != REQUESTED:
        raise Conflict(f"disposal {d.id} is {d.status}, not waiting for approval")
    r = _disposable(ctx, d.patient_id)
    owners = [keys.owner_of_patient(d.patient_id)] + [keys.owner_of_dicom(pid)
                                                     for pid in removal.dicom_patient_ids(ctx, d.patient_id)]
    why = f"disposal {d.id} after retention (ended {r.ends.isoformat()})"
    destroyed: list[str] = []
    for owner in owners:
        if keys.keys_of(ctx, owner):  # a patient with nothing sealed yet has no key to destroy
            destroyed += keys.shred(ctx, owner, reason=why)
    removed = removal.remove_patient(ctx, d.patient_id, disposal_id=d.id)
    who_id, who_name = _who(ctx)
    d.status, d.approved_by_id, d.approved_by_name, d.approved_at = DONE, who_id, who_name, ctx.now()
    d.method = certificate.METHOD_JA
    d.summary = json.dumps(removed.summary(), ensure_ascii=False)
    d.key_ids = json.dumps(destroyed)
    names = {mc.code: mc.name_ja for mc in ctx.session.scalars(select(ManagementClass))}
    pdf = certificate.render(d, class_names=names)
    sig = certificate.sign(ctx.signer, pdf)
    d.certificate, d.certificate_sha256, d.signature, d.signing_key_id = pdf, sig.sha256, sig.signature, sig.key_id
    ctx.session.flush()
    ctx.record(LedgerTag.RetentionDisposalApproved, target=target, digest=sig.sha256, reason=d.reason,
               detail={"disposal": d.id, "requested_by": d.requested_by_name, "keys": destroyed,
                       "removed": removed.summary(), "blobs": len(removed.blobs)})
    return d


def after_approval(app, actor, disposal_id: str) -> list[tuple[str, str]]:
    """Once an approval has committed: rewrite the key vault at every known backup and replica
    destination (kura.preservation.vault.refresh_all), so that the destroyed keys do not come
    back with a restore of any generation, and record which copies were rewritten (an
    unreachable one — an unplugged disk — is rewritten at its next backup; THREAT_MODEL.md).
    Ledger: RetentionVaultRefreshed (an alert when a copy could not be rewritten)."""
    results = [(str(dest), status) for dest, status in vault.refresh_all(app)]
    with app.unit_of_work(actor, "HSYSADMIN") as ctx:
        d = ctx.session.get(Disposal, disposal_id)
        if d is not None:
            d.vault_copies = json.dumps(results, ensure_ascii=False)
            ctx.session.flush()
            ctx.record(LedgerTag.RetentionVaultRefreshed, target=_target(d.patient_id),
                       detail={"disposal": d.id, "destinations": results},
                       alert=any(status != "ok" for _, status in results))
    return results


def withdraw(ctx: Context, disposal_id: str, *, reason: str) -> Disposal:
    """The requester or another administrator withdraws a pending request.
    Raises NotFound, Denied, Invalid, Conflict. Ledger: RetentionDisposalRequested (withdrawn)."""
    d = ctx.session.get(Disposal, disposal_id)
    ctx.require(Action.RetentionDisposalRequest, _target(d.patient_id if d else ""))
    if d is None:
        raise NotFound(f"no disposal {disposal_id}")
    if not (reason or "").strip():
        raise Invalid("withdrawing a disposal request needs a reason")
    if d.status != REQUESTED:
        raise Conflict(f"disposal {d.id} is {d.status}, not waiting for approval")
    d.status = WITHDRAWN
    ctx.session.flush()
    ctx.record(LedgerTag.RetentionDisposalRequested, target=_target(d.patient_id), reason=reason.strip()[:2000],
               detail={"disposal": d.id, "withdrawn": True})
    return d


def certificate_of(ctx: Context, disposal_id: str) -> tuple[bytes, certificate.Signature]:
    """The signed certificate of a completed disposal. Raises Denied, NotFound (none yet)."""
    d = get(ctx, disposal_id)
    if d.status != DONE or not d.certificate:
        raise NotFound(f"disposal {disposal_id} has no certificate (status {d.status})")
    return d.certificate, certificate.Signature(d.certificate_sha256 or "", d.signing_key_id or "", d.signature or "")


def patient_exists(ctx: Context, patient_id: str) -> bool:
    return ctx.session.scalar(select(Record.pk).where(Record.rtype == "Patient",
                                                      Record.logical_id == patient_id)) is not None
