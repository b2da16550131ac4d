"""Append, checkpoint and verify the tamper-evident ledger (真正性; regulation §6 access records).

Each entry is hashed as an RFC 6962 leaf and hash-chained to its predecessor; the Merkle
frontier is kept in the head row so that signed checkpoints cost O(log n). Appends lock the
head row, so entries are totally ordered across processes on both engines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from hashlib import sha256
from typing import Iterable

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from kura.ledger.merkle import EMPTY_ROOT, Frontier, leaf_hash, node_hash
from kura.ledger.models import Checkpoint, LedgerEntry, LedgerHead
from kura.ledger.signing import Signer, checkpoint_message, verify_signature
from kura.ledger.tags import ALERT_TAGS, LedgerTag

__all__ = ["append", "make_checkpoint", "latest_checkpoint", "verify", "VerifyResult",
           "entry_bytes", "ensure_head", "sync_head", "Anchor", "Fields", "FIELDS"]

GENESIS = "0" * 64

# The columns hashed into each leaf, in order. Changing this is a new ledger format.
FIELDS = ("seq", "at", "tag", "outcome", "actor_id", "actor_name", "roles", "origin", "request_id",
          "purpose", "target_kind", "target_id", "patient_id", "digest", "reason", "detail", "alert")
Fields = dict


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return _iso(value)
    return str(value)


SEP = "\x1f"  # ASCII unit separator, between fields
NULL = "\x1e"  # ASCII record separator, standing for SQL NULL
_UNSAFE = re.compile("[\x00\x1e\x1f]")


def clean(text: str) -> str:
    """Text as the ledger stores it: NUL and the two separators become U+FFFD.

    PostgreSQL cannot store NUL, and a separator inside a field could shift its boundary;
    no honest audit field contains them.
    """
    return _UNSAFE.sub("\ufffd", text) if _UNSAFE.search(text) else text


def entry_bytes(row) -> bytes:
    """The bytes hashed into an entry's leaf (ledger format v2): the FIELDS' texts joined by
    U+001F, NULL written as U+001E.

    Integers are decimal, booleans ``1``/``0``, times ISO 8601 UTC with microseconds and
    ``Z``. Fields never contain U+0000, U+001E or U+001F (`clean`), so the encoding is
    unambiguous; `verify` refuses an entry whose fields do. `verify` has the database build
    the same string (`_encoded_sql`), so each row crosses into Python as one value.
    """
    return SEP.join([NULL if v is None else _text(v) for v in row]).encode("utf-8")


def _field_text_sql(name: str, dialect: str) -> str:
    """SQL giving a column's text exactly as `_text` renders the value kura wrote."""
    if dialect == "postgresql":
        if name == "at":
            return """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        if name == "alert":
            return "(CASE WHEN alert THEN '1' ELSE '0' END)"
        if name in ("seq", "outcome"):
            return f"CAST({name} AS TEXT)"
        return name
    if name == "at":  # stored by SQLAlchemy as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return "(substr(at, 1, 10) || 'T' || substr(at, 12) || 'Z')"
    if name in ("seq", "outcome", "alert"):  # the stored text: 0/1, not anything truthy
        return f"CAST({name} AS TEXT)"
    return name


_NULLABLE = frozenset(c.name for c in LedgerEntry.__table__.columns if c.nullable)


def _encoded_sql(dialect: str) -> str:
    char = "chr" if dialect == "postgresql" else "char"
    parts = []
    for name in FIELDS:
        t = _field_text_sql(name, dialect)
        parts.append(f"COALESCE({t}, {char}(30))" if name in _NULLABLE else t)
    return f" || {char}(31) || ".join(parts)


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
                      select(func.count()).select_from(_ENTRY).where(_E.seq > bindparam("old_size"))
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


def ensure_head(session: Session) -> None:
    if session.get(LedgerHead, 1) is None:
        session.add(LedgerHead(id=1, size=0, chain_hash=GENESIS, frontier=""))
        session.flush()


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
                    signature=signer.sign(checkpoint_message(frontier.size, root, _iso(at))))
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


@dataclasses.dataclass
class VerifyResult:
    ok: bool
    entries: int
    checkpoints: int
    first_broken: int | None = None
    problem: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ledger intact: {self.entries} entries, {self.checkpoints} checkpoints verified"
        return f"ledger broken at entry {self.first_broken}: {self.problem}"


@dataclasses.dataclass(frozen=True)
class Anchor:
    """A checkpoint kept off the machine: the line `kura audit checkpoint` printed."""

    tree_size: int
    root_hash: str
    at: str
    key_id: str
    signature: str

    PREFIX = "kura-checkpoint v1 "

    @classmethod
    def parse(cls, line: str) -> "Anchor":
        """Parse ``kura-checkpoint v1 size=N root=HEX at=ISO key=ID sig=HEX``; ValueError if malformed."""
        line = line.strip()
        if not line.startswith(cls.PREFIX):
            raise ValueError("not a kura checkpoint line (it starts with 'kura-checkpoint v1')")
        fields = dict(part.split("=", 1) for part in line[len(cls.PREFIX):].split() if "=" in part)
        try:
            return cls(int(fields["size"]), fields["root"], fields["at"], fields["key"], fields["sig"])
        except (KeyError, ValueError):
            raise ValueError("checkpoint line lacks size=, root=, at=, key= or sig=") from None

    def line(self) -> str:
        return (f"{self.PREFIX}size={self.tree_size} root={self.root_hash} at={self.at} "
                f"key={self.key_id} sig={self.signature}")

    @classmethod
    def of(cls, cp: Checkpoint) -> "Anchor":
        return cls(cp.tree_size, cp.root_hash, _iso(cp.at), cp.key_id, cp.signature)


def _stream(session: Session, sql: str, batch: int = 20000):
    """Rows of `sql` straight from the driver, in batches (a server-side cursor on PostgreSQL)."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cur = raw.cursor(name="kura_ledger_verify")
        cur.itersize = batch
    else:
        cur = raw.cursor()
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(batch):
            yield rows
    finally:
        cur.close()


