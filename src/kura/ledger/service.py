"""Append and checkpoint the tamper-evident ledger (真正性; regulation §6 access records).

Each entry is hashed as an RFC 6962 leaf (kura.ledger.encoding) and hash-chained to its
predecessor; the Merkle frontier is kept in the head row so that signed checkpoints cost
O(log n). A transaction's first append locks the head (BEGIN IMMEDIATE on SQLite, a row lock
on PostgreSQL), so entries are totally ordered across processes on both engines.
Verification lives in kura.ledger.verify.
"""

from __future__ import annotations

import datetime as dt
import json
from hashlib import sha256
from typing import Iterable

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from kura.ledger.encoding import FIELDS, clean, entry_bytes, iso_utc
from kura.ledger.merkle import Frontier, leaf_hash
from kura.ledger.models import Checkpoint, LedgerEntry, LedgerHead
from kura.ledger.signing import Signer, checkpoint_message
from kura.ledger.tags import ALERT_TAGS, LedgerTag

__all__ = ["append", "make_checkpoint", "latest_checkpoint", "verify", "VerifyResult", "Anchor",
           "entry_bytes", "sync_head", "count", "FIELDS", "GENESIS"]

GENESIS = "0" * 64


# Statements built once: building SQLAlchemy expressions per append cost more than the
# append itself (profiled: ~1 ms of coercion and cache-key work per entry).
_ENTRY = LedgerEntry.__table__
_HEAD = LedgerHead.__table__
_HEAD_READ = select(_HEAD.c.size, _HEAD.c.chain_hash, _HEAD.c.frontier).where(_HEAD.c.id == 1)
_HEAD_LOCK = _HEAD_READ.with_for_update()
_ENTRY_INSERT = _ENTRY.insert()
# The head is read (and, on PostgreSQL, row-locked) by a transaction's first append and
# written once, just before that transaction commits: one statement per entry in between.
# The write is conditional: it matches only if the head is still where this transaction
# found it and the entries it added are exactly base+1..size ending in the chain hash it
# computed; otherwise the commit fails rather than leave a head that disagrees with the entries.
_E = _ENTRY.c
_HEAD_WRITE = (_HEAD.update()
               .where(_HEAD.c.id == 1, _HEAD.c.size == bindparam("old_size"),
                      _HEAD.c.chain_hash == bindparam("old_chain"),
                      # bounded on both sides: a generic (prepared) plan for an open range
                      # guesses a third of the table and scans all of it, every commit
                      select(func.count()).select_from(_ENTRY)
                      .where(_E.seq > bindparam("old_size"), _E.seq <= bindparam("h_size"))
                      .scalar_subquery() == bindparam("n"),
                      select(func.max(_E.seq)).scalar_subquery() == bindparam("h_size"),
                      select(_E.chain_hash).where(_E.seq == bindparam("h_size")).scalar_subquery()
                      == bindparam("h_chain"))
               .values(size=bindparam("h_size"), chain_hash=bindparam("h_chain"),
                       frontier=bindparam("h_frontier")))
_PENDING = "kura.ledger.pending"  # key in Session.info


class _Pending:
    """This transaction's view of the head: where it found it, and where its appends took it."""

    __slots__ = ("txn", "base_size", "base_chain", "size", "chain", "frontier", "savepoints")

    def __init__(self, txn, size: int, chain: str, frontier: Frontier):
        self.txn = txn
        self.base_size, self.base_chain = size, chain
        self.size, self.chain, self.frontier = size, chain, frontier
        self.savepoints: dict = {}


def _pending(session: Session) -> _Pending | None:
    p = session.info.get(_PENDING)
    return p if p is not None and p.txn is session.get_transaction() else None


def sync_head(session: Session) -> None:
    """Write this transaction's appends into the head row now (before commit, or before a read).

    Raises RuntimeError when the head or the entries moved underneath (the commit then fails).
    """
    p = _pending(session)
    if p is None or p.size == p.base_size:
        return
    done = session.connection().execute(_HEAD_WRITE, {
        "old_size": p.base_size, "old_chain": p.base_chain, "n": p.size - p.base_size,
        "h_size": p.size, "h_chain": p.chain, "h_frontier": p.frontier.dumps()}).rowcount
    if done != 1:
        session.info.pop(_PENDING, None)
        raise RuntimeError("ledger head and entries disagree at commit; the transaction is refused")
    p.base_size, p.base_chain = p.size, p.chain


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:  # a savepoint release writes nothing
        sync_head(session)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begun(session: Session, transaction) -> None:
    p = session.info.get(_PENDING)
    if transaction.nested and p is not None and p.txn is session.get_transaction():
        p.savepoints[transaction] = (p.base_size, p.base_chain, p.size, p.chain, list(p.frontier.nodes))


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rolled_back(session: Session, previous_transaction) -> None:
    p = session.info.get(_PENDING)
    if p is None:
        return
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    snap = p.savepoints.pop(previous_transaction, None)
    if snap is None:
        # The head was first read inside this savepoint: its lock and every append since are
        # gone, so the next append reads the head again.
        session.info.pop(_PENDING, None)
        return
    p.base_size, p.base_chain, p.size, p.chain = snap[:4]
    p.frontier = Frontier(p.size, snap[4])


