"""教育・訓練の記録 (regulation §14, R82): who took which course, when, until when it counts,
with the evidence sealed in the blob store — and the rule on the annual security training.

The evidence (a certificate, an attendance list) names staff, not patients: it is sealed
under the home's data key (kura.keys, owner ``home``) with the record's id bound in, as
attachments are under their patient's. ``training_rule`` decides what an expired annual
security training does: ``warn`` (the home page says so), ``block`` (after
``training_grace_days`` the user cannot sign in until a new training is recorded) or ``off``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.blobs.store import Finding
from kura.errors import IntegrityFailure, Invalid, KuraError, NotFound
from kura.identity.lifecycle import LOCAL_TZ, parse_day, today
from kura.identity.models import TrainingRecord, User
from kura.keys import service as keys
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["COURSES", "ANNUAL", "record", "people", "list_records", "evidence", "Standing", "standing", "due_report",
           "login_refusal", "deep_check"]

# course code -> (ja, en)
COURSES = {
    "security": ("情報セキュリティ研修 (年次)", "Annual security training"),
    "privacy": ("個人情報保護研修", "Privacy training"),
    "operation": ("システム操作研修", "System operation training"),
    "drill": ("非常時対応訓練", "Emergency drill"),
    "admin": ("管理者研修", "Administrator training"),
    "other": ("その他", "Other"),
}
ANNUAL = "security"  # the course the rule looks at; it counts for one year unless told otherwise
DUE_SOON_DAYS = 30
TARGET = Target(kind="Training")


def _a_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _blob_name(sha: str, record_id: str) -> str:
    return f"{sha}-{hashlib.sha256(('training:' + record_id).encode()).hexdigest()[:16]}"


def _aad(record_id: str) -> bytes:
    return b"training:" + record_id.encode()


def record(ctx: Context, *, username: str, course: str, completed_on: str, expires_on: str | None = None,
           title: str = "", note: str = "", evidence: bytes | None = None, evidence_name: str = "",
           evidence_type: str = "") -> TrainingRecord:
    """Record a training taken. The annual security training counts for a year unless
    `expires_on` says otherwise. Raises Denied, NotFound, Invalid. Ledger: AdminTrainingRecorded."""
    from kura.identity.service import get_user

    ctx.require(Action.AdminTrainingManage, TARGET)
    user = get_user(ctx, username)
    if course not in COURSES:
        raise Invalid(f"course must be one of {', '.join(COURSES)}")
    done = parse_day(completed_on, "the date of the training")
    if done is None:
        raise Invalid("the date of the training is missing")
    if done > today(ctx):
        raise Invalid("the date of the training is in the future")
    until = parse_day(expires_on, "the expiry date")
    if until is None and course == ANNUAL:
        until = _a_year_after(done)
    if until is not None and until <= done:
        raise Invalid("the expiry date must come after the date of the training")
    if evidence is not None and len(evidence) > ctx.settings.attachment_max_bytes:
        raise Invalid(f"the evidence file is larger than the limit of {ctx.settings.attachment_max_bytes} bytes")
    row = TrainingRecord(user_id=user.id, course=course, title=(title or "").strip()[:200] or COURSES[course][0],
                         completed_on=done.isoformat(), expires_on=until.isoformat() if until else None,
                         note=(note or "").strip()[:2000], recorded_by=ctx.actor.name if ctx.actor else "system",
                         recorded_at=ctx.now(), evidence_name=(evidence_name or "").strip()[:200],
                         evidence_type=(evidence_type or "application/octet-stream")[:200] if evidence else "")
    ctx.session.add(row)
    ctx.session.flush()
    if evidence:
        sha = hashlib.sha256(evidence).hexdigest()
        row.evidence_sha256, row.evidence_blob = sha, _blob_name(sha, row.id)
        ctx.blobs.put(row.evidence_blob, keys.seal(ctx, keys.HOME, evidence, _aad(row.id)))
        ctx.session.flush()
    ctx.record(LedgerTag.AdminTrainingRecorded, target=Target(kind="User", id=user.username),
               digest=row.evidence_sha256,
               detail={"training": row.id, "course": course, "completed_on": row.completed_on,
                       "expires_on": row.expires_on, "evidence": bool(evidence)})
    return row


def people(ctx: Context) -> list[tuple[str, str]]:
    """(user name, name) of every active account, for the form. Raises Denied."""
    ctx.require(Action.AdminTrainingManage, TARGET)
    rows = ctx.session.execute(select(User.username, User.display_name).where(User.disabled.is_(False))
                               .order_by(User.username)).all()
    return [(r.username, r.display_name) for r in rows]


def list_records(ctx: Context, *, username: str | None = None) -> list[tuple[TrainingRecord, User]]:
    """Training records, newest first (of one user when given). Raises Denied."""
    ctx.require(Action.AdminTrainingRead, TARGET)
    stmt = select(TrainingRecord, User).join(User, User.id == TrainingRecord.user_id)
    if username:
        stmt = stmt.where(User.username == username)
    rows = ctx.session.execute(stmt.order_by(TrainingRecord.completed_on.desc(), User.username)).all()
    return [(r, u) for r, u in rows]


def evidence(ctx: Context, record_id: str) -> tuple[bytes, TrainingRecord]:
    """The evidence file, checked against its recorded SHA-256. Raises Denied, NotFound,
    IntegrityFailure."""
    ctx.require(Action.AdminTrainingRead, TARGET)
    row = ctx.session.get(TrainingRecord, record_id)
    if row is None or not row.evidence_blob:
        raise NotFound(f"no evidence for training record {record_id}")
    data = keys.open(ctx, ctx.blobs.get(row.evidence_blob), _aad(row.id), owner=keys.HOME)
    if hashlib.sha256(data).hexdigest() != row.evidence_sha256:
        raise IntegrityFailure(f"the evidence of training record {record_id} does not match its recorded hash")
    return data, row


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where a user stands with the annual security training."""

    username: str
    display_name: str
    department: str
    last_on: dt.date | None  # the latest training taken
    expires_on: dt.date | None  # until when it counts (None: never taken)
    due_since: dt.date  # expiry, or the account's first day when never taken
    grace_until: dt.date

    def state(self, day: dt.date) -> str:
        """ok | soon (within 30 days) | expired | never"""
        if self.expires_on is None:
            return "never"
        if self.expires_on <= day:
            return "expired"
        return "soon" if (self.expires_on - day).days <= DUE_SOON_DAYS else "ok"


