"""The ledger's service: checkpoints at intervals, savepoints, the hashed encoding on both
engines, the parallel verifier, and who may touch the ledger (R15, R24, R25, R44)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import ROLE_GRANTS, Role
from kura.app import build
from kura.audit import service as audit
from kura.config import load_settings
from kura.errors import Denied
from kura.ledger import service as ledger
from kura.ledger.encoding import FIELDS, encoded_sql, entry_bytes, iso_utc
from kura.ledger.merkle import root_of
from kura.ledger.models import Checkpoint, LedgerEntry
from kura.ledger.signing import checkpoint_message, verify_signature
from kura.ledger.tags import LedgerTag

from tests.factories import ADMIN

AUDITOR = Subject(id=None, name="kansa", roles=frozenset({Role.auditor}))
CLERK = Subject(id=None, name="jimu", roles=frozenset({Role.clerk}))


@pytest.fixture
def small(home, clock):
    """A home that signs a checkpoint every 5 entries."""
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "checkpoint_interval = 5\n", encoding="utf-8")
    app = build(load_settings(home, env="development"), clock=clock)
    yield app
    app.dispose()


def fill(kura, n: int, **kw) -> None:
    with kura.unit_of_work(ADMIN, "HOPERAT", origin="192.0.2.7") as ctx:
        for i in range(n):
            ctx.record(LedgerTag.RecordsRecordRead,
                       target=Target(kind="Patient", id=f"pat-{i}", patient_id=f"P{i:05d}"), **kw)


def verify(kura, **kw) -> ledger.VerifyResult:
    with kura.sessions() as s:
        return ledger.verify(s, signer=kura.signer, **kw)


def test_r24_checkpoint_every_interval_signed_by_the_home_key(small):
    fill(small, 12)
    with small.sessions() as s:
        n = ledger.count(s)
        leaves = [bytes.fromhex(h) for h in s.scalars(text("SELECT leaf_hash FROM ledger_entry ORDER BY seq"))]
        cps = list(s.scalars(select(Checkpoint).order_by(Checkpoint.tree_size)))
    assert n >= 12 and [cp.tree_size for cp in cps] == list(range(5, n + 1, 5))
    for cp in cps:
        assert cp.root_hash == root_of(leaves[:cp.tree_size]).hex()
        msg = checkpoint_message(cp.tree_size, cp.root_hash, iso_utc(cp.at))
        assert verify_signature(small.signer.public_key, msg, cp.signature)
    assert verify(small).ok


def test_r24_savepoint_rollback_leaves_head_and_entries_in_step(kura):
    fill(kura, 3)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="a"))
        with pytest.raises(RuntimeError):
            with ctx.session.begin_nested():
                ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="gone-1"))
                ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="gone-2"))
                raise RuntimeError("refused")
        ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="b"))
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        # a savepoint opened before this transaction's first append
        with pytest.raises(RuntimeError):
            with ctx.session.begin_nested():
                ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="gone-3"))
                raise RuntimeError("refused")
        ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="c"))
    with kura.sessions() as s:
        ids = list(s.scalars(text("SELECT target_id FROM ledger_entry WHERE target_kind = 'Patient' "
                                  "AND target_id NOT LIKE 'pat-%' ORDER BY seq")))
    assert ids == ["a", "b", "c"]
    result = verify(kura)
    assert result.ok, result.line()


def test_r24_a_commit_whose_head_moved_underneath_is_refused(kura):
    fill(kura, 2)
    with pytest.raises(RuntimeError, match="disagree"):
        with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
            ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id="x"))
            # someone slips a row in behind the ledger's back, inside this transaction
            ctx.session.execute(text("DELETE FROM ledger_entry WHERE seq = (SELECT max(seq) FROM ledger_entry)"))
    assert verify(kura).ok


TRICKY = ["患者 山田太郎", "ﾔﾏﾀﾞ", "emoji 🏥", "a|b:c", "-", "", "12:x", "tab\there", "new\nline",
          "sep\x1finside", "nul\x00inside"]


def test_r44_database_encoding_equals_the_hashed_bytes(kura):
    """verify has the database build each entry's encoding; it must be byte for byte what
    append hashed, for every kind of value, on both engines."""
    with kura.unit_of_work(ADMIN, "HOPERAT", origin="2001:db8::1") as ctx:
        for i, value in enumerate(TRICKY):
            ctx.record(LedgerTag.AdminUserUpdated, target=Target(kind="User", id=value or None,
                       patient_id=None if i % 2 else value), reason=value, digest=None if i % 3 else "ab" * 32,
                       detail={"v": value}, outcome=i % 13, alert=bool(i % 2))
    with kura.sessions() as s:
        dialect = s.get_bind().dialect.name
        db = s.execute(text(f"SELECT {encoded_sql(dialect)} FROM ledger_entry ORDER BY seq")).scalars().all()
        rows = s.execute(LedgerEntry.__table__.select().order_by(LedgerEntry.seq)).mappings().all()
    assert len(db) == len(rows) >= len(TRICKY)
    for enc, row in zip(db, rows):
        assert enc.encode() == entry_bytes(row[f] for f in FIELDS)
        assert "\x00" not in (row["reason"] or "") and "\x1f" not in (row["reason"] or "")
    assert verify(kura).ok


@pytest.mark.parametrize("victim", [3, 29])
def test_r24_parallel_verify_catches_tampering_in_either_half(small, victim):
    fill(small, 36)
    assert verify(small, parallel=True).ok
    assert verify(small, parallel=False).ok
    with small.engine.begin() as c:
        c.execute(text("UPDATE ledger_entry SET reason = 'rewritten' WHERE seq = :s"), {"s": victim})
    for parallel in (True, False):
        result = verify(small, parallel=parallel)
        assert not result.ok and result.first_broken == victim, (parallel, result.line())


def test_r24_parallel_verify_catches_truncation_and_rewritten_tail(small):
    fill(small, 38)
    with small.engine.begin() as c:
        c.execute(text("DELETE FROM ledger_entry WHERE seq > 33"))
    result = verify(small, parallel=True)
    assert not result.ok and result.first_broken == 34, result.line()


def test_r25_reading_and_exporting_the_ledger_is_recorded(kura):
    from kura.audit.export import export_entries

    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        audit.browse(ctx, audit.Filter(actor="nobody"))
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        "".join(export_entries(ctx, fmt="csv"))
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(actor="kansa"))
    tags = [r.tag for r in rows]
    assert LedgerTag.AuditLedgerRead in tags and LedgerTag.AuditLedgerExported in tags


def test_r15_r24_the_auditor_reads_and_no_role_can_alter_the_ledger(kura):
    # Only reading, exporting, verifying and signing checkpoints exist; nothing updates or
    # deletes an entry, so no grant can give it.
    ledger_actions = {a for a in Action if a.startswith("audit:ledger:")}
    assert ledger_actions == {Action.AuditLedgerRead, Action.AuditLedgerExport, Action.AuditLedgerVerify}
    altering = [a for a in Action if a.startswith("audit:") and a.rsplit(":", 1)[1] in
                ("update", "delete", "edit", "write", "purge", "truncate", "manage")]
    assert altering == []
    assert Action.AuditLedgerRead in ROLE_GRANTS[Role.auditor]
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        assert ctx.allows(Action.AuditLedgerRead, audit.LEDGER).allowed
        assert ctx.allows(Action.AuditLedgerExport, audit.LEDGER).allowed
    for role in Role:
        if role != Role.auditor:
            assert Action.AuditLedgerExport not in ROLE_GRANTS[role], role
    with pytest.raises(Denied):
        with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
            audit.browse(ctx, audit.Filter())


def test_r24_a_kept_checkpoint_must_be_signed_by_this_home(small):
    fill(small, 7)
    with small.unit_of_work(ADMIN, "HOPERAT") as ctx:
        kept = ledger.Anchor.of(audit.checkpoint(ctx))
    assert verify(small, anchor=kept).ok
    assert ledger.Anchor.parse(kept.line()) == kept
    other = ledger.Anchor(kept.tree_size, kept.root_hash, kept.at, "0123456789abcdef", kept.signature)
    result = verify(small, anchor=other)
    assert not result.ok and "not this home's key" in result.line()
    forged = ledger.Anchor(kept.tree_size, "ab" * 32, kept.at, kept.key_id, kept.signature)
    result = verify(small, anchor=forged)
    assert not result.ok and "bad signature" in result.line()
    with pytest.raises(ValueError):
        ledger.Anchor.parse("kura-checkpoint v1 size=3")
