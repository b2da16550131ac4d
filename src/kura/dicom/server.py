"""kura's DICOM application entity: Verification, Storage, Query/Retrieve FIND/MOVE/GET.

Shaped like pynetdicom apps/qrscp/qrscp.py. The AE title comes from settings; only
registered peers may associate (checked against the peer table at each association, so
`kura dicom-peer add` takes effect without a restart). Every storage SOP class pynetdicom
knows is accepted, in the uncompressed and common compressed transfer syntaxes, and stored
as received. Each association runs in its own thread (several at once).

Two things make ingest fast without weakening it (bench/ingest measures them):

- pynetdicom's reactors poll: the DUL thread sleeps 1 ms whenever the socket is idle, the
  association thread sleeps 1 ms on every turn, so each C-STORE waited on two timers. Each
  accepted association is switched to reactors that block on the socket (select) and on a
  wake-up from the other thread instead (_EventDUL, _EventAssociation; pynetdicom 3.0).
- C-STOREs from every association go to the archive's ingest (kura.imaging.ingest), which
  commits them in groups; each is answered only after its group has committed (blob fsynced
  before).
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time

from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.sop_class import (PatientRootQueryRetrieveInformationModelFind,
                                  PatientRootQueryRetrieveInformationModelGet,
                                  PatientRootQueryRetrieveInformationModelMove,
                                  StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove, Verification)
from pydicom import uid
from pydicom.uid import UID

from kura.dicom import admission, handlers, send

__all__ = ["start", "make_ae", "TRANSFER_SYNTAXES", "REACTORS_COPIED_FROM"]

# The pynetdicom release whose private reactors _EventDUL.run_reactor and
# _EventAssociation._run_reactor copy, with the SHA-256 of the copied methods' source.
# tests/dicom/test_reactors_pinned.py fails when pynetdicom changes: re-read both, then re-pin.
REACTORS_COPIED_FROM = {
    "pynetdicom": "3.0.4",
    "DULServiceProvider.run_reactor": "e3a10eb3a0931e4854af33b9496e92d9679522aca26b0e04da8967559b9e2803",
    "Association._run_reactor": "f28838c5559e462a563750cfc9f3790027f4bb7e2223baf42c9f5d682c359dee",
}

TRANSFER_SYNTAXES = [
    uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian, uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless,
    uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless,
    uid.JPEG2000, uid.RLELossless,
]

_QR_MODELS = (PatientRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelMove,
              PatientRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelFind,
              StudyRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelGet)


def make_ae(kura) -> AE:
    ae = AE(ae_title=kura.settings.aet)
    ae.maximum_associations = admission.UNLIMITED  # kura.dicom.admission limits instead
    ae.network_timeout = ae.acse_timeout = 60
    ae.dimse_timeout = 120
    ae.maximum_pdu_size = 0  # no limit: large PDUs, fewer round trips
    ae.add_supported_context(Verification, TRANSFER_SYNTAXES)
    for cx in AllStoragePresentationContexts:
        # scu_role for C-GET: kura sends the instances back on the same association.
        ae.add_supported_context(cx.abstract_syntax, TRANSFER_SYNTAXES, scp_role=True, scu_role=True)
    for model in _QR_MODELS:
        ae.add_supported_context(model, TRANSFER_SYNTAXES[:3])
    # C-MOVE sub-associations: kura is the storage SCU towards the destination.
    ae.requested_contexts = []
    for cx in AllStoragePresentationContexts[:120]:
        ae.add_requested_context(cx.abstract_syntax, [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian])
    return ae


class _EventDUL(DULServiceProvider):
    """pynetdicom's DUL reactor, waiting in select() on the socket and a wake-up pipe instead
    of sleeping 1 ms per idle turn. The state machine, timers and error handling are
    pynetdicom's own (DULServiceProvider.run_reactor, of which this is a copy but the wait)."""

    _WAIT = 0.02  # seconds: bounds how late an ARTIM expiry or a kill is noticed

    def _event_init(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._assoc_wake = threading.Event()

    def run(self) -> None:  # Thread.run: the target bound at __init__ is the polling reactor
        try:
            self.run_reactor()
        finally:
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # full (a wake-up is pending anyway) or closed (the reactor ended)
            pass

    def send_pdu(self, primitive) -> None:
        super().send_pdu(primitive)
        self._wake()

    def stop_dul(self) -> bool:
        if self.state_machine.current_state == "Sta1":
            self._kill_thread = True
            self._wake()
            while self.is_alive():
                time.sleep(0.001)
            return True
        return False

    def _wait(self) -> None:
        sock = getattr(self.socket, "socket", None)
        if sock is None or self.state_machine.current_state == "Sta13" or not self.to_provider_queue.empty():
            time.sleep(0.001 if sock is None else 0)
            return
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():  # TLS: data already decrypted and buffered
            return
        try:
            ready, _, _ = select.select([sock, self._wake_r], [], [], self._WAIT)
        except (OSError, ValueError):
            return  # closed underneath: the transport check below raises Evt17
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except OSError:
                pass

    def run_reactor(self) -> None:
        self._idle_timer.start()
        sleep = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
                sleep = True
            if sleep:
                self._wait()
            if self._kill_thread:
                break
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception:  # noqa: BLE001 — as pynetdicom: abort rather than leave a broken state
                abort_pdu = A_ABORT_RQ()
                abort_pdu.source = 0x02
                abort_pdu.reason_diagnostic = 0x00
                try:
                    self.socket.send(abort_pdu.encode())
                except Exception:  # noqa: BLE001, S110 — the peer is gone already; we abort anyway
                    pass
                self.assoc.is_aborted = True
                self.assoc.is_established = False
                self.assoc._kill = True
                self._kill_thread = True
                self._assoc_wake.set()
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                sleep = True
                continue
            before = self.state_machine.current_state
            self.state_machine.do_action(event)
            if before == "Sta2" and self.state_machine.current_state == "Sta1":
                # Closed (or timed out) before any A-ASSOCIATE-RQ: pynetdicom's association
                # thread would wait out its whole request timeout; an empty primitive ends
                # it now, so the connection's slot is free at once (kura.dicom.admission).
                self.to_user_queue.put(None)
            self._assoc_wake.set()  # a DIMSE message, release or abort may now be waiting
            sleep = False


class _EventAssociation(send.RawStoring):
    """pynetdicom's acceptor loop, waiting for the DUL's wake-up instead of sleeping 1 ms per
    turn (Association._run_reactor, of which this is a copy but the wait); C-GET sends the
    stored bytes (kura.dicom.send)."""

    def _run_reactor(self) -> None:
        wake = self.dul._assoc_wake
        self._is_paused = False
        while not self._kill:
            wake.wait(0.02)
            wake.clear()
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            context_id, msg = self.dimse.get_msg(block=False)
            if msg:
                self._serve_request(msg, context_id)
                wake.set()  # another message may have arrived meanwhile: look again at once
            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


def _event_driven(event) -> None:
    """EVT_CONN_OPEN, before the association's threads start: switch them to the
    event-driven reactors above."""
    assoc = event.assoc
    if type(assoc) is Association and type(assoc.dul) is DULServiceProvider and not assoc.dul.is_alive():
        assoc.dul.__class__ = _EventDUL
        assoc.dul._event_init()
        assoc.__class__ = _EventAssociation


def _requestors_order(event) -> None:
    """EVT_REQUESTED, before negotiation: where the requestor lists a compressed transfer
    syntax first for an abstract syntax, accept that one. pynetdicom takes the first of the
    acceptor's list instead (Explicit VR Little Endian), which made a modality that offered its
    compressed images with an uncompressed fallback decompress them — or fail, if it could
    not — rather than have them stored as they are. Among uncompressed syntaxes kura's own
    order holds (Explicit VR Little Endian first, as most SCPs choose): a requestor proposing
    pynetdicom's default [Implicit, Explicit, Big Endian] and sending Explicit VR files has no
    second context to fall back on if kura took Implicit."""
    assoc = event.assoc
    if assoc.is_rejected or assoc.is_aborted:
        return
    # The same on both sides: a modality storing (C-STORE) and a peer retrieving (C-GET
    # +xr, a viewer that wants what is stored) get their compressed first choice.
    proposed: dict[str, list[str]] = {}
    for cx in assoc.requestor.requested_contexts:
        syntaxes = [str(ts) for ts in cx.transfer_syntax]
        if not (syntaxes and UID(syntaxes[0]).is_compressed):
            continue
        order = proposed.setdefault(str(cx.abstract_syntax), [])
        order.extend(ts for ts in syntaxes if ts not in order)
    contexts = []
    for cx in assoc.acceptor.supported_contexts:
        order = proposed.get(str(cx.abstract_syntax))
        if order:
            ranked = sorted(cx.transfer_syntax, key=lambda ts: order.index(ts) if ts in order else len(order))
            if ranked != list(cx.transfer_syntax):  # a new context: the AE's own are shared
                ours, cx = cx, build_context(cx.abstract_syntax, ranked)
                cx.scu_role, cx.scp_role = ours.scu_role, ours.scp_role
        contexts.append(cx)
    assoc.acceptor.supported_contexts = contexts


def _handlers(kura):
    return [
        (evt.EVT_CONN_OPEN, _event_driven),
        (evt.EVT_CONN_OPEN, handlers.on_conn_open),
        (evt.EVT_REQUESTED, handlers.on_requested, [kura]),
        (evt.EVT_REQUESTED, admission.on_requested, [kura]),  # after the peer check
        (evt.EVT_REQUESTED, _requestors_order),
        (evt.EVT_ACCEPTED, handlers.on_accepted, [kura]),
        (evt.EVT_RELEASED, handlers.on_released, [kura]),
        (evt.EVT_ABORTED, handlers.on_released, [kura]),
        (evt.EVT_C_ECHO, handlers.on_echo),
        (evt.EVT_C_STORE, handlers.on_store, [kura]),
        (evt.EVT_C_FIND, handlers.on_find, [kura]),
        (evt.EVT_C_GET, handlers.on_get, [kura]),
        (evt.EVT_C_MOVE, handlers.on_move, [kura]),
    ]


def start(kura, host: str, port: int, block: bool = False):
    """Serve DICOM on (host, port). Returns the pynetdicom server (call .shutdown() to stop);
    with block=True serves until interrupted. Port 0 picks a free port: server.server_address."""
    ae = make_ae(kura)
    # As AE.start_server, with kura's admission rules (kura.dicom.admission).
    server = ae.make_server((host, port), evt_handlers=_handlers(kura),
                            server_class=admission.GuardedServer, kura=kura)
    ae._servers.append(server)  # server.shutdown() takes it out again
    if block:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.shutdown()
        return server
    threading.Thread(target=server.serve_forever, name="AcceptorServer@kura", daemon=True).start()
    return server
