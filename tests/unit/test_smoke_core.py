"""The core wiring: a change and its ledger entry commit together; denials are recorded."""

import pytest

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import Role
from kura.audit import service as audit
from kura.errors import Denied
from kura.ledger import service as ledger
from kura.ledger.tags import LedgerTag

from tests.factories import ADMIN, make_user


def test_r13_denial_is_rolled_back_and_recorded(kura):
    clerk = Subject(id=None, name="clerk1", roles=frozenset({Role.clerk}))
    with kura.sessions() as s:
        before = ledger.count(s)
    with pytest.raises(Denied):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="x"))
            ctx.require(Action.AdminUserManage, Target(kind="User", id="someone"))
    with kura.sessions() as s:
        entries = ledger.count(s)
    # the in-flight read entry was rolled back; only the denial remains
    assert entries == before + 1
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, total = audit.browse(ctx, audit.Filter(tag="access:request"))
    assert total == 1 and rows[0].actor_name == "clerk1" and "no role" in rows[0].reason


def test_r24_ledger_verifies_after_work(kura):
    make_user(kura, "yamada", ("clerk",))
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        result = audit.verify(ctx)
    assert result.ok, result.line()
    assert result.entries >= 1
