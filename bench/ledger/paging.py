"""Ledger paging benchmark: the audit manager's ledger page (kura.audit.service.page, keyset
by seq) at the newest and the oldest end of a large ledger, with and without filters, against
the OFFSET paging it replaced (kura.audit.service.browse) at the same depth.

    python bench/ledger/paging.py [--entries 1000000] [--rounds 5]

Fills a fresh SQLite ledger (WAL, synchronous=FULL) with N entries through
kura.ledger.service.append (the entries of bench/ledger/run.py: 500 users, 20,000 patients,
six kinds of event), then times each page view (median of --rounds; each view also appends
its own AuditLedgerRead entry, as on the screen). The CI never runs this.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import fields  # bench/ledger/run.py: the same synthetic entries

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.audit import events
from kura.audit import service as audit
from kura.blobs.store import MemoryStore
from kura.clock import SystemClock
from kura.config import Settings
from kura.db.engine import make_engine, make_sessionmaker
from kura.ledger import head as ledger_head
from kura.ledger import service as ledger
from kura.ledger.signing import Signer
from kura.migrations import upgrade
from kura.operation import Context

AUDITOR = Subject(id=None, name="bench-auditor", roles=frozenset({Role.auditor}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n = args.entries
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        sessions = ledger_head.install(make_sessionmaker(engine))
        signer = Signer(Ed25519PrivateKey.generate())
        t0 = time.perf_counter()
        for start in range(0, n, 5000):
            with sessions() as s:
                for i in range(start, min(n, start + 5000)):
                    ledger.append(s, **fields(i), signer=signer, checkpoint_interval=1000)
                ledger.sync_head(s)
                s.commit()
            print(f"\rfilled {min(n, start + 5000):,}", end="", file=sys.stderr)
        print(f"\rfilled {n:,} entries in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

        def timed(view) -> float:
            out = []
            for _ in range(args.rounds):
                with sessions() as s:
                    ctx = Context(session=s, actor=AUDITOR, purpose="HSYSADMIN", clock=SystemClock(), signer=signer,
                                  blobs=MemoryStore(), settings=Settings(home=Path(tmp)))
                    t = time.perf_counter()
                    got = view(ctx)
                    out.append((time.perf_counter() - t) * 1000)
                    ledger.sync_head(s)
                    s.commit()
                assert got, "a view found nothing"
            return statistics.median(out)

        deep = 1000  # the oldest end
        patient = "P00001234"
        reads = audit.Filter(tags=tuple(events.kind_tags("read")))
        cases = [
            ("newest page, no filter", lambda c: audit.page(c, audit.Filter()).entries),
            ("oldest page, no filter (keyset)", lambda c: audit.page(c, audit.Filter(), before=deep).entries),
            ("oldest page, no filter (OFFSET)", lambda c: audit.browse(c, audit.Filter(), offset=n - deep)[0]),
            ("newest page, one patient", lambda c: audit.page(c, audit.Filter(patients=(patient,))).entries),
            ("oldest page, one patient", lambda c: audit.page(c, audit.Filter(patients=(patient,)), before=deep * 20).entries),
            ("newest page, one user", lambda c: audit.page(c, audit.Filter(actors=("user007",))).entries),
            ("oldest page, kind 'read'", lambda c: audit.page(c, reads, before=deep).entries),
            ("oldest page, kind 'read' (OFFSET)", lambda c: audit.browse(c, reads, offset=n // 2 - deep)[0]),
        ]
        print(f"\n{n:,} entries, median of {args.rounds}, ms per page view (50 rows)")
        for name, view in cases:
            print(f"  {name:36s} {timed(view):8.1f}")


if __name__ == "__main__":
    main()
