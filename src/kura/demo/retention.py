"""The demo's retention, disposal and registers: a patient whose retention ends within the
month, one under legal hold, one disposed of with its signed certificate (requested by the
operations manager, approved by the administrator), an encrypted disclosure export, a patient
medium in the register, an approved equipment disposal, and a closed incident.

Everything goes through the services as the demo users, so the ledger shows it as it happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from sqlalchemy import select

from kura.disposal import holds
from kura.disposal import service as disposals
from kura.disposal.retention import add_years, today
from kura.identity import service as identity
from kura.imaging.models import ImagingStudy
from kura.records import disclosure
from kura.records import resources as R
from kura.records import service as records
from kura.registers import equipment, incidents, media

__all__ = ["DESCRIPTION", "STEPS", "seed"]

DESCRIPTION = "保存期間・廃棄・台帳 (訴訟ホールド、廃棄証明書、暗号化開示、媒体、事故)"
STEPS = 7
JST = dt.timezone(dt.timedelta(hours=9))

# mrn, 姓, 名, セイ, メイ, birth, gender, days until the retention ends (negative: ended)
_OLD = [
    ("90000001", "古川", "正夫", "フルカワ", "マサオ", "1931-02-11", "male", 20),  # ends within the month
    ("90000002", "野口", "トメ", "ノグチ", "トメ", "1928-07-03", "female", -1460),  # ended; legal hold
    ("90000003", "大塚", "清", "オオツカ", "キヨシ", "1935-11-23", "male", -2190),  # disposed of
]
YEARS = 5  # the longest retention among the seed classes these records fall in


def _subject(ctx, username: str):
    return identity.subject_of(identity.get_user(ctx, username))


def _patient(kura, clerk, row, day: dt.date) -> str:
    mrn, family, given, fk, gk, birth, gender, _ = row
    when = f"{day.isoformat()}T10:00:00+09:00"
    with kura.unit_of_work(clerk, "HPAYMT", origin="kura demo") as ctx:
        pid = records.create(ctx, R.patient(mrn=mrn, family=family, given=given, family_kana=fk, given_kana=gk,
                                            birth_date=birth, gender=gender)).id
        made = [records.create(ctx, R.coverage(patient_id=pid, kind="koki", insurer="3913101" + R.insurer_check_digit("3913101"), symbol="",
                                               number="12345678", start=f"{day.year}-01-01")),
                records.create(ctx, R.encounter(patient_id=pid, start=when, department="内科"))]
        charge = records.create(ctx, R.charge_item(patient_id=pid, code="112007410", when=day.isoformat()))
        made += [charge, records.create(ctx, R.invoice(patient_id=pid, date=day.isoformat(), total_yen=2250,
                                                       charge_ids=[charge.id]))]
        for v in [records.read(ctx, "Patient", pid), *made]:
            records.confirm(ctx, v.rtype, v.id)
    return pid


def seed(kura, progress: Callable[..., object] = lambda n=1: None) -> dict[str, int]:
    with kura.unit_of_work(None, "HOPERAT") as ctx:
        clerk, doctor, tech = _subject(ctx, "clerk"), _subject(ctx, "doctor"), _subject(ctx, "tech")
        ops, admin, auditor = _subject(ctx, "ops"), _subject(ctx, "admin"), _subject(ctx, "audit")
        now = today(ctx)
    pids = []
    for row in _OLD:
        # the last visit such that the retention ends row[7] days from today
        pids.append(_patient(kura, clerk, row, add_years(now + dt.timedelta(days=row[7]), -YEARS)))
    progress(1)
    with kura.unit_of_work(auditor, "HSYSADMIN", origin="kura demo") as ctx:
        holds.place(ctx, patient_id=pids[1], reason="弁護士会照会 (23条照会) 2026-10 への回答準備中")
    progress(1)
    with kura.unit_of_work(ops, "HSYSADMIN", origin="kura demo") as ctx:
        did = disposals.request(ctx, patient_id=pids[2], reason="保存期間満了 (医事会計・診療録 5年)").id
    with kura.unit_of_work(admin, "HSYSADMIN", origin="kura demo") as ctx:
        disposals.approve(ctx, did)
    disposals.after_approval(kura, admin, did)
    progress(1)
    with kura.unit_of_work(doctor, "TREAT", origin="kura demo") as ctx:
        some = records.search(ctx, "Patient", [("identifier", "10000001")]).versions
        if some:
            disclosure.export_patient(ctx, some[0].id, purpose="referral", recipient="蔵大学病院 地域医療連携室")
    progress(1)
    with kura.unit_of_work(tech, "TREAT", origin="kura demo") as ctx:
        pid = ctx.session.scalar(select(ImagingStudy.patient_id).order_by(ImagingStudy.study_date.desc()).limit(1))
        if pid:
            media.make_medium(ctx, dicom_patient_id=pid, purpose="referral", recipient="蔵大学病院 放射線科")
    progress(1)
    with kura.unit_of_work(ops, "HOPERAT", origin="kura demo") as ctx:
        entry = equipment.record(ctx, item_kind="device", description="旧画像サーバー (PACS) ディスク 8 台",
                                 serial="WD-WX72D81A2F0C ほか", method="contractor", performed_by="日本データ消去株式会社",
                                 performed_on=(now - dt.timedelta(days=30)).isoformat(),
                                 certificate_ref="データ消去証明書 No. JDE-2026-0415")
    with kura.unit_of_work(admin, "HOPERAT", origin="kura demo") as ctx:
        equipment.approve(ctx, entry.id)
    progress(1)
    found = dt.datetime.combine(now - dt.timedelta(days=40), dt.time(9, 30), JST)
    with kura.unit_of_work(ops, "HOPERAT", origin="kura demo") as ctx:
        i = incidents.record(ctx, kind="loss", title="紹介状控えを保存した USB メモリの紛失 (暗号化済み)",
                             description="外来で使用していた暗号化 USB メモリが所在不明。パスワード保護あり。",
                             discovered_at=found, occurred_at=found - dt.timedelta(days=1),
                             reported_by="外来看護師長", subject_kind="account", subject_id="doctor",
                             window_start=found - dt.timedelta(days=7), window_end=found)
        incidents.file_report(ctx, i.id, "preliminary")
        incidents.note(ctx, i.id, "暗号化を確認 (AES-256)。「高度な暗号化」のため漏えいのおそれは低いと判断")
        incidents.file_report(ctx, i.id, "final")
        incidents.close(ctx, i.id, "院内で発見・回収。持ち出し手順を周知し再発防止")
    progress(1)
    return {"held": 1, "disposed": 1, "media": 1, "incidents": 1}