def verify(session: Session, *, signer: Signer, progress=None, anchor: Anchor | None = None) -> VerifyResult:
    """Recompute every leaf, the hash chain, the head, and each checkpoint's root and signature.

    Detects modification (leaf mismatch), deletion (gap in sequence), insertion and
    reordering (leaf or chain mismatch), truncation (fewer entries than a signed checkpoint
    or the head records) and an altered head or checkpoint. `anchor`, a checkpoint kept off
    the machine, also catches truncation past the last checkpoint left in the database.
    Returns the first broken entry; never raises for tampering.
    """
    sync_head(session)
    checkpoints = [(cp.tree_size, cp.root_hash, _iso(cp.at), cp.signature) for cp in session.execute(
        select(Checkpoint.tree_size, Checkpoint.root_hash, Checkpoint.at, Checkpoint.signature)
        .order_by(Checkpoint.tree_size, Checkpoint.id))]
    if anchor is not None:
        if anchor.key_id != signer.key_id:
            return VerifyResult(False, 0, 0, None, f"the kept checkpoint was signed by key {anchor.key_id}, "
                                f"not this home's key {signer.key_id}")
        checkpoints.append((anchor.tree_size, anchor.root_hash, anchor.at, anchor.signature))
        checkpoints.sort(key=lambda c: c[0])
    for size, root, at, sig in checkpoints:
        if not verify_signature(signer.public_key, checkpoint_message(size, root, at), sig):
            return VerifyResult(False, 0, 0, size or None, f"checkpoint at size {size} has a bad signature (forged)")
    head = session.execute(select(LedgerHead.size, LedgerHead.chain_hash, LedgerHead.frontier)).one_or_none()
    pending = [(size, root) for size, root, _, _ in checkpoints if size > 0]
    n_pending = len(pending)
    next_cp = pending[0][0] if pending else -1
    idx = 0
    stack: list[bytes] = []  # the Merkle frontier: roots of perfect subtrees, largest first
    prev = bytes.fromhex(GENESIS)
    expected = 1
    n_sep = len(FIELDS) - 1
    dialect = session.connection().dialect.name
    sql = f"SELECT seq, {_encoded_sql(dialect)}, leaf_hash, chain_hash FROM ledger_entry ORDER BY seq"
    h256, sep = sha256, SEP  # locals: this loop runs a million times
    for rows in _stream(session, sql):
        for seq, enc, leaf_hex, chain_hex in rows:
            if seq != expected:
                problem = f"entry {expected} is missing (deleted)" if seq > expected else f"entry {seq} is out of order"
                return VerifyResult(False, expected - 1, idx, expected, problem)
            leaf = h256(b"\x00" + enc.encode()).digest()
            if leaf.hex() != leaf_hex or enc.count(sep) != n_sep:
                return VerifyResult(False, seq - 1, idx, seq, "entry content does not match its hash "
                                    "(modified, inserted or reordered)")
            prev = h256(prev + leaf).digest()
            if prev.hex() != chain_hex:
                return VerifyResult(False, seq - 1, idx, seq, "hash chain broken (inserted, reordered or rewritten)")
            # RFC 6962 frontier append: leaf number seq-1 merges once per trailing 1 bit.
            k = seq - 1
            h = leaf
            while k & 1:
                h = h256(b"\x01" + stack.pop() + h).digest()
                k >>= 1
            stack.append(h)
            while seq == next_cp:
                if _fold(stack).hex() != pending[idx][1]:
                    return VerifyResult(False, seq, idx, seq, f"root differs from the signed checkpoint at "
                                        f"size {seq} (entries before it rewritten)")
                idx += 1
                next_cp = pending[idx][0] if idx < n_pending else -1
            expected = seq + 1
        if progress is not None:
            progress(expected - 1)
    total = expected - 1
    if idx < n_pending:
        size = pending[idx][0]
        return VerifyResult(False, total, idx, total + 1,
                            f"ledger truncated: {total} entries, but a checkpoint signed {size}")
    if head is None:
        return VerifyResult(False, total, idx, None, "ledger head missing")
    frontier = Frontier.from_roots(total, stack).dumps()
    if head.size != total or head.chain_hash != prev.hex() or head.frontier != frontier:
        return VerifyResult(False, total, idx, min(head.size, total) + 1,
                            f"ledger head altered or entries truncated: head says {head.size} entries "
                            f"ending {head.chain_hash[:12]}…, found {total} ending {prev.hex()[:12]}…")
    return VerifyResult(True, total, idx)


def _fold(stack: list[bytes]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
    return acc


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
