"""`kura scrub [--repair]`: re-read every stored object and version against its recorded hash.

The checking is `audit verify --deep`'s (kura.preservation.deep: each store's deep_check),
run through a metered view of the blob store for progress and throughput. `--repair` takes a
damaged or missing blob from a replica or backup destination: the copy is accepted only when a
manifest signed by this home lists exactly its SHA-256, it replaces the home's copy, and the
check runs again to prove it; each repair is a ledger entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sqlalchemy.orm import Session

from kura.access.actions import Action
from kura.access.policy import Target
from kura.blobs.store import BlobStore
from kura.errors import IntegrityFailure
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.preservation.deep import deep_check
from kura.preservation import snapshot
from kura.preservation.destination import Destination
from kura.preservation.ports import Progress
from kura.i18n import Say, plain

__all__ = ["scrub", "ScrubReport", "MeteredStore", "good_copy"]

TARGET = Target(kind="Store")


class MeteredStore:
    """The home's blob store, counting what is read (progress and throughput)."""

    def __init__(self, inner: BlobStore, progress: Progress | None = None) -> None:
        self.inner, self.progress = inner, progress
        self.objects = 0
        self.bytes = 0

    def get(self, name: str) -> bytes:
        data = self.inner.get(name)
        self.objects += 1
        self.bytes += len(data)
        if self.progress:
            self.progress("scrub", self.objects, None)
        return data

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


@dataclasses.dataclass
class ScrubReport:
    objects: int
    bytes: int
    seconds: float
    problems: list[str]
    repaired: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def throughput(self) -> float:
        return self.bytes / self.seconds / 1048576 if self.seconds else 0.0

    def line(self, say: Say = plain) -> str:
        head = say("scrub: %(objects)s objects, %(mb).1f MB in %(seconds).1f s (%(rate).1f MB/s)",
                   objects=self.objects, mb=self.bytes / 1048576, seconds=self.seconds, rate=self.throughput)
        if self.repaired:
            head += "; " + say("%(n)s repaired", n=len(self.repaired))
        if self.ok:
            return head + "; " + say("every stored object and version matches its recorded hash")
        return head + "; " + say("%(n)s mismatch(es)", n=len(self.problems))


def good_copy(name: str, sources: list[Path], public_key: Ed25519PublicKey) -> tuple[bytes, Path] | None:
    """The sealed bytes of blob `name` from the first source whose signed manifest lists their
    exact SHA-256; None when no source holds a good copy."""
    for root in sources:
        d = Destination(root)
        path = d.blob_path(name)
        if not path.is_file():
            continue
        data = path.read_bytes()
        actual = [hashlib.sha256(data).hexdigest(), len(data)]
        for gen in reversed(d.generations()):
            try:
                m = d.manifest(gen)
                m.check(public_key)
            except IntegrityFailure:
                continue
            expected = m.body.get("blobs", {}).get(name)
            if expected is not None:
                if list(expected) == actual:
                    return data, root
                break  # this source's copy is not the one its manifest signed
    return None


def _check(ctx: Context, blobs: BlobStore) -> list[str]:
    """The deep check in a read transaction of its own: on SQLite the unit of work's
    transaction holds the write lock, and a scrub of a large home must not stop every writer."""
    if ctx.settings is None:
        return list(deep_check(dataclasses.replace(ctx, blobs=blobs)))
    engine = snapshot.reader_engine(ctx.settings.db_url)
    try:
        with snapshot.snapshot_connection(engine) as conn, Session(bind=conn) as session:
            return list(deep_check(dataclasses.replace(ctx, session=session, blobs=blobs)))
    finally:
        engine.dispose()


def scrub(ctx: Context, *, repair: bool = False, sources: Sequence[Path] = (),
          progress: Progress | None = None) -> ScrubReport:
    """Re-hash everything; with `repair`, replace damaged blobs from `sources`. Never raises for
    a mismatch (it is reported). Raises Denied without OpsScrubRun. Ledger: OpsObjectRepaired per
    repair, OpsScrubCompleted, and OpsIntegrityFailed (an alert) when mismatches remain."""
    ctx.require(Action.OpsScrubRun, TARGET)
    home_store = ctx.blobs
    metered = MeteredStore(home_store, progress)
    t0 = time.monotonic()
    problems = _check(ctx, metered)
    repaired: list[str] = []
    ctx.blobs = metered
    try:
        if repair and problems:
            named: set[str] = {b for p in problems if (b := getattr(p, "blob", None)) is not None}
            for name in sorted(named):
                found = good_copy(name, list(sources), ctx.signer.public_key)
                if found is None:
                    continue
                data, source = found
                home_store.delete(name)
                home_store.put(name, data)
                repaired.append(name)
                ctx.record(LedgerTag.OpsObjectRepaired, target=Target(kind="Blob", id=name),
                           reason=f"replaced from {source}", detail={"source": str(source), "bytes": len(data)})
            if repaired:
                problems = _check(ctx, metered)  # prove it
    finally:
        ctx.blobs = home_store
    report = ScrubReport(metered.objects, metered.bytes, time.monotonic() - t0, [str(p) for p in problems], repaired)
    ctx.record(LedgerTag.OpsScrubCompleted, target=TARGET, outcome=0 if report.ok else 8, reason=report.line(),
               detail={"objects": report.objects, "bytes": report.bytes, "seconds": round(report.seconds, 2),
                       "problems": report.problems[:20], "repaired": repaired})
    if not report.ok:
        ctx.record(LedgerTag.OpsIntegrityFailed, target=TARGET, outcome=8,
                   reason=f"scrub: {len(report.problems)} stored object(s) differ; first: {report.problems[0]}"[:500],
                   alert=True)
    return report
