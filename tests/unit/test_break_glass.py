"""Break-glass as a bounded session for one patient (R18): the reason once, one alert, every
access ledgered under it, and an end (its time, or the user's) — decided by the policy from
the facts the unit of work finds in the ledger."""

import json

import pytest

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Denied
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from tests.factories import make_user, subject

V = Target(kind="Patient", id="p1", patient_id="p1", confidentiality="V")
OTHER = Target(kind="Patient", id="p2", patient_id="p2", confidentiality="V")


def _rows(kura, tag):
    with kura.sessions() as s:
        return s.query(LedgerEntry).filter(LedgerEntry.tag == str(tag)).order_by(LedgerEntry.seq).all()


def _read(kura, who, target, reason=None):
    with kura.unit_of_work(who, break_glass_reason=reason) as ctx:
        ctx.require(Action.RecordsRecordRead, target)
        ctx.record(LedgerTag.RecordsRecordRead, target=target)
        return ctx.purpose


@pytest.fixture
def doctor(kura):
    return subject(make_user(kura, "kyukyu", ("physician",)), "N")


def test_r18_break_glass_reason_once_one_alert_then_bounded(kura, clock, doctor):
    with pytest.raises(Denied) as exc:
        _read(kura, doctor, V)
    assert exc.value.needs_break_glass
    assert _read(kura, doctor, V, "心肺停止で搬送、既往歴を確認") == "ETREAT"
    for _ in range(5):  # the next pages of the same emergency: no reason asked, no new alert
        clock.advance(minutes=5)
        assert _read(kura, doctor, V) == "ETREAT"
    started = _rows(kura, LedgerTag.AccessBreakGlassStarted)
    assert len(started) == 1 and started[0].alert and started[0].patient_id == "p1"
    assert json.loads(started[0].detail)["minutes"] == 30
    reads = _rows(kura, LedgerTag.RecordsRecordRead)
    assert len(reads) == 6 and all(json.loads(r.detail)["break_glass"] == started[0].seq for r in reads)
    assert all(r.purpose == "ETREAT" and not r.alert for r in reads)
    with pytest.raises(Denied):  # another patient is not opened by it
        _read(kura, doctor, OTHER)
    clock.advance(minutes=6)  # 31 minutes after the reason: the break-glass has run out
    with pytest.raises(Denied) as exc:
        _read(kura, doctor, V)
    assert exc.value.needs_break_glass


def test_r18_break_glass_belongs_to_its_user_and_can_be_ended(kura, doctor):
    nurse = subject(make_user(kura, "kango", ("nurse",)), "N")
    clerk = subject(make_user(kura, "jimu", ("clerk",)), "N")
    _read(kura, doctor, V, "意識障害、服薬歴を確認")
    with pytest.raises(Denied):  # a colleague is not let in by someone else's break-glass
        _read(kura, nurse, V)
    with pytest.raises(Denied) as exc:  # 医事 staff cannot break the glass at all
        _read(kura, clerk, V, "至急")
    assert not exc.value.needs_break_glass
    with kura.unit_of_work(doctor) as ctx:
        assert ctx.end_break_glass("p1") is not None
    with pytest.raises(Denied):
        _read(kura, doctor, V)
    stopped = _rows(kura, LedgerTag.AccessBreakGlassStopped)
    assert len(stopped) == 1 and not stopped[0].alert
