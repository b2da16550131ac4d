"""Accounts by request and approval (R10), end dates (R11), the user duties, training (R82):
through the core services on a real, migrated database."""

import datetime as dt

import pytest
from sqlalchemy import select

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Conflict, Denied, Invalid, NotFound, SamePerson
from kura.identity import duties, lifecycle, requests, training
from kura.identity import service as identity
from kura.identity.models import User
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.schedule import JOBS, Scheduler
from tests.factories import make_user, subject


def _subj(kura, name, *roles):
    user = make_user(kura, name, roles)
    return user, subject(user)


def _tags(kura, tag):
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag)).order_by(LedgerEntry.seq)))


@pytest.fixture
def people(kura):
    _, head = _subj(kura, "tanaka-bucho", "department_head")
    _, admin = _subj(kura, "sato-admin", "admin")
    return head, admin


def _ask(kura, head, **kw):
    args = {"kind": "create", "username": "kobayashi", "display_name": "小林 直子", "department": "放射線科",
            "roles": ["technologist"], "clearance": "R", "reason": "4月採用の診療放射線技師"}
    args.update(kw)
    with kura.unit_of_work(head, "HSYSADMIN") as ctx:
        return requests.submit(ctx, **args).id


def test_r10_request_then_approval_creates_the_account_with_a_one_time_password(kura, people, clock):
    head, admin = people
    req_id = _ask(kura, head, end_date=(clock.now() + dt.timedelta(days=400)).date().isoformat())
    with kura.unit_of_work(head, "HSYSADMIN") as ctx:
        assert [r.state for r in requests.list_requests(ctx)] == ["pending"]
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        done = requests.approve(ctx, req_id, note="確認済み")
        password, uri, user_id = done.password, done.uri, done.user.id
    assert uri.startswith("otpauth://totp/") and len(password) == 19
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        user = identity.get_user(ctx, "kobayashi")
        assert (user.id, user.roles, user.clearance, user.must_change_password) == (user_id, "technologist", "R", True)
        assert user.end_date is not None
        assert requests.get_request(ctx, req_id).state == "approved"
    approved = _tags(kura, LedgerTag.AdminRequestApproved)
    assert approved[-1].actor_name == "sato-admin" and "tanaka-bucho" in approved[-1].detail
    assert _tags(kura, LedgerTag.AdminRequestSubmitted)[-1].actor_name == "tanaka-bucho"
    assert _tags(kura, LedgerTag.AdminUserCreated)[-1].target_id == "kobayashi"
    # the one-time password signs in (and must be changed)
    from kura.identity import totp
    from tests.factories import secret_of
    clock.advance(seconds=30)
    with kura.unit_of_work(None, "") as ctx:
        result = identity.authenticate(ctx, username="kobayashi", password=password,
                                       otp=totp.code_at(secret_of(uri), clock.now()))
        assert result.outcome is identity.LoginOutcome.ok and result.must_change_password


def test_r10_the_requester_cannot_decide_and_others_may_not_decide_at_all(kura, clock):
    _, both = _subj(kura, "yoshida", "department_head", "admin")
    _, head = _subj(kura, "head2", "department_head")
    req_id = _ask(kura, both)
    with pytest.raises(SamePerson), kura.unit_of_work(both, "HSYSADMIN") as ctx:
        requests.approve(ctx, req_id)
    with pytest.raises(SamePerson), kura.unit_of_work(both, "HSYSADMIN") as ctx:
        requests.refuse(ctx, req_id, reason="x")
    with pytest.raises(Denied), kura.unit_of_work(head, "HSYSADMIN") as ctx:
        requests.approve(ctx, req_id)
    denied = _tags(kura, LedgerTag.AccessRequestDenied)
    assert any("two-person" in e.reason for e in denied)
    # a department head sees only their own requests
    with kura.unit_of_work(head, "HSYSADMIN") as ctx:
        assert requests.list_requests(ctx) == []
        with pytest.raises(NotFound):
            requests.get_request(ctx, req_id)
    with kura.unit_of_work(both, "HSYSADMIN") as ctx:
        assert requests.get_request(ctx, req_id).state == "pending"


def test_r10_refusal_needs_a_reason_and_is_final(kura, people):
    head, admin = people
    req_id = _ask(kura, head)
    with pytest.raises(Invalid), kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        requests.refuse(ctx, req_id, reason=" ")
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        requests.refuse(ctx, req_id, reason="配属が未定のため")
    with pytest.raises(Conflict), kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        requests.approve(ctx, req_id)
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        assert identity.user_count(ctx) == 2  # no account was made
    assert _tags(kura, LedgerTag.AdminRequestRefused)[-1].reason == "配属が未定のため"


