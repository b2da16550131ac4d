"""The periodic rights review (ID・権限の棚卸, R11; regulation §14 and §10③): every account with
its roles, clearance, last sign-in and the rights it has not used; accounts unused for
`rights_review_unused_days` flagged. The system administrator marks each account kept,
changed or disabled — disabled through kura.identity, so the account really stops — and signs
the review off; the signed review is a PDF signed with the home's key.

"Used" is read from the ledger: an action counts as used when the account wrote one of the
entries that action leaves (ACTION_TAGS) within the period. Reading screens that leave no
entry (UNTRACEABLE) cannot be judged and are never listed as unused.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select, update
from sqlalchemy.orm import defer

from kura.access.actions import Action as A
from kura.access.policy import Target
from kura.access.roles import ROLE_GRANTS, Role
from kura.errors import Conflict, Denied, Invalid, NotFound
from kura.identity import service as identity
from kura.identity.models import User
from kura.ledger.models import LedgerEntry
from kura.ledger.signing import DocumentSignature
from kura.ledger.tags import LedgerTag as T
from kura.operation import Context
from kura.records.printout import Section, render_pdf
from kura.reviews.models import RightsReview, RightsReviewItem
from kura.reviews.reports import local

__all__ = ["start", "list_reviews", "get", "mark", "sign_off", "document", "DECISIONS", "ACTION_TAGS",
           "UNTRACEABLE", "KIND"]

KIND = "kura-rights-review v1"
REVIEWS = Target(kind="RightsReview")
DECISIONS = {"kept": ("継続", "Kept"), "changed": ("変更済", "Changed"), "disabled": ("無効化", "Disabled")}

# The ledger entries each action leaves when it is used.
ACTION_TAGS: dict[A, tuple[T, ...]] = {
    A.AdminClassManage: (T.AdminClassDefined, T.AdminClassChanged),
    A.AdminDutiesManage: (T.AdminDutiesPublished,),
    A.AdminPeerManage: (T.AdminPeerAdded, T.AdminPeerChanged),
    A.AdminRequestCreate: (T.AdminRequestSubmitted,),
    A.AdminRequestDecide: (T.AdminRequestApproved, T.AdminRequestRefused),
    A.AdminReviewManage: (T.AdminReviewStarted, T.AdminReviewMarked, T.AdminReviewSignedOff),
    A.AdminReviewRead: (T.AdminReviewViewed,),
    A.AdminTrainingManage: (T.AdminTrainingRecorded,),
    A.AdminUserManage: (T.AdminUserCreated, T.AdminUserDisabled, T.AdminUserPasswordReset, T.AdminUserUnlocked,
                        T.AdminUserUpdated, T.AdminUserEndDateSet),
    A.AuditAlertRead: (T.AuditLedgerRead,),
    A.AuditAlertSignoff: (T.AuditAlertSignedOff,),
    A.AuditCheckpointCreate: (T.AuditCheckpointCreated,),
    A.AuditLedgerExport: (T.AuditLedgerExported,),
    A.AuditLedgerRead: (T.AuditLedgerRead,),
    A.AuditLedgerVerify: (T.AuditLedgerVerified,),
    A.AuditPatientIdentify: (T.AuditPatientIdentified,),
    A.AuditReportGenerate: (T.AuditReportGenerated,),
    A.AuditReportRead: (T.AuditReportViewed,),
    A.AuditReportSignoff: (T.AuditReportSignedOff,),
    A.ImagingArchiveReconcile: (T.ImagingArchiveReconciled,),
    A.ImagingInstanceStore: (T.ImagingInstanceStored,),
    A.ImagingStudyConfirm: (T.ImagingStudyConfirmed,),
    A.ImagingStudyCorrect: (T.ImagingStudyCorrected,),
    A.ImagingStudyLabel: (T.ImagingStudyLabelled,),
    A.ImagingStudyPrint: (T.ImagingStudyPrinted,),
    A.ImagingStudyRead: (T.ImagingStudyRead, T.ImagingStudyRetrieved),
    A.ImagingStudyReconcile: (T.ImagingPatientLinked, T.ImagingStudyCorrected),
    A.ImagingStudyReturn: (T.ImagingStudyReturned,),
    A.ImagingStudySearch: (T.ImagingStudyQueried,),
    A.OpsBackupCreate: (T.OpsBackupCreated,),
    A.OpsBackupPrune: (T.OpsBackupPruned,),
    A.OpsBackupRestore: (T.OpsBackupRestored, T.OpsRestoreDrilled),
    A.OpsBackupVerify: (T.OpsBackupVerified,),
    A.OpsEmergencySwitch: (T.OpsEmergencySwitched, T.OpsEmergencyLifted),
    A.OpsKeyExport: (T.OpsKeyExported,),
    A.OpsReplicaRun: (T.OpsReplicaSynced,),
    A.OpsScrubRun: (T.OpsScrubCompleted,),
    A.OpsSelfcheckRun: (T.OpsSelfcheckCompleted,),
    A.OpsSoftwareApprove: (T.RegisterSoftwareApproved, T.RegisterSoftwareRefused),
    A.RecordsRecordConfirm: (T.RecordsRecordConfirmed,),
    A.RecordsRecordCreate: (T.RecordsRecordCreated,),
    A.RecordsRecordExport: (T.RecordsRecordExported,),
    A.RecordsRecordPrint: (T.RecordsRecordPrinted,),
    A.RecordsRecordRead: (T.RecordsRecordRead,),
    A.RecordsRecordSearch: (T.RecordsRecordSearched,),
    A.RecordsRecordUpdate: (T.RecordsRecordUpdated,),
    A.RegisterEquipmentManage: (T.RegisterEquipmentRecorded, T.RegisterEquipmentApproved, T.RegisterDeviceAdded,
                                T.RegisterDeviceChanged, T.RegisterInspectionRecorded, T.RegisterInspectionClosed),
    A.RegisterIncidentManage: (T.RegisterIncidentRecorded, T.RegisterIncidentUpdated),
    A.RegisterMediaManage: (T.RegisterMediaRecorded, T.RegisterMediaUpdated),
    A.RetentionDisposalApprove: (T.RetentionDisposalApproved,),
    A.RetentionDisposalRead: (T.RetentionWorklistRead,),
    A.RetentionDisposalRequest: (T.RetentionDisposalRequested,),
    A.RetentionHoldLift: (T.RetentionHoldLifted,),
    A.RetentionHoldPlace: (T.RetentionHoldPlaced,),
}
# Actions that leave no entry of their own (screens that only read, one's own account).
UNTRACEABLE = frozenset({A.AdminClassRead, A.AdminPeerRead, A.AdminPermissionsRead, A.AdminUserRead,
                         A.AdminRequestRead, A.AdminTrainingRead, A.SelfDutiesAcknowledge,
                         A.OpsStatusRead, A.RegisterEntryRead, A.RegisterPrintRead, A.SelfPasswordChange,
                         A.SelfSessionEnd})


def _target(review_id: str) -> Target:
    return Target(kind="RightsReview", id=review_id)


def granted(roles: str) -> set[A]:
    out: set[A] = set()
    for r in roles.split(","):
        try:
            out |= set(ROLE_GRANTS.get(Role(r), {}))
        except ValueError:
            continue
    return out


def start(ctx: Context) -> RightsReview:
    """A new review of every account as it stands now. Ledger: AdminReviewStarted."""
    ctx.require(A.AdminReviewManage, REVIEWS)
    now, days = ctx.now(), ctx.settings.rights_review_unused_days
    since = now - dt.timedelta(days=days)
    actor = ctx.actor
    review = RightsReview(unused_days=days, started_at=now, started_by_id=actor.id if actor else None,
                          started_by_name=actor.name if actor else "system", comment="")
    ctx.session.add(review)
    ctx.session.flush()
    last_login = {actor_id: at for actor_id, at in ctx.session.execute(
        select(LedgerEntry.actor_id, func.max(LedgerEntry.at)).where(LedgerEntry.tag == str(T.AuthLoginSucceeded))
        .group_by(LedgerEntry.actor_id))}
    used: dict[str, set[str]] = {}
    for actor_id, tag in ctx.session.execute(select(LedgerEntry.actor_id, LedgerEntry.tag).where(
            LedgerEntry.at >= since, LedgerEntry.actor_id.is_not(None), LedgerEntry.outcome == 0)
            .group_by(LedgerEntry.actor_id, LedgerEntry.tag)):
        used.setdefault(actor_id, set()).add(tag)
    flagged = 0
    for user in ctx.session.scalars(select(User).order_by(User.username)):
        seen = last_login.get(user.id)
        seen = seen.replace(tzinfo=dt.timezone.utc) if seen is not None and seen.tzinfo is None else seen
        tags = used.get(user.id, set())
        unused = sorted(str(a) for a in granted(user.roles) - UNTRACEABLE
                        if not any(str(t) in tags for t in ACTION_TAGS.get(a, ())))
        stale = not user.disabled and (seen or user.created_at) < since
        flagged += stale
        ctx.session.add(RightsReviewItem(
            review_id=review.id, user_id=user.id, username=user.username, display_name=user.display_name,
            department=user.department or "", roles=user.roles, clearance=user.clearance,
            was_disabled=user.disabled, created_at=user.created_at, last_login=seen, unused=stale,
            unused_rights=json.dumps(unused), decision="", note=""))
    ctx.session.flush()
    ctx.record(T.AdminReviewStarted, target=_target(review.id), detail={"unused_days": days, "flagged": flagged})
    return review


def list_reviews(ctx: Context) -> list[RightsReview]:
    ctx.require(A.AdminReviewRead, REVIEWS)
    return list(ctx.session.scalars(select(RightsReview).options(defer(RightsReview.pdf))
                                    .order_by(RightsReview.started_at.desc()).limit(100)))


def _review(ctx: Context, review_id: str) -> RightsReview:
    review = ctx.session.get(RightsReview, review_id) if len(review_id or "") <= 36 else None
    if review is None:
        raise NotFound(f"no rights review {review_id}")
    return review


def items_of(ctx: Context, review_id: str) -> list[RightsReviewItem]:
    return list(ctx.session.scalars(select(RightsReviewItem).where(RightsReviewItem.review_id == review_id)
                                    .order_by(RightsReviewItem.username)))


def get(ctx: Context, review_id: str) -> tuple[RightsReview, list[RightsReviewItem]]:
    """A review and its accounts. Ledger: AdminReviewViewed."""
    ctx.require(A.AdminReviewRead, _target(review_id))
    review = _review(ctx, review_id)
    ctx.record(T.AdminReviewViewed, target=_target(review.id))
    return review, items_of(ctx, review.id)


def mark(ctx: Context, review_id: str, *, username: str, decision: str, note: str = "") -> RightsReviewItem:
    """The administrator's decision on one account: kept, changed (say what in the note; the
    change itself is made on the account) or disabled (the account is disabled now, through
    kura.identity). Raises Invalid, Conflict (signed off), NotFound.
    Ledger: AdminReviewMarked (and AdminUserDisabled)."""
    ctx.require(A.AdminReviewManage, _target(review_id))
    review = _review(ctx, review_id)
    if review.signed_at is not None:
        raise Conflict("the rights review is signed off; start a new one")
    if decision not in DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(DECISIONS)}")
    item = ctx.session.scalar(select(RightsReviewItem).where(RightsReviewItem.review_id == review.id,
                                                             RightsReviewItem.username == username))
    if item is None:
        raise NotFound(f"no account {username} in this review")
    note = (note or "").strip()[:2000]
    if decision == "changed" and not note:
        raise Invalid("say what was changed")
    if decision == "disabled":
        user = ctx.session.get(User, item.user_id)
        if user is not None and not user.disabled:
            identity.disable(ctx, username=user.username)
    item.decision, item.note = decision, note
    item.decided_by_name, item.decided_at = (ctx.actor.name if ctx.actor else "system"), ctx.now()
    ctx.session.flush()
    ctx.record(T.AdminReviewMarked, target=Target(kind="User", id=item.username), reason=note,
               detail={"review": review.id, "decision": decision})
    return item


def sign_off(ctx: Context, review_id: str, *, comment: str) -> RightsReview:
    """Sign the review off once every account is marked: rendered as a PDF and signed with the
    home's key. Raises Denied (the console), Conflict, Invalid. Ledger: AdminReviewSignedOff."""
    ctx.require(A.AdminReviewManage, _target(review_id))
    actor = ctx.actor
    if actor is None or actor.id is None:
        raise Denied("a rights review is signed off by a named system administrator's account")
    review = _review(ctx, review_id)
    if review.signed_at is not None:
        raise Conflict(f"the rights review was signed off by {review.signed_by_name} already")
    items = items_of(ctx, review.id)
    open_ = [i.username for i in items if not i.decision]
    if open_:
        raise Invalid(f"mark every account first ({len(open_)} left: {', '.join(open_[:5])})")
    comment = (comment or "").strip()[:4000]
    if not comment:
        raise Invalid("a sign-off needs a comment")
    now = ctx.now()
    pdf = render(review, items, signed_by=actor.name, signed_at=now, comment=comment)
    sig = DocumentSignature.of(ctx.signer, KIND, pdf)
    done = ctx.session.execute(update(RightsReview).where(RightsReview.id == review.id, RightsReview.signed_at.is_(None))
                               .values(signed_at=now, signed_by_id=actor.id, signed_by_name=actor.name,
                                       comment=comment, pdf=pdf, pdf_sha256=sig.sha256, signature=sig.signature,
                                       key_id=sig.key_id).execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the rights review was signed off already")
    ctx.session.refresh(review)
    ctx.record(T.AdminReviewSignedOff, target=_target(review.id), digest=sig.sha256, reason=comment[:2000])
    return review


def document(ctx: Context, review_id: str) -> tuple[bytes, DocumentSignature]:
    """The signed review's PDF and signature. Ledger: AdminReviewViewed (format pdf)."""
    ctx.require(A.AdminReviewRead, _target(review_id))
    review = _review(ctx, review_id)
    if review.pdf is None:
        raise NotFound("the rights review is not signed off yet")
    ctx.record(T.AdminReviewViewed, target=_target(review.id), digest=review.pdf_sha256, detail={"format": "pdf"})
    return review.pdf, DocumentSignature(KIND, review.pdf_sha256 or "", review.key_id or "", review.signature or "")


def render(review: RightsReview, items: list[RightsReviewItem], *, signed_by: str, signed_at: dt.datetime,
           comment: str) -> bytes:
    from kura.access.roles import ROLE_LABELS

    def roles_ja(roles: str) -> str:
        return "、".join(ROLE_LABELS[Role(r)][0] for r in roles.split(",") if r in Role.__members__)

    head = Section("概要 (Summary)", [
        ("棚卸番号 (Review)", review.id),
        ("開始 (Started)", f"{review.started_by_name}  {local(review.started_at)}"),
        ("未使用の判定 (Unused after)", f"{review.unused_days} 日"),
        ("アカウント数 (Accounts)", f"{len(items)}（未使用 {sum(i.unused for i in items)}）"),
    ])
    rows = [(f"{i.username}\n{i.display_name}", roles_ja(i.roles), i.clearance,
             ("無効" if i.was_disabled else "有効"), local(i.last_login) or "なし",
             ("要確認 " if i.unused else "") + str(len(json.loads(i.unused_rights or "[]"))),
             DECISIONS.get(i.decision, ("", ""))[0], i.note) for i in items]
    accounts = Section("アカウント (Accounts)", rows,
                       columns=("利用者", "役割", "権限", "状態", "最終ログイン", "未使用の権限", "判断", "メモ"),
                       widths=(1.8, 1.6, 0.5, 0.5, 1.3, 0.9, 0.7, 1.6))
    sign = Section("承認 (Sign-off)", [("承認者 (Signed off by)", signed_by), ("日時 (At)", local(signed_at)),
                                      ("コメント (Comment)", comment)])
    pdf, _ = render_pdf(title="ID・権限の棚卸 (Rights review)", subtitle=f"kura  棚卸番号 {review.id}",
                        sections=[head, accounts, sign], mark=f"権限棚卸 {review.id}")
    return pdf