def _lock_head(session: Session):
    conn = session.connection()
    # SQLite serialises writers with BEGIN IMMEDIATE (kura.db.engine); PostgreSQL needs the row lock.
    row = conn.execute(_HEAD_LOCK if conn.dialect.name == "postgresql" else _HEAD_READ).one_or_none()
    if row is None:
        raise RuntimeError("ledger head missing: the database was not initialised by kura")
    return row


def _opt(text: str | None) -> str | None:
    return None if text is None else clean(text)


def append(session: Session, *, at: dt.datetime, tag: LedgerTag, outcome: int = 0,
           actor_id: str | None, actor_name: str, roles: Iterable[str] = (), origin: str = "",
           request_id: str = "", purpose: str = "", target_kind: str = "", target_id: str | None = None,
           patient_id: str | None = None, digest: str | None = None, reason: str = "",
           detail: dict | None = None, alert: bool | None = None,
           signer: Signer | None = None, checkpoint_interval: int = 0) -> int:
    """Append one entry in the caller's transaction and return its sequence number.

    Flushes, never commits. Makes a signed checkpoint when the new size is a multiple of
    `checkpoint_interval` (and a signer is given). One INSERT per entry; the head is read by
    the transaction's first append and written once before commit (`sync_head`).
    """
    values = {
        "seq": 0, "at": at, "tag": str(tag), "outcome": outcome, "actor_id": _opt(actor_id),
        "actor_name": clean(actor_name), "roles": clean(",".join(sorted(roles))), "origin": clean(origin[:200]),
        "request_id": clean(request_id), "purpose": clean(purpose), "target_kind": clean(target_kind),
        "target_id": _opt(target_id), "patient_id": _opt(patient_id), "digest": _opt(digest),
        "reason": clean(reason),
        "detail": json.dumps(detail or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        "alert": tag in ALERT_TAGS if alert is None else alert,
    }
    conn = session.connection()
    p = _pending(session)
    if p is None:
        row = _lock_head(session)
        p = _Pending(session.get_transaction(), row.size, row.chain_hash, Frontier.loads(row.size, row.frontier))
        session.info[_PENDING] = p
    seq = values["seq"] = p.size + 1
    leaf = leaf_hash(entry_bytes(values[f] for f in FIELDS))
    chain = sha256(bytes.fromhex(p.chain) + leaf).hexdigest()
    values["leaf_hash"] = leaf.hex()
    values["chain_hash"] = chain
    conn.execute(_ENTRY_INSERT, values)
    p.frontier.append(leaf)
    p.size, p.chain = seq, chain
    if signer is not None and checkpoint_interval and seq % checkpoint_interval == 0:
        _sign(session, p.frontier, at, signer)
    return seq


def _sign(session: Session, frontier: Frontier, at: dt.datetime, signer: Signer) -> Checkpoint:
    root = frontier.root().hex()
    cp = Checkpoint(tree_size=frontier.size, root_hash=root, at=at, key_id=signer.key_id,
                    signature=signer.sign(checkpoint_message(frontier.size, root, iso_utc(at))))
    session.add(cp)
    session.flush()
    return cp


def make_checkpoint(session: Session, *, at: dt.datetime, signer: Signer) -> Checkpoint:
    """Sign the current tree (size, root). Raises nothing; an empty ledger signs size 0."""
    sync_head(session)
    head = _lock_head(session)
    return _sign(session, Frontier.loads(head.size, head.frontier), at, signer)


def latest_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size.desc(),
                                                       Checkpoint.id.desc()).limit(1)).first()


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


# Verification reads what append wrote; re-exported here so callers keep one import.
from kura.ledger.verify import Anchor, VerifyResult, verify  # noqa: E402
