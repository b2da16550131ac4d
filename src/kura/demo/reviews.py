"""The demo's oversight: a review report with findings for the audit manager to sign off (R27)
and a finished rights review (棚卸, R11).

Today's ledger already holds the clerk registering hundreds of patients in minutes, the senior
clerk registering the staff-patients (職員・VIP) and the night nurse's break-glass (kura.demo.audit);
to it the seeder adds someone trying the doctor's password three times. The audit manager makes
a report of today (left for a visitor to sign off); the administrator reviews every account and
signs the review off. Everything goes through the services as the demo users.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from kura.identity import service as identity
from kura.demo.records import SENIOR_CLERK
from kura.reviews import reports, rights

__all__ = ["DESCRIPTION", "STEPS", "seed"]

DESCRIPTION = "監査レビュー報告・権限の棚卸"
STEPS = 2

_NOTES = {SENIOR_CLERK: "VIP・職員患者の登録専用アカウント。ログインなしで継続 (年1回見直し)。"}


def seed(kura, progress: Callable[..., object] = lambda n=1: None) -> dict[str, int]:
    users = _users(kura)
    for _ in range(3):  # someone tries the doctor's password
        with kura.unit_of_work(None, "", origin="192.168.10.57") as ctx:
            identity.authenticate(ctx, username="doctor", password="doctor123", otp="000000")  # noqa: S106 — a wrong guess, on purpose
    with kura.unit_of_work(users["audit"], "HSYSADMIN", origin="kura demo") as ctx:
        now = ctx.now().astimezone(reports.JST)
        start = dt.datetime.combine(now.date(), dt.time(), tzinfo=reports.JST)
        report = reports.generate(ctx, start=start, end=start + dt.timedelta(days=1))
        found = len(reports.findings_of(report))
    progress(1)
    with kura.unit_of_work(users["admin"], "HSYSADMIN", origin="kura demo") as ctx:
        review = rights.start(ctx)
        for item in rights.items_of(ctx, review.id):
            rights.mark(ctx, review.id, username=item.username, decision="kept", note=_NOTES.get(item.username, ""))
        rights.sign_off(ctx, review.id, comment="2026年度 上期の ID・権限の棚卸。全アカウントの継続を確認 (退職者なし)。")
    progress(1)
    return {"findings": found, "accounts": len(users)}


def _users(kura) -> dict:
    from sqlalchemy import select

    from kura.identity.models import User
    with kura.sessions() as session:
        return {u.username: identity.subject_of(u) for u in session.scalars(select(User))}
