"""Group commit for C-STORE: one writer commits the instances of every association in batches.

Each association's thread frames, validates and hashes its instance and — for a patient
whose data key is already known — seals, writes and fsyncs the blob (kura.imaging.store
prepare / prewrite), all in parallel and outside any transaction. It then hands the
instance to this writer and waits. The writer takes whatever has queued up, stores each
instance in a savepoint of one unit of work (so one failure leaves the others intact), and
commits them together: one commit, one fsync of the database, for the whole batch. Only
after that commit does it release the waiting threads, which only then answer success —
so an acknowledged instance is durable, as before, at a fraction of the commits.

With SQLite this also keeps the associations from competing for the database's write lock
(its busy handler sleeps, in steps of up to 100 ms, while another writer holds it).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import uuid

from kura import logs
from kura.dicom import log as dlog
from kura.errors import Denied, KuraError
from kura.imaging import peers
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag

__all__ = ["StoreWriter", "BATCH_MAX"]

BATCH_MAX = 64
PURPOSE = "TREAT"  # DIMSE traffic serves treatment (v3 PurposeOfUse)


@dataclasses.dataclass
class _Job:
    peer: object
    origin: str
    prepared: imaging.Prepared
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: imaging.StoreResult | None = None
    error: BaseException | None = None


class StoreWriter:
    """The single writer of one DICOM server. `store` blocks until the instance committed."""

    def __init__(self, kura):
        self.kura = kura
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="kura-dicom-writer", daemon=True)
        self._thread.start()

    def submit(self, peer, origin: str, prepared: imaging.Prepared) -> _Job:
        """Queue one prepared instance, to be stored as `peer`; `wait` for its outcome."""
        job = _Job(peer=peer, origin=origin, prepared=prepared)
        self._queue.put(job)
        return job

    def store(self, peer, origin: str, prepared: imaging.Prepared) -> imaging.StoreResult:
        """Store one prepared instance as `peer`; returns once it is committed."""
        return self.wait(self.submit(peer, origin, prepared))

    @staticmethod
    def wait(job: _Job) -> imaging.StoreResult:
        """The instance's result once its batch committed. Raises what store_instance raises
        (Invalid, Denied, …) or KuraError when the batch's commit failed."""
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < BATCH_MAX:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with self.kura.unit_of_work(None, PURPOSE, origin="dicom:writer") as base:
                for job in batch:
                    self._one(base, job)
        except BaseException as exc:  # noqa: BLE001 — the commit failed: nothing of the batch is stored
            dlog.failed(exc, 0xC000, what=f"group commit of {len(batch)} instances")
            for job in batch:
                if job.error is None:
                    job.error = exc if isinstance(exc, KuraError) else KuraError(f"commit failed: {exc}")
                    logs.mark_logged(job.error)
                    job.result = None
        finally:
            for job in batch:
                job.done.set()

    @staticmethod
    def _one(base, job: _Job) -> None:
        # Each instance acts as its own peer, from its own origin, with its own request id:
        # the ledger reads exactly as if each had had a unit of work of its own.
        ctx = dataclasses.replace(base, actor=peers.subject_for(job.peer), origin=job.origin,
                                  request_id=uuid.uuid4().hex, denials=[], break_glass_used=False)
        try:
            with base.session.begin_nested():
                peers.require_right(ctx, job.peer, "store")
                job.result = imaging.store_instance(ctx, prepared=job.prepared)
        except Denied as exc:
            # As Kura.unit_of_work does for a refused unit: the work is rolled back (here, its
            # savepoint) and the denial is written to the ledger — here, in the batch's commit.
            for d in ctx.denials:
                ctx.record(LedgerTag.AccessRequestDenied, target=d.target, outcome=4, reason=d.reason,
                           detail={"action": str(d.action)})
            job.error = exc
        except KuraError as exc:
            job.error = exc
        except Exception as exc:  # noqa: BLE001 — one broken instance must not fail its batch
            dlog.failed(exc, 0xC000, what="C-STORE (writer)", peer=job.origin)
            job.error = KuraError(f"{type(exc).__name__}: {str(exc)[:200]}")
            logs.mark_logged(job.error)
