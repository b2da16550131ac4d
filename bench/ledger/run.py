"""Ledger benchmark: ledgered writes/s and `audit verify` entries/s, each against plain INSERTs.

    python bench/ledger/run.py [--entries 1000000] [--batch 100] [--engine sqlite|postgresql|both]
                               [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

For each engine, in one run and on a fresh migrated database:

- plain:    N single-row INSERTs of the ledger rows into `bench_plain`, a table of the same
            shape as `ledger_entry` with no ledger logic (no head lock, no hashing).
- ledgered: N calls of `kura.ledger.service.append` with the same field values (head lock,
            leaf and chain hash, Merkle frontier, a signed checkpoint every 1000 entries).
- verify:   `kura.ledger.service.verify` over the N entries.

Both write paths commit every --batch rows, so commit (fsync) cost is shared alike. The CI
never runs this; see bench/ledger/README.md for the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Column, Index, MetaData, Table, create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from kura.db.engine import make_engine, make_sessionmaker
from kura.ledger import service as ledger
from kura.ledger import head as ledger_head
from kura.ledger.models import LedgerEntry
from kura.ledger.signing import Signer
from kura.ledger.tags import LedgerTag
from kura.migrations import upgrade

TAGS = [LedgerTag.RecordsRecordRead, LedgerTag.RecordsRecordSearched, LedgerTag.AuthLoginSucceeded,
        LedgerTag.ImagingStudyRead, LedgerTag.RecordsRecordUpdated, LedgerTag.AccessRequestDenied]
T0 = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


def fields(i: int) -> dict:
    """The i-th synthetic entry: what a busy ward produces (reads, searches, logins, updates)."""
    tag = TAGS[i % len(TAGS)]
    return dict(
        at=T0 + dt.timedelta(microseconds=i * 7919), tag=tag, outcome=4 if tag == LedgerTag.AccessRequestDenied else 0,
        actor_id=f"00000000-0000-4000-8000-{i % 500:012d}", actor_name=f"user{i % 500:03d}",
        roles=("physician",), origin=f"10.1.{i % 200}.{i % 250}", request_id=f"{i:032x}", purpose="TREAT",
        target_kind="Patient", target_id=f"pat-{i % 20000:06d}", patient_id=f"P{i % 20000:08d}",
        digest=None if i % 3 else f"{i:064x}", reason="", detail={"n": i % 97},
    )


def plain_row(i: int) -> dict:
    import json
    f = fields(i)
    return {**f, "seq": i + 1, "tag": str(f["tag"]), "roles": ",".join(f["roles"]), "alert": False,
            "detail": json.dumps(f["detail"], sort_keys=True, separators=(",", ":")),
            "leaf_hash": "0" * 64, "chain_hash": "0" * 64}


def plain_table(metadata: MetaData, indexes: bool) -> Table:
    """`ledger_entry`'s shape: its columns, and (unless --bare) the same secondary indexes."""
    cols = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, autoincrement=False)
            for c in LedgerEntry.__table__.columns]
    table = Table("bench_plain", metadata, *cols)
    if indexes:
        for ix in LedgerEntry.__table__.indexes:
            Index(f"bench_{ix.name}", *[table.c[c.name] for c in ix.columns])
    return table