def test_r10_a_change_request_changes_roles_and_clearance(kura, people):
    head, admin = people
    make_user(kura, "ito", ("nurse",))
    with pytest.raises(Conflict):
        _ask(kura, head, username="ito")  # create: exists already
    with pytest.raises(NotFound):
        _ask(kura, head, kind="change", username="nobody")
    req_id = _ask(kura, head, kind="change", username="ito", roles=["nurse", "clerk"], clearance="R",
                  reason="病棟クラークを兼務")
    with pytest.raises(Conflict):
        _ask(kura, head, kind="change", username="ito")  # one pending request per account
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        done = requests.approve(ctx, req_id)
        assert done.password is None and done.uri is None
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        user = identity.get_user(ctx, "ito")
        assert (user.roles, user.clearance) == ("clerk,nurse", "R")


def test_r10_request_refusals_for_wrong_roles(kura):
    _, nurse = _subj(kura, "nurse1", "nurse")
    with pytest.raises(Denied), kura.unit_of_work(nurse, "HSYSADMIN") as ctx:
        requests.submit(ctx, kind="create", username="x1", display_name="x", roles=["clerk"], reason="r")
    with pytest.raises(Denied), kura.unit_of_work(nurse, "HSYSADMIN") as ctx:
        requests.list_requests(ctx)


def test_r11_end_date_disables_on_the_day_by_scheduler_and_at_login(kura, people, clock):
    _, admin = people
    leaver = make_user(kura, "watanabe", ("clerk",))
    make_user(kura, "kimura", ("clerk",))
    tomorrow = lifecycle.today_of(clock.now()) + dt.timedelta(days=1)
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        lifecycle.set_end_date(ctx, username="watanabe", end_date=tomorrow.isoformat(), reason="退職")
        lifecycle.set_end_date(ctx, username="kimura", end_date=tomorrow.isoformat(), reason="異動")
    clock.advance(seconds=30)
    with kura.unit_of_work(None, "") as ctx:
        ok = identity.authenticate(ctx, username="watanabe", password=leaver.password, otp=leaver.code(clock))
        assert ok.outcome is identity.LoginOutcome.ok
        token = ok.token
    clock.advance(seconds=24 * 3600)  # the end date has come
    with kura.unit_of_work(None, "") as ctx:  # a session alive across midnight ends too
        assert identity.resolve_session(ctx, token) is None
    # the scheduler's run disables kimura …
    assert Scheduler(kura, JOBS).end_accounts() == ["kimura", "watanabe"]
    ended = _tags(kura, LedgerTag.AdminUserEnded)
    assert {e.target_id for e in ended} == {"kimura", "watanabe"} and ended[0].actor_name == "system:accounts"
    assert Scheduler(kura, JOBS).end_accounts() == []
    # … and without it the login does it (a missed run lets no one in)
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        user = identity.get_user(ctx, "watanabe")
        user.disabled = False  # as if the scheduler had not run
    clock.advance(seconds=30)
    with kura.unit_of_work(None, "") as ctx:
        r = identity.authenticate(ctx, username="watanabe", password=leaver.password, otp=leaver.code(clock))
        assert r.outcome is identity.LoginOutcome.failed
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        assert identity.get_user(ctx, "watanabe").disabled
        with pytest.raises(Invalid):
            identity.update_user(ctx, username="watanabe", enabled=True)
    assert len(_tags(kura, LedgerTag.AdminUserEnded)) == 3


def test_r11_end_date_refusals(kura, people):
    head, _ = people
    make_user(kura, "mori", ("clerk",))
    with pytest.raises(Denied), kura.unit_of_work(head, "HSYSADMIN") as ctx:
        lifecycle.set_end_date(ctx, username="mori", end_date="2030-01-01")
    _, admin = people
    with pytest.raises(Invalid), kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        lifecycle.set_end_date(ctx, username="mori", end_date="31/03/2030")


def test_duties_versioned_acknowledged_at_first_login_yearly_and_after_a_new_version(kura, people, clock):
    _, admin = people
    nurse = make_user(kura, "suzuki", ("nurse",))
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        user = identity.get_user(ctx, "suzuki")
        assert duties.due(ctx, user) is None  # nothing published: nothing to acknowledge
        duties.publish(ctx, text="第1版")
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        user = identity.get_user(ctx, "suzuki")
        assert duties.due(ctx, user) == 1
    with pytest.raises(Denied), kura.unit_of_work(subject(nurse), "HOPERAT") as ctx:
        duties.publish(ctx, text="勝手な版")
    with kura.unit_of_work(subject(nurse), "HOPERAT") as ctx:
        user = identity.get_user(ctx, "suzuki")
        with pytest.raises(Conflict):
            duties.acknowledge(ctx, user=user, version=2)
        duties.acknowledge(ctx, user=user, version=1)
        assert duties.due(ctx, user) is None
    clock.advance(seconds=366 * 24 * 3600)
    with kura.unit_of_work(subject(nurse), "HOPERAT") as ctx:
        user = identity.get_user(ctx, "suzuki")
        assert duties.due(ctx, user) == 1  # a year on
        duties.acknowledge(ctx, user=user, version=1)
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        with pytest.raises(Invalid):
            duties.publish(ctx, text="第1版")  # unchanged
        duties.publish(ctx, text="第2版")
        assert [v.text for v in duties.versions(ctx)] == ["第2版", "第1版"]  # never overwritten
        assert duties.due(ctx, identity.get_user(ctx, "suzuki")) == 2
    assert len(_tags(kura, LedgerTag.AuthDutiesAcknowledged)) == 2
    assert [e.target_id for e in _tags(kura, LedgerTag.AdminDutiesPublished)] == ["1", "2"]


