"""The demo's accounts and training: the hospital's user duties (published, acknowledged by
the demo users), account requests from the radiology department head — one approved (a
part-time technologist with an end date at the end of the fiscal year), one refused, one
pending for the administrator — and training records: everyone's annual security training,
the nurse's expired, with an attendance list as evidence.

Everything goes through the services as the demo users, so the ledger shows it as it happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from kura.identity import duties, lifecycle, requests, training
from kura.identity import service as identity

__all__ = ["DESCRIPTION", "STEPS", "seed"]

DESCRIPTION = "利用申請・利用者の責務・研修記録"
STEPS = 3

# a minimal one-page PDF: the attendance list kept as evidence
_EVIDENCE = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
             b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _subject(ctx, username: str):
    return identity.subject_of(identity.get_user(ctx, username))


def _fiscal_year_end(day: dt.date) -> dt.date:
    """31 March of the current Japanese fiscal year (年度末)."""
    return dt.date(day.year + (1 if day.month > 3 else 0), 3, 31)


def seed(kura, progress: Callable[..., object] = lambda n=1: None) -> dict[str, int]:
    with kura.unit_of_work(None, "HOPERAT") as ctx:
        admin, ops, head = _subject(ctx, "admin"), _subject(ctx, "ops"), _subject(ctx, "bucho")
        today = lifecycle.today(ctx)
    with kura.unit_of_work(admin, "HSYSADMIN", origin="kura demo") as ctx:
        version = duties.publish(ctx, text=duties.SUGGESTED).version
        people = {u.username: identity.subject_of(u) for u in identity.list_users(ctx)}
    names = sorted(people)
    for name, who in people.items():  # the demo users have read and acknowledged it
        with kura.unit_of_work(who, "HOPERAT", origin="kura demo") as ctx:
            duties.acknowledge(ctx, user=identity.get_user(ctx, name), version=version)
    progress(1)

    asked = {}
    for username, display, roles, reason in [
        ("ishii", "石井 誠", ["technologist"], "非常勤 (週2日) 診療放射線技師として採用。年度末までの契約。"),
        ("fujita", "藤田 彩", ["technologist", "clerk"], "実習生の受け入れ。"),
        ("nishimura", "西村 由香", ["technologist"], "4月1日付 採用 (診療放射線技師、CT 担当)。"),
    ]:
        with kura.unit_of_work(head, "HSYSADMIN", origin="kura demo") as ctx:
            end = _fiscal_year_end(today).isoformat() if username == "ishii" else None
            asked[username] = requests.submit(ctx, kind="create", username=username, display_name=display,
                                              department="放射線科", roles=roles, clearance="N", end_date=end,
                                              reason=reason).id
    with kura.unit_of_work(admin, "HSYSADMIN", origin="kura demo") as ctx:
        requests.approve(ctx, asked["ishii"], note="契約書を確認済み")
    with kura.unit_of_work(admin, "HSYSADMIN", origin="kura demo") as ctx:
        requests.refuse(ctx, asked["fujita"], reason="実習生には専用の期間限定アカウントを使う運用のため。医事課と調整してください。")
    progress(1)

    with kura.unit_of_work(ops, "HSYSADMIN", origin="kura demo") as ctx:
        for name in names:
            if name == "nurse":  # taken 13 months ago: expired, the nurse's home page says so
                training.record(ctx, username=name, course="security",
                                completed_on=(today - dt.timedelta(days=400)).isoformat(),
                                title="情報セキュリティ研修 (前年度)")
                continue
            training.record(ctx, username=name, course="security",
                            completed_on=(today - dt.timedelta(days=60)).isoformat(),
                            title="情報セキュリティ研修 (今年度・全職員)",
                            evidence=_EVIDENCE if name == "admin" else None,
                            evidence_name="出席簿.pdf" if name == "admin" else "",
                            evidence_type="application/pdf" if name == "admin" else "")
        training.record(ctx, username="doctor", course="privacy", completed_on=(today - dt.timedelta(days=30)).isoformat(),
                        title="個人情報保護研修 (外部講師)", note="e-ラーニング修了")
    progress(1)
    return {"requests": len(asked), "acknowledged": len(names)}
