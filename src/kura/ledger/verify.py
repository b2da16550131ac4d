"""`kura audit verify`: recompute every leaf, the hash chain, the head, and every signed
checkpoint's root and signature (RFC 6962 §2.1 tree heads; Ed25519 signatures).

The database builds each entry's encoding (kura.ledger.encoding.encoded_sql) and the rows
are read straight from the driver; past PARALLEL_MIN entries a second process verifies the
newer half of the tree (see `_scan_tail`), so both cores work.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from hashlib import sha256
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from kura.ledger.head import pending, sync_head
from kura.ledger.encoding import FIELDS, SEP, encoded_sql, iso_utc
from kura.ledger.merkle import EMPTY_ROOT, Frontier, node_hash
from kura.ledger.models import Checkpoint, LedgerHead
from kura.ledger.signing import Signer, checkpoint_message, verify_signature
from kura.i18n import Say, plain

__all__ = ["verify", "VerifyResult", "Anchor", "PARALLEL_MIN"]

GENESIS = bytes(32)
PARALLEL_MIN = 1 << 17  # below this, starting a second process costs more than it saves
_BATCH = 20000


@dataclasses.dataclass
class VerifyResult:
    ok: bool
    entries: int
    checkpoints: int
    first_broken: int | None = None
    problem: str = ""

    def line(self, say: Say = plain) -> str:
        if self.ok:
            return say("ledger intact: %(entries)s entries, %(checkpoints)s checkpoints verified",
                       entries=self.entries, checkpoints=self.checkpoints)
        if self.first_broken is None:
            return say("ledger broken: %(problem)s", problem=say(self.problem))
        return say("ledger broken at entry %(seq)s: %(problem)s", seq=self.first_broken, problem=say(self.problem))


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
    def parse(cls, line: str) -> Anchor:
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
    def of(cls, cp: Checkpoint) -> Anchor:
        return cls(cp.tree_size, cp.root_hash, iso_utc(cp.at), cp.key_id, cp.signature)


def _batches(raw: Any, dialect: str, sql: str, params: tuple[int, ...] = ()) -> Iterator[list[Any]]:
    """Rows of `sql` straight from the DB-API connection `raw`, in batches (a server-side cursor
    on PostgreSQL, so a million entries never sit in memory at once)."""
    if dialect == "postgresql":
        cur = raw.cursor(name=f"kura_ledger_verify_{id(sql) & 0xffff}")
        cur.itersize = _BATCH
    else:
        cur = raw.cursor()
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(_BATCH):
            yield rows
    finally:
        cur.close()


def _entries_sql(dialect: str, upper: bool) -> str:
    mark = "%s" if dialect == "postgresql" else "?"
    where = f"seq >= {mark}" + (f" AND seq <= {mark}" if upper else "")
    return (f"SELECT seq, {encoded_sql(dialect)}, leaf_hash, chain_hash FROM ledger_entry "  # noqa: S608 — fixed fragments, values bound
            f"WHERE {where} ORDER BY seq")


class _State:
    """Where a scan stands: the next sequence number, the last chain hash, the Merkle frontier
    (roots of perfect subtrees, largest first: their heights are the set bits of next - 1)."""

    __slots__ = ("expected", "prev", "stack")

    def __init__(self, expected: int, prev: bytes, stack: list[bytes]):
        self.expected, self.prev, self.stack = expected, prev, stack


def _scan(batches: Iterable[list[Any]], st: _State, cp_sizes: frozenset[int], roots: dict[int, bytes], offset: int = 0,
          progress: Callable[[int], None] | None = None) -> tuple[int, str] | None:
    """Check each row's leaf and chain hash and grow the frontier; note the root at each size in
    `cp_sizes`. `offset` is the number of leaves before this scan's frontier (0, or a power of
    two for the second half). Returns the first problem (seq, what), or None."""
    h256, sep, n_sep = sha256, SEP, len(FIELDS) - 1  # locals: this loop runs a million times
    expected, prev, stack = st.expected, st.prev, st.stack
    try:
        for rows in batches:
            for seq, enc, leaf_hex, chain_hex in rows:
                if seq != expected:
                    return (expected, f"entry {expected} is missing (deleted)" if seq > expected
                            else f"entry {seq} is out of order")
                leaf = h256(b"\x00" + enc.encode()).digest()
                if leaf.hex() != leaf_hex or enc.count(sep) != n_sep:
                    return seq, "entry content does not match its hash (modified, inserted or reordered)"
                prev = h256(prev + leaf).digest()
                if prev.hex() != chain_hex:
                    return seq, "hash chain broken (inserted, reordered or rewritten)"
                # RFC 6962 frontier append: the k-th leaf merges once per trailing 1 bit of k.
                k = seq - 1 - offset
                h = leaf
                while k & 1:
                    h = h256(b"\x01" + stack.pop() + h).digest()
                    k >>= 1
                stack.append(h)
                if seq in cp_sizes:
                    roots[seq] = _fold(stack)
                expected = seq + 1
            if progress is not None:
                progress(expected - 1)
        return None
    finally:
        st.expected, st.prev, st.stack = expected, prev, stack


def _fold(stack: list[bytes]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
    return acc


def _scan_tail(url: str, dialect: str, start: int, end: int, cp_sizes: frozenset[int], pipe: Any) -> None:
    """The second process: verify entries start..end as a tree of their own, starting from the
    stored chain hash of entry start-1 (which the first process checks). Sends back the first
    problem, the local roots at checkpoint sizes, the local frontier and the last chain hash."""
    try:
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            mark = "%s" if dialect == "postgresql" else "?"
            row = raw.cursor().execute(f"SELECT chain_hash FROM ledger_entry WHERE seq = {mark}",  # noqa: S608 — a placeholder
                                       (start - 1,)).fetchone()
            st = _State(start, bytes.fromhex(row[0]) if row else GENESIS, [])
            roots: dict[int, bytes] = {}
            problem = _scan(_batches(raw, dialect, _entries_sql(dialect, True), (start, end)), st, cp_sizes,
                            roots, offset=start - 1)
        engine.dispose()
        pipe.send((problem, roots, st.stack, st.expected, st.prev))
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, which falls back
        pipe.send(exc)
    finally:
        pipe.close()


def verify(session: Session, *, signer: Signer, progress: Callable[[int], None] | None = None, anchor: Anchor | None = None,
           parallel: bool | None = None) -> VerifyResult:
    """Recompute every leaf, the hash chain, the head, and each checkpoint's root and signature.

    Detects modification (leaf mismatch), deletion (gap in sequence), insertion and
    reordering (leaf or chain mismatch), truncation (fewer entries than a signed checkpoint
    or the head records) and an altered head or checkpoint. `anchor`, a checkpoint kept off
    the machine, also catches truncation past the last checkpoint left in the database.
    Returns the first broken entry; never raises for tampering. Read-only.

    `parallel`: None decides by size (PARALLEL_MIN entries, a single-threaded process);
    True splits the work whenever it can (tests); False never does.
    """
    sync_head(session)
    own_writes = pending(session) is not None  # uncommitted: a second process would not see them
    checkpoints = [(cp.tree_size, cp.root_hash, iso_utc(cp.at), cp.signature) for cp in session.execute(
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
    signed = [(size, root) for size, root, _, _ in checkpoints if size > 0]
    cp_sizes = frozenset(size for size, _ in signed)

    conn = session.connection()
    dialect = conn.dialect.name
    raw = conn.connection.driver_connection
    last = session.execute(text("SELECT max(seq) FROM ledger_entry")).scalar() or 0
    st = _State(1, GENESIS, [])
    roots: dict[int, bytes] = {}
    problems: list[tuple[int, str]] = []

    tail = None
    # Fork only from a single-threaded process (the CLI): a thread holding a lock at fork time
    # would leave the child waiting on it forever.
    if parallel is None:
        parallel = last >= PARALLEL_MIN and threading.active_count() == 1
    if parallel and not own_writes and last >= 2 and "fork" in multiprocessing.get_all_start_methods():
        half = 1 << ((last - 1).bit_length() - 1)  # the largest power of two below `last`
        mp = multiprocessing.get_context("fork")
        receiver, sender = mp.Pipe(duplex=False)
        url = conn.engine.url.render_as_string(hide_password=False)
        proc = mp.Process(target=_scan_tail, args=(url, dialect, half + 1, last, cp_sizes, sender), daemon=True)
        proc.start()
        sender.close()
        tail = (half, proc, receiver)
        problem = _scan(_batches(raw, dialect, _entries_sql(dialect, True), (1, half)), st, cp_sizes, roots,
                        progress=progress)
    else:
        problem = _scan(_batches(raw, dialect, _entries_sql(dialect, False), (1,)), st, cp_sizes, roots,
                        progress=progress)
    if problem:
        problems.append(problem)
    if tail is not None:
        half, proc, receiver = tail
        if problem:  # the first half is broken already: the second half's answer cannot matter
            got = None
            proc.terminate()
        else:
            got = receiver.recv()
        proc.join(timeout=5)
        if isinstance(got, BaseException):
            raise RuntimeError(f"ledger verification worker failed: {got}") from got
        if got is not None:
            t_problem, t_roots, t_stack, t_expected, t_prev = got
            if t_problem:
                problems.append(t_problem)
            if st.expected == half + 1:  # the first half is whole: join the two trees
                left = st.stack[0]
                for size, local in t_roots.items():
                    roots[size] = node_hash(left, local)
                if not t_problem:
                    st.stack = ([node_hash(left, t_stack[0])] if t_expected - 1 == 2 * half
                                else [left, *t_stack])
                    st.expected, st.prev = t_expected, t_prev
                    if progress is not None:
                        progress(st.expected - 1)
    # Entries appended while we read, and any forged beyond the head: keep reading until the
    # head and the entries agree (PostgreSQL appenders do not wait for a verifier).
    head = None
    for _ in range(100):
        if problems:
            break
        head = session.execute(select(LedgerHead.size, LedgerHead.chain_hash, LedgerHead.frontier)).one_or_none()
        before = st.expected
        if head is None or head.size < before:
            break
        problem = _scan(_batches(raw, dialect, _entries_sql(dialect, False), (before,)), st, cp_sizes, roots,
                        progress=progress)
        if problem:
            problems.append(problem)
        if st.expected == before:  # nothing more to read: the head claims entries that are gone
            break
    total = st.expected - 1
    verified = 0
    for size, root in signed:
        if size in roots and roots[size].hex() != root:
            problems.append((size, f"root differs from the signed checkpoint at size {size} "
                                   "(entries up to it rewritten)"))
            break
        if size not in roots and not problems:
            problems.append((total + 1, f"ledger truncated: {total} entries, but a checkpoint signed {size}"))
            break
        verified += 1
    if problems:
        seq, what = min(problems)
        return VerifyResult(False, seq - 1, sum(1 for size, _ in signed if size < seq), seq, what)
    if head is None:
        return VerifyResult(False, total, verified, None, "ledger head missing")
    frontier = Frontier.from_roots(total, st.stack).dumps()
    if head.size != total or head.chain_hash != st.prev.hex() or head.frontier != frontier:
        return VerifyResult(False, total, verified, min(head.size, total) + 1,
                            f"ledger head altered or entries truncated: head says {head.size} entries "
                            f"ending {head.chain_hash[:12]}…, found {total} ending {st.prev.hex()[:12]}…")
    return VerifyResult(True, total, verified)