def test_r82_training_record_with_sealed_evidence_and_the_due_report(kura, people, clock):
    _, admin = people
    make_user(kura, "takahashi", ("physician",))
    make_user(kura, "yamamoto", ("clerk",))
    day = lifecycle.today_of(clock.now())
    pdf = b"%PDF-1.4 attendance list"
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        rec = training.record(ctx, username="takahashi", course="security",
                              completed_on=(day - dt.timedelta(days=400)).isoformat(),
                              evidence=pdf, evidence_name="受講証明.pdf", evidence_type="application/pdf")
        assert rec.expires_on == training._a_year_after(day - dt.timedelta(days=400)).isoformat()
        training.record(ctx, username="yamamoto", course="security", completed_on=day.isoformat())
        rec_id, blob = rec.id, rec.evidence_blob
    assert pdf not in kura.blobs.get(blob)  # sealed at rest
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        data, _ = training.evidence(ctx, rec_id)
        assert data == pdf
        report = {s.username: state for s, state in training.due_report(ctx)}
    assert report["takahashi"] == "expired" and "yamamoto" not in report
    assert report["sato-admin"] == "never"
    assert _tags(kura, LedgerTag.AdminTrainingRecorded)[0].target_id == "takahashi"


def test_r82_training_refusals(kura, people, clock):
    head, admin = people
    make_user(kura, "kato", ("clerk",))
    with pytest.raises(Denied), kura.unit_of_work(head, "HSYSADMIN") as ctx:
        training.record(ctx, username="kato", course="security", completed_on="2026-01-01")
    with pytest.raises(Denied), kura.unit_of_work(head, "HSYSADMIN") as ctx:
        training.due_report(ctx)
    with pytest.raises(Invalid), kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        training.record(ctx, username="kato", course="karate", completed_on="2026-01-01")
    future = (lifecycle.today_of(clock.now()) + dt.timedelta(days=3)).isoformat()
    with pytest.raises(Invalid), kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        training.record(ctx, username="kato", course="security", completed_on=future)
    ops = Subject(id=None, name="ops", roles=frozenset({Role.operations}))
    with kura.unit_of_work(ops, "HOPERAT") as ctx:
        training.record(ctx, username="kato", course="privacy", completed_on="2026-01-01")


def test_r82_block_rule_keeps_an_overdue_user_out_after_the_grace_period(home, clock):
    from kura.app import build
    from kura.config import load_settings

    app = build(load_settings(home, env="development", training_rule="block", training_grace_days=10), clock=clock)
    try:
        user = make_user(app, "hayashi", ("nurse",))
        clock.advance(seconds=9 * 24 * 3600)  # within the grace period: in
        with app.unit_of_work(None, "") as ctx:
            r = identity.authenticate(ctx, username="hayashi", password=user.password, otp=user.code(clock))
            assert r.outcome is identity.LoginOutcome.ok
        clock.advance(seconds=2 * 24 * 3600)
        with app.unit_of_work(None, "") as ctx:
            r = identity.authenticate(ctx, username="hayashi", password=user.password, otp=user.code(clock))
            assert r.outcome is identity.LoginOutcome.refused and "training" in r.reason
        admin = Subject(id=None, name="admin", roles=frozenset({Role.admin}))
        with app.unit_of_work(admin, "HSYSADMIN") as ctx:
            training.record(ctx, username="hayashi", course="security",
                            completed_on=lifecycle.today_of(clock.now()).isoformat())
        clock.advance(seconds=30)
        with app.unit_of_work(None, "") as ctx:
            r = identity.authenticate(ctx, username="hayashi", password=user.password, otp=user.code(clock))
            assert r.outcome is identity.LoginOutcome.ok
        with app.sessions() as s:
            refused = [e for e in s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.AuthLoginFailed)))]
            assert any("training" in e.reason for e in refused)
            assert s.scalar(select(User).where(User.username == "hayashi")) is not None
    finally:
        app.dispose()


def test_r37_deep_check_finds_altered_training_evidence(kura, people, clock):
    from kura.preservation.deep import deep_check

    _, admin = people
    make_user(kura, "ogawa", ("clerk",))
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        blob = training.record(ctx, username="ogawa", course="privacy", completed_on="2026-05-01",
                               evidence=b"attendance", evidence_name="a.txt").evidence_blob
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        assert deep_check(ctx) == []
    sealed = bytearray(kura.blobs.get(blob))
    sealed[-1] ^= 1
    kura.blobs.delete(blob)
    kura.blobs.put(blob, bytes(sealed))
    with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
        problems = deep_check(ctx)
    assert len(problems) == 1 and "training evidence" in problems[0]