def standing(ctx: Context, user: User) -> Standing:
    """`user`'s annual security training (no access check: the login and the home page ask
    it about the signed-in user themself)."""
    rows = list(ctx.session.execute(
        select(TrainingRecord.completed_on, TrainingRecord.expires_on)
        .where(TrainingRecord.user_id == user.id, TrainingRecord.course == ANNUAL)).all())
    last = max((dt.date.fromisoformat(r.completed_on) for r in rows), default=None)
    until = max((dt.date.fromisoformat(r.expires_on) for r in rows if r.expires_on), default=None)
    created = user.created_at if user.created_at.tzinfo else user.created_at.replace(tzinfo=dt.timezone.utc)
    since = until or created.astimezone(LOCAL_TZ).date()
    return Standing(user.username, user.display_name, user.department, last, until, since,
                    since + dt.timedelta(days=ctx.settings.training_grace_days))


def due_report(ctx: Context, *, within_days: int = DUE_SOON_DAYS) -> list[tuple[Standing, str]]:
    """Every active account whose annual security training has expired, was never taken, or
    expires within `within_days`, most overdue first, with its state. Raises Denied."""
    ctx.require(Action.AdminTrainingRead, TARGET)
    day = today(ctx)
    out = []
    for user in ctx.session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.username)):
        s = standing(ctx, user)
        state = s.state(day)
        if state != "ok" and (s.expires_on is None or (s.expires_on - day).days <= within_days):
            out.append((s, state))
    return sorted(out, key=lambda t: (t[0].due_since, t[0].username))


def login_refusal(ctx: Context, user: User) -> str | None:
    """Why `user` may not sign in under ``training_rule = "block"``, or None: their annual
    security training expired (or was never taken) more than training_grace_days ago."""
    if ctx.settings.training_rule != "block":
        return None
    s = standing(ctx, user)
    if today(ctx) > s.grace_until:
        return (f"annual security training overdue since {s.due_since.isoformat()}: "
                "take the training and have it recorded")
    return None


def deep_check(ctx: Context) -> Iterable[str]:
    """`audit verify --deep` and scrub: each evidence file against the SHA-256 its ledger entry
    committed (R37). One line per problem."""
    committed = set(ctx.session.scalars(select(LedgerEntry.digest).where(
        LedgerEntry.tag == str(LedgerTag.AdminTrainingRecorded))))
    rows = ctx.session.scalars(select(TrainingRecord).where(TrainingRecord.evidence_blob.is_not(None))
                               .order_by(TrainingRecord.recorded_at, TrainingRecord.id))
    for row in rows:
        where = f"training evidence {row.id}"
        if row.evidence_sha256 not in committed:
            yield f"{where}: hash {(row.evidence_sha256 or '')[:12]}… was never committed in the ledger"
            continue
        try:
            data = keys.open(ctx, ctx.blobs.get(row.evidence_blob or ""), _aad(row.id), owner=keys.HOME)
        except (KuraError, OSError, KeyError) as exc:
            yield Finding(f"{where}: {exc}", row.evidence_blob)
            continue
        if hashlib.sha256(data).hexdigest() != row.evidence_sha256:
            yield Finding(f"{where}: content does not match its hash", row.evidence_blob)
