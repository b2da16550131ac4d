"""Ingest: every received instance — from any DICOM association or STOW-RS request — stored
in group commits, and answered only after its group has committed.

A sender's thread prepares its instance (frames, validates, hashes it; kura.imaging.store),
checks a DICOM peer's store right, and — when the patient's key is known — seals, writes and
fsyncs the blob, all in parallel with other senders and outside any transaction. It then
hands the instance to the one writer thread and waits. The writer takes whatever has queued
up, stores each instance in a savepoint of one unit of work (so one failure leaves the
others intact) and commits them together: one commit, one fsync of the database, for a whole
group from every association and request. Only after that commit is the sender released.

So an acknowledged instance is durable (its blob fsynced before the commit), hashed, sealed
under its patient's key and in the ledger, as if it had had a unit of work of its own; each
keeps its own actor, purpose, origin and request id in the ledger. With SQLite the single
writer also keeps senders from competing for the database's write lock.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import uuid
from typing import Callable, ContextManager

from kura import logs
from kura.access.policy import Subject
from kura.access.purpose import purpose_of
from kura.blobs.store import BlobStore
from kura.errors import Denied, KuraError
from kura.imaging import peers
from kura.imaging.models import DicomPeer
from kura.imaging.store import Prepared, StoreResult, prepare, prewrite, store_instance
from kura.keys.ring import KeyRing
from kura.operation import Context, Denial

__all__ = ["Ingest", "Sender", "Ticket", "BATCH_MAX"]

BATCH_MAX = 64
COMPACT_AFTER = 2.0  # seconds of quiet before packed blobs are copied into the file layout
log = logs.get("kura.imaging.ingest")


@dataclasses.dataclass(frozen=True)
class Sender:
    """Who stores, from where. A DICOM peer's store right is checked here, once, before
    anything of its instance is written. The purpose of use is decided from the actor and
    the break-glass (kura.access.purpose), as for any unit of work."""

    actor: Subject
    origin: str
    request_id: str | None = None
    peer: DicomPeer | None = None
    break_glass_reason: str | None = None


@dataclasses.dataclass
class Ticket:
    """One submitted instance; `Ingest.wait` gives its outcome once its group committed."""

    sender: Sender
    prepared: Prepared
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    denial: Denial | None = None
    result: StoreResult | None = None
    error: BaseException | None = None


class Ingest:
    """The single writer of one application. `store` blocks until the instance committed.

    `unit_of_work` is the application's (kura.app.Kura.unit_of_work); `blobs` and `keyring`
    (its unwrapped data keys) let a sender's thread write its blob ahead of the transaction.
    """

    def __init__(self, unit_of_work: Callable[..., ContextManager[Context]], blobs: BlobStore,
                 keyring: KeyRing) -> None:
        self._unit_of_work = unit_of_work
        self._blobs = blobs
        self._keyring = keyring
        self._queue: queue.Queue[Ticket | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="kura-ingest", daemon=True)
        self._thread.start()
        self._stopped = threading.Event()
        self._stored = threading.Event()  # set by each group commit, cleared by compaction
        self._stored.set()  # a first compaction on start: packs a crash left behind
        self._compactor = threading.Thread(target=self._compact, name="kura-ingest-compact", daemon=True)
        self._compactor.start()

    # -- senders' side ------------------------------------------------------------------
    def store(self, sender: Sender, data: bytes | Prepared, *, transfer_syntax: str | None = None,
              sop_class_uid: str | None = None, sop_instance_uid: str | None = None) -> StoreResult:
        """Store one instance (a Part 10 file, or a DIMSE data set with its request's UIDs —
        see store.prepare) as `sender`; returns once it committed. Raises Invalid, Denied
        (a peer without the store right, or the policy), KuraError (the commit failed)."""
        return self.wait(self.submit(sender, data, transfer_syntax=transfer_syntax,
                                     sop_class_uid=sop_class_uid, sop_instance_uid=sop_instance_uid))

    def submit(self, sender: Sender, data: bytes | Prepared, *, transfer_syntax: str | None = None,
               sop_class_uid: str | None = None, sop_instance_uid: str | None = None) -> Ticket:
        """Prepare one instance, write its blob when it can be, and queue it. Raises Invalid;
        submit several, then `wait` for each, to have them stored in one group."""
        prepared = data if isinstance(data, Prepared) else prepare(
            data, transfer_syntax=transfer_syntax, sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid)
        denial = peers.right_denial(sender.peer, "store") if sender.peer is not None else None
        ticket = Ticket(sender=sender, prepared=prepared, denial=denial)
        allowed = denial is None
        if allowed:
            # The writer runs the instance's SQL while this thread seals, writes and fsyncs its
            # blob; it waits for `settled` before it commits (the blob is durable first).
            settled = prepared.settled = threading.Event()
        self._queue.put(ticket)
        if allowed:  # a peer without the right writes nothing, not even a blob
            try:
                prewrite(self._blobs, self._keyring, prepared, staged=True)
            except Exception:  # noqa: BLE001, S110 — the writer then writes it in its transaction, or fails there
                pass
            finally:
                settled.set()
        return ticket

    @staticmethod
    def wait(ticket: Ticket) -> StoreResult:
        """The instance's result once its group committed. Raises what store_instance raises
        (Invalid, Denied, …) or KuraError when the group's commit failed."""
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def stop(self) -> None:
        """Store what has queued, then end the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._stopped.set()
        self._compactor.join(timeout=30)

    def _compact(self) -> None:
        """Copy packed blobs into the file layout when ingest has paused for a moment
        (kura.blobs.pack); the packs are the durable copy until then."""
        compact = getattr(self._blobs, "compact", None)
        while compact is not None and not self._stopped.wait(COMPACT_AFTER):
            if self._stored.is_set() and self._queue.empty():
                self._stored.clear()
                try:
                    compact()
                except Exception as exc:
                    log.error("compacting packed blobs failed", exc_info=exc)
                    self._stored.set()

    # -- the writer ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            ticket = self._queue.get()
            if ticket is None:
                return
            group = [ticket]
            while len(group) < BATCH_MAX:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(more)
            self._commit(group)
            self._stored.set()

    def _commit(self, group: list[Ticket]) -> None:
        try:
            with self._unit_of_work(None, "", origin="ingest") as base:
                for ticket in group:
                    self._one(base, ticket)
                # Every blob the senders staged: durable at once (one fdatasync), before the
                # commit that references them.
                self._blobs.sync()
        except BaseException as exc:
            log.error("group commit of %d instances failed", len(group), exc_info=exc)
            for ticket in group:
                if ticket.error is None:
                    ticket.error = exc if isinstance(exc, KuraError) else KuraError(f"commit failed: {exc}")
                    logs.mark_logged(ticket.error)
                    ticket.result = None
        finally:
            for ticket in group:
                ticket.done.set()

    @staticmethod
    def _one(base: Context, ticket: Ticket) -> None:
        sender = ticket.sender
        ctx = dataclasses.replace(base, actor=sender.actor, origin=sender.origin,
                                  purpose=purpose_of(sender.actor, break_glass=bool(sender.break_glass_reason)),
                                  break_glass_reason=sender.break_glass_reason,
                                  request_id=sender.request_id or uuid.uuid4().hex, denials=[],
                                  break_glass_used=False, under={}, alerts=[])
        try:
            with base.session.begin_nested():
                if ticket.denial is not None:
                    ctx.denials.append(ticket.denial)
                    raise Denied(ticket.denial.reason)
                ticket.result = store_instance(ctx, prepared=ticket.prepared)
        except Denied as exc:
            # As a refused unit of work: its work is rolled back (here, its savepoint) and the
            # denial is written to the ledger (here, in the group's commit).
            ctx.record_denials()
            ctx.write_alerts()
            ticket.error = exc
        except KuraError as exc:
            ticket.error = exc
        except Exception as exc:
            log.error("storing an instance failed", exc_info=exc, extra={"origin": sender.origin})
            ticket.error = KuraError(f"{type(exc).__name__}: {str(exc)[:200]}")
            logs.mark_logged(ticket.error)
