"""Who may hold a socket on the DICOM port, and for how long.

Anyone on the network can open a TCP connection before saying who they are, so nothing a
connection does before its A-ASSOCIATE-RQ may cost registered peers their service:

- A connection that has not delivered a complete A-ASSOCIATE-RQ within
  `dicom_request_timeout` seconds is closed (the ARTIM timer and the wait for the request,
  PS3.8 9.1.5, plus a socket timeout, so a PDU that stops half-way cannot hold its reader
  forever).
- At most `dicom_max_connections_per_address` connections are open from one address at a
  time; more are closed as soon as they are accepted.
- `dicom_max_associations` counts the associations of registered peers only, checked when
  the request has been read and the peer recognised. pynetdicom's own limit
  (maximum_associations) counts every accepted socket, so 31 silent sockets from anywhere
  used to make every modality's request fail with "local limit exceeded"; it is set out of
  reach here and this limit takes its place.

Counts are of live association threads (threads end when their socket closes), so nothing
can leak: a slot is free again as soon as its connection is gone.
"""

from __future__ import annotations

import threading

from pynetdicom import evt
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from kura.imaging import peers

__all__ = ["UNLIMITED", "GuardedServer", "on_requested"]

UNLIMITED = 1_000_000  # pynetdicom's maximum_associations: never reached; the limits are here
_REJECT_LIMIT = (0x02, 0x03, 0x02)  # rejected-transient, presentation-related, local limit exceeded


class _Handler(RequestHandler):
    """pynetdicom's request handler, with the request timeout on the socket and the
    association's ARTIM timer before the association thread starts."""

    def handle(self) -> None:
        server: GuardedServer = self.server  # type: ignore[assignment]
        try:
            assoc = self._create_association()
            timeout = server.kura.settings.dicom_request_timeout
            assoc.acse_timeout = timeout  # ARTIM and the wait for the A-ASSOCIATE-RQ
            assoc.dul.socket.socket.settimeout(timeout)  # a half-sent PDU cannot block a read
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()
        finally:
            server._started(self.client_address[0])


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server with kura's admission rules."""

    def __init__(self, *args, kura, **kwargs) -> None:
        self.kura = kura
        self._lock = threading.Lock()
        self._starting: dict[str, int] = {}  # admitted, association thread not yet running
        super().__init__(*args, request_handler=_Handler, **kwargs)

    def _open_from(self, host: str) -> int:
        live = sum(1 for a in self.active_associations if a.is_alive() and a.requestor.address == host)
        return live + self._starting.get(host, 0)

    def verify_request(self, request, client_address) -> bool:
        """socketserver's hook, before a thread is spent on the connection; False closes it."""
        host = client_address[0]
        with self._lock:
            if self._open_from(host) >= self.kura.settings.dicom_max_connections_per_address:
                return False
            self._starting[host] = self._starting.get(host, 0) + 1
        return True

    def _started(self, host: str) -> None:
        with self._lock:
            left = self._starting.get(host, 1) - 1
            if left:
                self._starting[host] = left
            else:
                self._starting.pop(host, None)

    def count_association(self, assoc) -> bool:
        """Take one of the registered peers' association slots for assoc; False when all are taken."""
        with self._lock:
            taken = sum(1 for a in self.active_associations
                        if a is not assoc and a.is_alive() and getattr(a, "kura_counted", False)
                        and not (a.is_released or a.is_aborted or a.is_rejected))
            if taken >= self.kura.settings.dicom_max_associations:
                return False
            assoc.kura_counted = True
            return True


def on_requested(event, kura) -> None:
    """EVT_REQUESTED, after the peer check: the request is complete, so the socket gets the
    ordinary network timeout; a registered peer takes an association slot or is rejected
    with 'local limit exceeded' (PS3.8 9.3.4), ledgered."""
    assoc = event.assoc
    server = assoc._server
    if assoc.is_rejected or assoc.is_aborted or not isinstance(server, GuardedServer):
        return  # (a rejected request keeps the short timeouts while the reject is sent)
    if server.count_association(assoc):
        sock = getattr(assoc.dul.socket, "socket", None)
        if sock is not None:
            sock.settimeout(assoc.ae.network_timeout)
        assoc.acse_timeout = assoc.ae.acse_timeout
        return
    aet = (assoc.requestor.primitive.calling_ae_title or "").strip()
    with kura.unit_of_work(None, "TREAT", origin=f"{aet}@{assoc.requestor.address}") as ctx:
        peers.record_association(ctx, ae_title=aet, address=assoc.requestor.address, accepted=False,
                                 reason="association limit reached")
    assoc.acse.send_reject(*_REJECT_LIMIT)
    assoc.kill()
