"""The demo seeder: deterministic synthetic patients, entered through the services as the
demo users; some confirmed, some corrected with a reason, some restricted."""

import datetime as dt
import subprocess
import sys

from sqlalchemy import func, select

from kura.classes import service as classes
from kura.ledger.tags import LedgerTag
from kura.demo import records as demo
from kura.records import resources as R
from kura.records.models import Record, RecordVersion
from kura.records.kana import normalise
from tests.factories import ADMIN, make_user
from tests.web.ui import entries


def _demo_users(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    make_user(kura, "admin", ("admin",))
    make_user(kura, "clerk", ("clerk",))
    make_user(kura, "doctor", ("physician",), clearance="R")


def test_plan_is_deterministic_and_realistic():
    today = dt.date(2026, 11, 25)
    a, b = demo.plan(200, seed=7, today=today), demo.plan(200, seed=7, today=today)
    assert a == b
    assert a != demo.plan(200, seed=8, today=today)
    assert len({p.mrn for p in a}) == 200
    assert {p.gender for p in a} == {"male", "female"}
    assert min(p.birth for p in a).year >= 1930 and max(p.birth for p in a).year <= 2020
    assert len({p.family for p in a}) > 30
    for p in a:
        assert normalise(p.family_kana) == p.family_kana and all("ァ" <= c <= "ヶ" or c == "ー" for c in p.family_kana)
        assert p.insurer[-1] == R.insurer_check_digit(p.insurer[:-1])
        assert len(p.insurer) == (6 if p.kind == "kokuho" else 8)
        assert p.visits[0][1][0] == "111000110"  # 初診料 first, 再診料 after
        assert all(codes[0] == "112007410" for _, codes in p.visits[1:])
        assert all(c in R.CHARGE_CODES for _, codes in p.visits for c in codes)
    assert {p.kind for p in a} == {"shaho", "kokuho", "koki"}
    assert any(p.vip for p in a) and any(p.psych for p in a) and any(p.correct for p in a)


def test_seed_enters_through_the_services_as_the_demo_users(kura, home):
    _demo_users(kura)
    steps = []
    counts = demo.seed(kura, progress=steps.append, patients=24, letters=2)
    assert sum(steps) == 24 and counts["patients"] == 24
    assert counts["corrected"] >= 1 and counts["documents"] == 2 and counts["restricted"] >= 1
    with kura.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Record).where(Record.rtype == "Patient")) == 24
        labels = dict(s.execute(select(Record.confidentiality, func.count()).where(Record.rtype != "Provenance")
                                .group_by(Record.confidentiality)).all())
        assert labels.get("V") and labels.get("R") and labels["N"] > 100
        reasons = [r for r in s.scalars(select(RecordVersion.reason).where(RecordVersion.reason != "")) if r]
        assert reasons and set(reasons) <= set(demo.CORRECTIONS.values())
        statuses = set(s.scalars(select(Record.status).where(Record.rtype == "Patient")))
        assert statuses == {"draft", "confirmed"}
    created = entries(kura, LedgerTag.RecordsRecordCreated)
    assert {"clerk", "doctor", demo.SENIOR_CLERK} <= {e.actor_name for e in created}
    assert {e.actor_name for e in entries(kura, LedgerTag.RecordsRecordConfirmed)} >= {"clerk", "doctor"}
    done = subprocess.run([sys.executable, "-m", "kura", "--home", str(home), "audit", "verify", "--deep"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
