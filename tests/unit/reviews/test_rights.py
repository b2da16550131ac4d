"""The periodic rights review (棚卸, R11): every account, its roles, clearance, last sign-in and
unused rights; unused accounts flagged; kept / changed / disabled (really disabled); signed off."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kura.errors import Conflict, Denied, Invalid
from kura.identity import service as identity
from kura.identity.models import User
from kura.ledger.models import LedgerEntry
from kura.ledger.signing import DocumentSignature, verify_document
from kura.ledger.tags import LedgerTag
from kura.reviews import rights
from tests.factories import make_user, subject
from tests.unit.reviews.helpers import touch


def _login(kura, clock, user):
    clock.advance(seconds=30)
    with kura.unit_of_work(None, "") as ctx:
        assert identity.authenticate(ctx, username=user.username, password=user.password,
                                     otp=user.code(clock)).token


def test_r11_rights_review_lists_every_account_and_flags_the_unused(kura, clock):
    idle = make_user(kura, "kyuushoku", ("clerk",))  # signed in once, long ago
    never = make_user(kura, "mishiyou", ("nurse",))  # never signed in
    _login(kura, clock, idle)
    clock.advance(days=120)
    admin = make_user(kura, "kanri", ("admin",))
    busy = make_user(kura, "nakamura", ("physician",))
    _login(kura, clock, busy)
    touch(kura, busy, "P-1")
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        review_id = rights.start(ctx).id
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        _, items = rights.get(ctx, review_id)
        by = {i.username: i for i in items}
        assert set(by) >= {"kanri", "kyuushoku", "nakamura"}
        assert by["kyuushoku"].unused and by["kyuushoku"].last_login is not None
        assert by[never.username].unused and by[never.username].last_login is None
        assert not by["nakamura"].unused and not by["kanri"].unused  # kanri: created today
        unused = json.loads(by["nakamura"].unused_rights)
        assert "records:record:read" not in unused and "records:record:export" in unused
        assert "admin:user:read" not in json.loads(by["kanri"].unused_rights)  # leaves no entry: not judged
        assert by["nakamura"].roles == "physician" and by["nakamura"].clearance == "N"
    started = _entries(kura, LedgerTag.AdminReviewStarted)
    assert started and json.loads(started[0].detail)["flagged"] >= 1


def test_r11_marks_disable_for_real_and_the_signed_review_verifies(kura, clock):
    admin = make_user(kura, "kanri", ("admin",))
    leaver = make_user(kura, "taishoku", ("nurse",))
    stays = make_user(kura, "nokoru", ("clerk",))
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        review_id = rights.start(ctx).id
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.mark(ctx, review_id, username="taishoku", decision="disabled", note="3月末で退職")
    with kura.sessions() as s:
        assert s.scalar(select(User.disabled).where(User.username == "taishoku"))
    assert _entries(kura, LedgerTag.AdminUserDisabled)[-1].target_id == "taishoku"
    with kura.unit_of_work(None, "") as ctx:  # the identity service refuses the disabled account
        assert identity.authenticate(ctx, username="taishoku", password=leaver.password,
                                     otp=leaver.code(clock)).token is None
    with pytest.raises(Invalid), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.mark(ctx, review_id, username="nokoru", decision="changed")  # say what
    with pytest.raises(Invalid), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.mark(ctx, review_id, username="nokoru", decision="deleted")
    with pytest.raises(Invalid), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.sign_off(ctx, review_id, comment="まだ途中")  # accounts left unmarked
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        for item in rights.items_of(ctx, review_id):
            if not item.decision:
                rights.mark(ctx, review_id, username=item.username, decision="kept")
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.sign_off(ctx, review_id, comment="2026年度上期の棚卸を完了")
    with pytest.raises(Conflict), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.sign_off(ctx, review_id, comment="again")
    with pytest.raises(Conflict), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.mark(ctx, review_id, username="nokoru", decision="disabled")
    with kura.sessions() as s:
        assert not s.scalar(select(User.disabled).where(User.username == stays.username))
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        pdf, sig = rights.document(ctx, review_id)
    parsed = DocumentSignature.parse(sig.line(), (rights.KIND,))
    assert pdf.startswith(b"%PDF")
    assert verify_document(kura.signer.public_key, kura.signer.key_id, pdf, parsed) == []
    assert len(_entries(kura, LedgerTag.AdminReviewMarked)) == len(rights_items(kura, review_id))
    assert _entries(kura, LedgerTag.AdminReviewSignedOff)[0].digest == sig.sha256


def test_r11_only_the_administrator_reviews_the_auditor_reads(kura, clock):
    admin = make_user(kura, "kanri", ("admin",))
    auditor = make_user(kura, "kansa", ("auditor",))
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        review_id = rights.start(ctx).id
    with kura.unit_of_work(subject(auditor), "HSYSADMIN") as ctx:
        assert rights.get(ctx, review_id)[0].id == review_id
    for who in (auditor, make_user(kura, "x-clerk", ("clerk",)), make_user(kura, "x-ops", ("operations",))):
        with pytest.raises(Denied), kura.unit_of_work(subject(who), "HSYSADMIN") as ctx:
            rights.start(ctx)
        with pytest.raises(Denied), kura.unit_of_work(subject(who), "HSYSADMIN") as ctx:
            rights.mark(ctx, review_id, username="kansa", decision="kept")
    with pytest.raises(Invalid), kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        rights.mark(ctx, review_id, username="kanri", decision="disabled")  # not one's own account


def test_r11_every_action_is_judged_or_said_to_leave_no_entry():
    from kura.access.actions import Action
    unjudged = set(Action) - set(rights.ACTION_TAGS) - rights.UNTRACEABLE
    assert not unjudged, f"add to kura.reviews.rights.ACTION_TAGS (or UNTRACEABLE): {sorted(unjudged)}"
    assert not set(rights.ACTION_TAGS) & rights.UNTRACEABLE


def rights_items(kura, review_id):
    with kura.sessions() as s:
        return list(s.scalars(select(rights.RightsReviewItem).where(rights.RightsReviewItem.review_id == review_id)))


def _entries(kura, tag):
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag)).order_by(LedgerEntry.seq)))
