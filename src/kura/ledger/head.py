"""The ledger's head: where each transaction found it, where its appends took it, and the
listeners that write it back before commit and unwind it with a rolled-back savepoint.

kura.ledger.service appends through `begin`; kura.ledger.verify reads `pending`. The listeners
are registered on the application's sessionmaker (`install`, called by kura.app.build), not
on SQLAlchemy's global Session class, so they run only for kura's own sessions; an append on
any other session is refused rather than left without its head.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, event, func, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from kura.ledger.merkle import Frontier
from kura.ledger.models import LedgerEntry, LedgerHead

__all__ = ["install", "begin", "pending", "sync_head", "lock_head"]


# Statements built once (as the INSERT in kura.ledger.service): building SQLAlchemy
# expressions per append cost more than the append itself.
_ENTRY = cast(Table, LedgerEntry.__table__)
_HEAD = cast(Table, LedgerHead.__table__)
_HEAD_READ = select(_HEAD.c.size, _HEAD.c.chain_hash, _HEAD.c.frontier).where(_HEAD.c.id == 1)
_HEAD_LOCK = _HEAD_READ.with_for_update()
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
_INSTALLED = "kura.ledger.listeners"  # in Session.info of sessions from an install()ed sessionmaker


class _Pending:
    """This transaction's view of the head: where it found it, and where its appends took it."""

    __slots__ = ("txn", "base_size", "base_chain", "size", "chain", "frontier", "savepoints")

    def __init__(self, txn: SessionTransaction | None, size: int, chain: str, frontier: Frontier):
        self.txn = txn
        self.base_size, self.base_chain = size, chain
        self.size, self.chain, self.frontier = size, chain, frontier
        self.savepoints: dict[SessionTransaction, tuple[int, str, int, str, list[bytes]]] = {}


def pending(session: Session) -> _Pending | None:
    p = session.info.get(_PENDING)
    return p if p is not None and p.txn is session.get_transaction() else None


def sync_head(session: Session) -> None:
    """Write this transaction's appends into the head row now (before commit, or before a read).

    Raises RuntimeError when the head or the entries moved underneath (the commit then fails).
    """
    p = pending(session)
    if p is None or p.size == p.base_size:
        return
    done = session.connection().execute(_HEAD_WRITE, {
        "old_size": p.base_size, "old_chain": p.base_chain, "n": p.size - p.base_size,
        "h_size": p.size, "h_chain": p.chain, "h_frontier": p.frontier.dumps()}).rowcount
    if done != 1:
        session.info.pop(_PENDING, None)
        raise RuntimeError("ledger head and entries disagree at commit; the transaction is refused")
    p.base_size, p.base_chain = p.size, p.chain


def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:  # a savepoint release writes nothing
        sync_head(session)


def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    p = session.info.get(_PENDING)
    if transaction.nested and p is not None and p.txn is session.get_transaction():
        p.savepoints[transaction] = (p.base_size, p.base_chain, p.size, p.chain, list(p.frontier.nodes))


def _savepoint_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
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


def install(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Register the head's listeners on `sessions` (the application's sessionmaker, not
    SQLAlchemy's global Session class) and mark its sessions as able to append. Returns it."""
    if not sessions.kw.get("info", {}).get(_INSTALLED):
        event.listen(sessions, "before_commit", _before_commit)
        event.listen(sessions, "after_transaction_create", _savepoint_begun)
        event.listen(sessions, "after_soft_rollback", _savepoint_rolled_back)
        sessions.configure(info={**sessions.kw.get("info", {}), _INSTALLED: True})
    return sessions


def begin(session: Session) -> _Pending:
    """This transaction's pending head, reading (and locking) the head on its first append.
    Raises RuntimeError for a session whose sessionmaker has no listeners (`install`): its
    commit would leave the head behind the entries."""
    p = pending(session)
    if p is None:
        if not session.info.get(_INSTALLED):
            raise RuntimeError("ledger append on a session without the ledger's listeners "
                               "(kura.ledger.head.install its sessionmaker)")
        row = lock_head(session)
        p = _Pending(session.get_transaction(), row.size, row.chain_hash, Frontier.loads(row.size, row.frontier))
        session.info[_PENDING] = p
    return p


def lock_head(session: Session) -> Row[Any, Any, Any]:
    conn = session.connection()
    # SQLite serialises writers with BEGIN IMMEDIATE (kura.db.engine); PostgreSQL needs the row lock.
    row = conn.execute(_HEAD_LOCK if conn.dialect.name == "postgresql" else _HEAD_READ).one_or_none()
    if row is None:
        raise RuntimeError("ledger head missing: the database was not initialised by kura")
    return row
