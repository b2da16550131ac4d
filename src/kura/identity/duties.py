"""利用者の責務: the users' duties under the hospital's regulation, and each user's 同意.

The text is the hospital's own, written by the system administrator; every edit is a new
version and no version is ever changed. A user acknowledges the current version at their
first sign-in, again `duties_acknowledge_days` (365) after their last 同意, and again when a
new version is published; until then the screens show the text and 同意する before anything
else (kura.web.ui.render.page_auth), and the API refuses. With no text published there is
nothing to acknowledge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from sqlalchemy import func, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid
from kura.identity.models import DutiesAcknowledgement, DutiesText, User
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["current", "publish", "versions", "due", "acknowledge", "Standing", "standings", "SUGGESTED"]

# Offered in the editor of a home with no text yet; the hospital makes it its own.
SUGGESTED = """医療情報システムの利用者は、運用管理規程に基づき、次の責務を負います。

1. 自分の利用者 ID・パスワード・認証用端末 (二要素認証アプリ) を他人に貸与・共有しません。パスワードは推測されにくいものとし、他人に知られたと思ったら直ちに変更し、システム管理者に届け出ます。
2. 業務上必要な患者の情報だけを、必要な範囲で閲覧・入力します。緊急時アクセス (ブレークグラス) は理由を記入し、監査の対象となることを理解して使います。
3. 入力した記録は自ら確認し確定します。確定した記録の訂正は理由を付けて行います。
4. 離席するときはログアウトするか画面をロックします。
5. 患者の情報を印刷・書き出し・持ち出すときは規程の手続に従い、院外に持ち出しません。
6. 紛失・盗難・漏えい・不正アクセスやその疑いに気づいたら、直ちにシステム管理者・運用責任者に報告します。
7. 退職・異動のときは、所属長を通じて利用の終了を申請します。
8. 年に一度の情報セキュリティ研修を受講します。

すべての操作は監査ログに記録され、監査責任者が確認します。"""


def current(ctx: Context) -> DutiesText | None:
    """The newest version, or None when the hospital has published none."""
    return ctx.session.scalar(select(DutiesText).order_by(DutiesText.version.desc()).limit(1))


def publish(ctx: Context, *, text: str) -> DutiesText:
    """A new version of the text; earlier versions stay as they were. Every user acknowledges
    it at their next sign-in. Raises Denied, Invalid. Ledger: AdminDutiesPublished."""
    ctx.require(Action.AdminDutiesManage, Target(kind="Duties"))
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("the text of the user duties is empty")
    if len(text) > 20000:
        raise Invalid("the text of the user duties is longer than 20000 characters")
    now = current(ctx)
    if now is not None and now.text == text:
        raise Invalid("the text is the same as the current version")
    row = DutiesText(version=(now.version + 1) if now else 1, text=text,
                     sha256=hashlib.sha256(text.encode()).hexdigest(), published_at=ctx.now(),
                     published_by=ctx.actor.name if ctx.actor else "system")
    ctx.session.add(row)
    ctx.session.flush()
    ctx.record(LedgerTag.AdminDutiesPublished, target=Target(kind="Duties", id=str(row.version)),
               digest=row.sha256, detail={"version": row.version, "characters": len(text)})
    return row


def versions(ctx: Context) -> list[DutiesText]:
    """Every version, newest first. Raises Denied."""
    ctx.require(Action.AdminDutiesManage, Target(kind="Duties"))
    return list(ctx.session.scalars(select(DutiesText).order_by(DutiesText.version.desc())))


def _last(ctx: Context, user_id: str) -> DutiesAcknowledgement | None:
    return ctx.session.scalar(select(DutiesAcknowledgement).where(DutiesAcknowledgement.user_id == user_id)
                              .order_by(DutiesAcknowledgement.at.desc(), DutiesAcknowledgement.id.desc()).limit(1))


def due(ctx: Context, user: User) -> int | None:
    """The version `user` must acknowledge before anything else, or None. Asked on every
    request (two small indexed queries), so a new version reaches users already signed in."""
    latest = ctx.session.scalar(select(func.max(DutiesText.version)))
    if latest is None:
        return None
    # columns, not an entity: this runs on every request
    last = ctx.session.execute(
        select(DutiesAcknowledgement.version, DutiesAcknowledgement.at)
        .where(DutiesAcknowledgement.user_id == user.id)
        .order_by(DutiesAcknowledgement.at.desc(), DutiesAcknowledgement.id.desc()).limit(1)).first()
    if last is None or last.version < latest:
        return int(latest)
    at = last.at if last.at.tzinfo else last.at.replace(tzinfo=dt.timezone.utc)
    if ctx.now() - at >= dt.timedelta(days=ctx.settings.duties_acknowledge_days):
        return int(latest)
    return None


def acknowledge(ctx: Context, *, user: User, version: int) -> DutiesAcknowledgement:
    """The user's 同意 to `version`, which must be the current one (a newer version published
    while they read is shown to them instead). Raises Denied, Conflict.
    Ledger: AuthDutiesAcknowledged."""
    target = Target(kind="User", id=user.username)
    ctx.require(Action.SelfDutiesAcknowledge, target)
    now = current(ctx)
    if now is None or now.version != version:
        raise Conflict("the user duties have changed: read the current version")
    ack = DutiesAcknowledgement(user_id=user.id, version=version, at=ctx.now())
    ctx.session.add(ack)
    ctx.session.flush()
    ctx.record(LedgerTag.AuthDutiesAcknowledged, target=target, digest=now.sha256, detail={"version": version})
    return ack


@dataclasses.dataclass(frozen=True)
class Standing:
    username: str
    display_name: str
    version: int | None  # last acknowledged version
    at: dt.datetime | None
    due: bool


def standings(ctx: Context) -> list[Standing]:
    """Each active account's last 同意, for the administrator. Raises Denied."""
    ctx.require(Action.AdminDutiesManage, Target(kind="Duties"))
    out = []
    for user in ctx.session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.username)):
        last = _last(ctx, user.id)
        out.append(Standing(user.username, user.display_name, last.version if last else None,
                            last.at if last else None, due(ctx, user) is not None))
    return out
