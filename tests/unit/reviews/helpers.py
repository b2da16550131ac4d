"""A ledger with something to find: users at work, patients by name, staff-patients."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from kura.access.policy import Target
from kura.identity import service as identity
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.factories import ADMIN, make_user, subject
from tests.support.records import seed_classes

JST = zoneinfo.ZoneInfo("Asia/Tokyo")
# A Tuesday: 2026-11-24 (JST)
DAY = dt.date(2026, 11, 24)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=JST).astimezone(dt.timezone.utc)


def day_bounds(day: dt.date = DAY) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=JST)
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=1)).astimezone(dt.timezone.utc)


def named(kura, username: str, roles, display: str):
    user = make_user(kura, username, roles)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        identity.update_user(ctx, username=username, display_name=display)
    return user


def patient(kura, clerk, family: str, kana: str, mrn: str, *, staff: bool = False) -> str:
    with kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        v = records.create(ctx, R.patient(mrn=mrn, family=family, given="一郎", family_kana=kana,
                                          given_kana="イチロウ", birth_date="1970-01-02", gender="male",
                                          staff=staff))
        return v.id


def touch(kura, user, patient_id: str, tag=LedgerTag.RecordsRecordRead) -> None:
    """What a read of the patient leaves in the ledger (the actor, the patient)."""
    with kura.unit_of_work(subject(user), "TREAT") as ctx:
        ctx.record(tag, target=Target(kind="Patient", id=patient_id, patient_id=patient_id))


@dataclasses.dataclass
class Day:
    yamada: object
    suzuki: object
    sato_id: str
    yamada_id: str
    others: list


def busy_day(kura, clock) -> Day:
    """2026-11-24 (JST): a clerk 山田 reads a 山田 at night and a staff-patient by day, prints;
    the doctor 鈴木 opens six patients in ten minutes; someone tries 鈴木's password three times."""
    seed_classes(kura)
    clock._now = at(9)
    clerk = make_user(kura, "reg-clerk", ("clerk",), clearance="V")
    yamada = named(kura, "yamada", ("clerk",), "山田 花子")
    suzuki = named(kura, "suzuki", ("physician",), "鈴木 一郎")
    yamada_id = patient(kura, clerk, "山田", "ヤマダ", "10000001")
    sato_id = patient(kura, clerk, "佐藤", "サトウ", "10000002", staff=True)
    others = [patient(kura, clerk, "高橋", "タカハシ", f"1000010{i}") for i in range(6)]
    clock._now = at(22, 30)
    touch(kura, yamada, yamada_id)
    clock._now = at(10)
    touch(kura, yamada, sato_id)
    touch(kura, yamada, sato_id, LedgerTag.RecordsRecordPrinted)
    clock._now = at(14)
    for pid in others:
        clock.advance(minutes=1)
        touch(kura, suzuki, pid)
    clock._now = at(15)
    for _ in range(3):
        clock.advance(seconds=40)
        with kura.unit_of_work(None, "") as ctx:
            identity.authenticate(ctx, username="suzuki", password="wrong-password", otp="000000")
    return Day(yamada, suzuki, sato_id, yamada_id, others)