def run_engine(url: str, n: int, batch: int, bare: bool = False, progress: bool = True) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    md = MetaData()
    plain = plain_table(md, indexes=not bare)
    md.create_all(engine)
    sessions = ledger_head.install(make_sessionmaker(engine))
    signer = Signer(Ed25519PrivateKey.generate())
    stmt = insert(plain)

    # Interleave the two write paths in blocks, so that load from anything else on the
    # machine falls on both alike.
    plain_s = ledgered_s = 0.0
    block = max(batch, 10_000 // batch * batch)
    with sessions() as ps, sessions() as ls:
        for start in range(0, n, block):
            stop = min(n, start + block)
            t = time.perf_counter()
            for i in range(start, stop):
                ps.connection().execute(stmt, plain_row(i))
                if (i + 1) % batch == 0:
                    ps.commit()
            ps.commit()
            t2 = time.perf_counter()
            for i in range(start, stop):
                ledger.append(ls, **fields(i), signer=signer, checkpoint_interval=1000)
                if (i + 1) % batch == 0:
                    ls.commit()
            ls.commit()
            t3 = time.perf_counter()
            plain_s += t2 - t
            ledgered_s += t3 - t2
            if progress:  # per block, so a trend with size shows
                print(f"  {url.split(':')[0]}: {stop:,} / {n:,}  block ratio {(t2 - t) / (t3 - t2):.2f}",
                      file=sys.stderr)

    t = time.perf_counter()
    with sessions() as s:
        result = ledger.verify(s, signer=signer)
    verify_s = time.perf_counter() - t
    if not result.ok or result.entries != n:
        raise SystemExit(f"verify failed: {result.line()}")
    engine.dispose()
    return {"plain": n / plain_s, "ledgered": n / ledgered_s, "verify": n / verify_s,
            "plain_s": plain_s, "ledgered_s": ledgered_s, "verify_s": verify_s}


def verify_engine(url: str, n: int, rounds: int = 3) -> dict:
    """--verify-only: fill the ledger untimed, then time `verify` `rounds` times (best kept),
    with the CPU seconds of this process and of the forked second verifier. On a machine
    shared with others the wall figure understates; the CPU figures do not depend on load."""
    import resource

    engine = make_engine(url)
    upgrade(engine)
    sessions = ledger_head.install(make_sessionmaker(engine))
    signer = Signer(Ed25519PrivateKey.generate())
    with sessions() as s:
        for i in range(n):
            ledger.append(s, **fields(i), signer=signer, checkpoint_interval=1000)
            if (i + 1) % 10_000 == 0:
                s.commit()
                print(f"  {url.split(':')[0]}: filled {i + 1:,} / {n:,}", file=sys.stderr, end="\r")
        s.commit()
    best = None
    for _ in range(rounds):
        r0s, r0c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        with sessions() as s:
            result = ledger.verify(s, signer=signer)
        wall = time.perf_counter() - t
        r1s, r1c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        if not result.ok or result.entries != n:
            raise SystemExit(f"verify failed: {result.line()}")
        cpu_main = (r1s.ru_utime + r1s.ru_stime) - (r0s.ru_utime + r0s.ru_stime)
        cpu_child = (r1c.ru_utime + r1c.ru_stime) - (r0c.ru_utime + r0c.ru_stime)
        run = {"wall": wall, "cpu_main": cpu_main, "cpu_child": cpu_child}
        if best is None or wall < best["wall"]:
            best = run
    engine.dispose()
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=100, help="rows per transaction, both write paths")
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--verify-only", action="store_true",
                   help="only `verify`: fill the ledger untimed, time verify three times, report CPU too")
    p.add_argument("--bare", action="store_true",
                   help="plain table without ledger_entry's five secondary indexes (a harsher baseline)")
    p.add_argument("--pg-url", default=os.environ.get("KURA_BENCH_PG_URL",
                                                      "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = p.parse_args()
    if args.verify_only:
        verify_main(args)
        return
    print(f"\n{args.entries:,} entries, {args.batch} rows per transaction, plain table "
          f"{'without' if args.bare else 'with'} ledger_entry's secondary indexes\n")
    print(f"{'engine':<11} {'plain ins/s':>12} {'ledgered/s':>11} {'ratio':>6} {'verify/s':>10} {'load':>5}", flush=True)

    def report(eng: str, r: dict) -> None:
        print(f"{eng:<11} {r['plain']:>12,.0f} {r['ledgered']:>11,.0f} {r['ledgered'] / r['plain']:>6.2f} "
              f"{r['verify']:>10,.0f} {os.getloadavg()[0]:>5.1f}", flush=True)

    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="kura-bench-") as tmp:
            report("sqlite", run_engine(f"sqlite:///{tmp}/bench.db", args.entries, args.batch, args.bare))
    if args.engine in ("postgresql", "both"):
        admin_url = "postgresql+psycopg://" + args.pg_url.split("://", 1)[1]
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"kura_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            report("postgresql", run_engine(admin_url.rsplit("/", 1)[0] + "/" + name, args.entries, args.batch,
                                            args.bare))
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("\naims: ledgered/plain >= 0.5; verify >= 200,000 entries/s")
    print(f"machine: {os.cpu_count()} cores; load = 1-minute load average when the engine finished")


def verify_main(args) -> None:
    def report(eng: str, r: dict) -> None:
        n = args.entries
        print(f"{eng:<11} {n / r['wall']:>10,.0f} {r['cpu_main']:>9.1f} {r['cpu_child']:>9.1f} "
              f"{n / max(r['cpu_main'], r['cpu_child']):>12,.0f} {os.getloadavg()[0]:>5.1f}", flush=True)

    print(f"\nverify over {args.entries:,} entries (best of 3)\n")
    print(f"{'engine':<11} {'verify/s':>10} {'cpu main':>9} {'cpu 2nd':>9} {'per cpu-path':>12} {'load':>5}", flush=True)
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="kura-bench-") as tmp:
            report("sqlite", verify_engine(f"sqlite:///{tmp}/bench.db", args.entries))
    if args.engine in ("postgresql", "both"):
        admin_url = "postgresql+psycopg://" + args.pg_url.split("://", 1)[1]
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"kura_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            report("postgresql", verify_engine(admin_url.rsplit("/", 1)[0] + "/" + name, args.entries))
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("\nper cpu-path: entries / the larger of the two processes' CPU seconds — the rate on an "
          "otherwise idle 2-core machine\n(PostgreSQL: the server's own CPU for building the "
          "encodings is not counted)")


if __name__ == "__main__":
    main()
