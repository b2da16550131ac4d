"""`kura audit verify|checkpoint|export` through the real command (R24, R44).

Each tamper test edits the database behind kura's back with plain SQL, on whichever engine
this run uses (CI runs the suite on SQLite and on PostgreSQL), and proves that
`kura audit verify` exits 1 naming the first broken entry.
"""

from __future__ import annotations

from hashlib import sha256

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from kura.access.policy import Target
from kura.app import build
from kura.config import load_settings
from kura.ledger.encoding import FIELDS, entry_bytes
from kura.ledger.merkle import Frontier, leaf_hash, root_of
from kura.ledger.models import LedgerEntry
from kura.ledger.service import Anchor
from kura.ledger.signing import checkpoint_message, verify_signature
from kura.ledger.tags import LedgerTag

from tests.factories import ADMIN
from tests.support.cli import kura_cmd

ENTRY = LedgerEntry.__table__
N = 23  # entries written by the fixture; checkpoints at 5, 10, 15, 20


@pytest.fixture
def ledgered(home, clock):
    """A home whose ledger holds N entries, with a signed checkpoint every 5."""
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "checkpoint_interval = 5\n", encoding="utf-8")
    app = build(load_settings(home, env="development"), clock=clock)
    with app.sessions() as s:
        have = s.scalar(text("SELECT count(*) FROM ledger_entry"))
    for i in range(N - have):
        clock.advance(seconds=1)
        with app.unit_of_work(ADMIN, "HOPERAT", origin="192.0.2.5") as ctx:
            ctx.record(LedgerTag.RecordsRecordRead, target=Target(kind="Patient", id=f"pat-{i}", patient_id=f"P{i:04d}"),
                       digest=sha256(str(i).encode()).hexdigest(), detail={"i": i})
    yield app, home
    app.dispose()


def sql(app, statement: str, **params) -> None:
    with app.engine.begin() as c:
        c.execute(text(statement), params)


def row(app, seq: int) -> dict:
    with app.engine.connect() as c:
        return dict(c.execute(ENTRY.select().where(ENTRY.c.seq == seq)).mappings().one())


def assert_broken_at(home, seq: int, *words: str, extra=()) -> str:
    code, out, err = kura_cmd(home, "audit", "verify", *extra)
    assert code == 1, (out, err)
    assert f"ledger broken at entry {seq}:" in err, err
    for w in words:
        assert w in err, err
    assert len(err.strip().splitlines()) == 1
    return err


def test_r24_intact_ledger_verifies(ledgered):
    _, home = ledgered
    code, out, err = kura_cmd(home, "audit", "verify")
    assert code == 0, err
    assert f"ledger intact: {N} entries, 4 checkpoints verified" in out


def test_r24_modified_field_is_named(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_entry SET actor_name = 'someone-else' WHERE seq = 7")
    assert_broken_at(home, 7, "modified")


def test_r44_modified_content_hash_is_named(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_entry SET digest = :d WHERE seq = 12", d="0" * 64)
    assert_broken_at(home, 12, "does not match its hash")


@pytest.mark.parametrize("value", ["-", "", "\x1e"])
def test_r24_null_turned_into_text_is_named(ledgered, value):
    app, home = ledgered
    sql(app, "UPDATE ledger_entry SET actor_id = :v WHERE seq = 4", v=value)
    assert_broken_at(home, 4)


def test_r24_deleted_entry_is_named(ledgered):
    app, home = ledgered
    sql(app, "DELETE FROM ledger_entry WHERE seq = 9")
    assert_broken_at(home, 9, "missing")


def _make_room_after(app, seq: int) -> None:
    """Shift every entry after `seq` up by one (in two steps: the key stays unique)."""
    sql(app, "UPDATE ledger_entry SET seq = -seq - 1 WHERE seq > :s", s=seq)
    sql(app, "UPDATE ledger_entry SET seq = -seq WHERE seq < 0")


def test_r24_inserted_forged_entry_is_named(ledgered):
    app, home = ledgered
    forged = {**row(app, 12), "seq": 13, "actor_name": "ghost", "patient_id": "P9999"}
    _make_room_after(app, 12)
    with app.engine.begin() as c:
        c.execute(ENTRY.insert().values(**forged))
    assert_broken_at(home, 13, "does not match its hash")


def test_r24_forged_entry_with_honest_hashes_breaks_the_next_one(ledgered):
    """An attacker who knows the format hashes the forged entry correctly: it links to its
    predecessor, so the entry it displaced is the first that no longer holds."""
    app, home = ledgered
    prev = row(app, 12)
    forged = {**prev, "seq": 13, "actor_name": "ghost", "reason": "planted"}
    leaf = leaf_hash(entry_bytes(forged[f] for f in FIELDS))
    forged["leaf_hash"] = leaf.hex()
    forged["chain_hash"] = sha256(bytes.fromhex(prev["chain_hash"]) + leaf).hexdigest()
    _make_room_after(app, 12)
    with app.engine.begin() as c:
        c.execute(ENTRY.insert().values(**forged))
    assert_broken_at(home, 14, "does not match its hash")


def test_r24_entry_appended_behind_the_ledger_is_named(ledgered):
    app, home = ledgered
    with app.engine.connect() as c:
        last = c.scalar(text("SELECT max(seq) FROM ledger_entry"))
    prev = row(app, last)
    naive = {**prev, "seq": last + 1, "actor_name": "ghost"}
    with app.engine.begin() as c:
        c.execute(ENTRY.insert().values(**naive))
    assert_broken_at(home, last + 1, "does not match its hash")


def test_r24_entry_appended_with_honest_hashes_but_no_head_is_named(ledgered):
    app, home = ledgered
    with app.engine.connect() as c:
        last = c.scalar(text("SELECT max(seq) FROM ledger_entry"))
    prev = row(app, last)
    forged = {**prev, "seq": last + 1, "actor_name": "ghost"}
    leaf = leaf_hash(entry_bytes(forged[f] for f in FIELDS))
    forged.update(leaf_hash=leaf.hex(), chain_hash=sha256(bytes.fromhex(prev["chain_hash"]) + leaf).hexdigest())
    with app.engine.begin() as c:
        c.execute(ENTRY.insert().values(**forged))
    assert_broken_at(home, last + 1, "head")


def test_r24_reordered_entries_are_named(ledgered):
    app, home = ledgered
    a, b = row(app, 8), row(app, 9)
    with app.engine.begin() as c:
        c.execute(ENTRY.update().where(ENTRY.c.seq == 8).values(**{k: v for k, v in b.items() if k != "seq"}))
        c.execute(ENTRY.update().where(ENTRY.c.seq == 9).values(**{k: v for k, v in a.items() if k != "seq"}))
    assert_broken_at(home, 8)


def test_r24_tail_truncated_behind_a_checkpoint_is_named(ledgered):
    app, home = ledgered
    sql(app, "DELETE FROM ledger_entry WHERE seq > 12")
    assert_broken_at(home, 13, "truncated", "checkpoint signed 15")


def test_r24_forged_checkpoint_signature_is_named(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_checkpoint SET signature = :s WHERE tree_size = 10", s="11" * 64)
    assert_broken_at(home, 10, "bad signature")


def test_r24_checkpoint_root_changed_to_fit_rewritten_entries_is_named(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_checkpoint SET root_hash = :r WHERE tree_size = 15", r="ab" * 32)
    assert_broken_at(home, 15, "bad signature")


def test_r24_altered_head_is_detected(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_head SET chain_hash = :c", c="cd" * 32)
    assert_broken_at(home, N + 1, "head altered")


def test_r24_head_shortened_to_hide_the_newest_entries_is_named(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_head SET size = size - 2")
    assert_broken_at(home, N - 1, "head")


def _rehash_from(app, start: int) -> None:
    """What an attacker with the code can do: recompute every leaf and chain hash from
    `start` on, and the head, so that the entries agree with each other again."""
    with app.engine.begin() as c:
        rows = [dict(r) for r in c.execute(ENTRY.select().order_by(ENTRY.c.seq)).mappings()]
        prev = bytes(32)
        frontier = Frontier()
        for r in rows:
            leaf = leaf_hash(entry_bytes(r[f] for f in FIELDS))
            prev = sha256(prev + leaf).digest()
            frontier.append(leaf)
            if r["seq"] >= start:
                c.execute(ENTRY.update().where(ENTRY.c.seq == r["seq"])
                          .values(leaf_hash=leaf.hex(), chain_hash=prev.hex()))
        c.execute(text("UPDATE ledger_head SET size = :n, chain_hash = :c, frontier = :f"),
                  {"n": len(rows), "c": prev.hex(), "f": frontier.dumps()})


def test_r44_history_rewritten_with_fresh_hashes_is_caught_by_the_signed_checkpoint(ledgered):
    app, home = ledgered
    sql(app, "UPDATE ledger_entry SET reason = 'nothing happened' WHERE seq = 7")
    _rehash_from(app, 7)
    assert_broken_at(home, 10, "signed checkpoint at size 10")


def test_r24_truncation_past_the_last_checkpoint_is_caught_by_the_kept_checkpoint(ledgered, tmp_path):
    app, home = ledgered
    code, line, err = kura_cmd(home, "audit", "checkpoint")
    assert code == 0, err
    kept = tmp_path / "kept-off-machine.txt"
    kept.write_text("an earlier line is ignored\n" + line, encoding="utf-8")
    anchor = Anchor.parse(line)
    assert anchor.tree_size == N + 1  # the checkpoint covers its own entry
    assert kura_cmd(home, "audit", "verify", "--checkpoint", str(kept))[0] == 0
    # The attacker cuts the newest entries and every checkpoint that covered them, and
    # rewrites the head to match what is left: the database alone cannot tell.
    sql(app, "DELETE FROM ledger_entry WHERE seq > 20")
    sql(app, "DELETE FROM ledger_checkpoint WHERE tree_size > 20")
    _rehash_from(app, 21)
    code, out, err = kura_cmd(home, "audit", "verify")
    assert code == 0, err
    # The line kept off the machine can. (That verify run appended entry 21 itself, so the
    # first entry missing from the kept tree is 22.)
    assert_broken_at(home, 22, "truncated", f"checkpoint signed {N + 1}", extra=("--checkpoint", str(kept)))


def test_r24_checkpoint_line_verifies_with_the_public_key(ledgered):
    app, home = ledgered
    code, line, err = kura_cmd(home, "audit", "checkpoint")
    assert code == 0, err
    cp = Anchor.parse(line)
    key = serialization.load_pem_private_key((home / "keys" / "signing.key").read_bytes(), password=None)
    public = key.public_key()
    assert verify_signature(public, checkpoint_message(cp.tree_size, cp.root_hash, cp.at), cp.signature)
    assert not verify_signature(public, checkpoint_message(cp.tree_size + 1, cp.root_hash, cp.at), cp.signature)
    with app.engine.connect() as c:
        leaves = [bytes.fromhex(h) for h in c.scalars(select(ENTRY.c.leaf_hash).order_by(ENTRY.c.seq))]
    assert cp.root_hash == root_of(leaves[:cp.tree_size]).hex()


def test_checkpoint_file_must_be_a_checkpoint_line(ledgered, tmp_path):
    _, home = ledgered
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n", encoding="utf-8")
    code, _, err = kura_cmd(home, "audit", "verify", "--checkpoint", str(bad))
    assert code == 2 and err.startswith("kura: ") and len(err.strip().splitlines()) == 1
    code, _, err = kura_cmd(home, "audit", "verify", "--checkpoint", str(tmp_path / "missing.txt"))
    assert code == 2


def test_r28_export_formats_through_the_command(ledgered):
    _, home = ledgered
    code, out, err = kura_cmd(home, "audit", "export", "--format", "csv", "--since", "2000-01-01")
    assert code == 0, err
    assert out.splitlines()[0].startswith("seq,at,tag,") and len(out.splitlines()) >= N + 1
    code, out, err = kura_cmd(home, "audit", "export", "--format", "syslog")
    assert code == 0 and out.startswith("<85>1 ")
    code, out, err = kura_cmd(home, "audit", "export", "--format", "fhir")
    assert code == 0 and '"resourceType": "Bundle"' in out
    code, _, err = kura_cmd(home, "audit", "export", "--format", "pdf")
    assert code == 2 and "--format" in err
