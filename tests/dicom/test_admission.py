"""Sockets that never associate cannot deny registered peers their service (kura.dicom.admission).

The flood comes from other loopback addresses (127.0.0.2 …), as an attacker's would come from
another host; the registered peers associate from 127.0.0.1.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from kura.config import load_settings
from kura.ledger.tags import LedgerTag
from tests.dicom.test_pynetdicom_scu import count, find, store
from tests.support.imaging import make_dataset

PER_ADDRESS = 8
FLOOD_HOSTS = [f"127.0.0.{n}" for n in range(2, 7)]  # 5 × 8 = 40 sockets, more than the old limit of 32

# What a flooding client sends before it stops: nothing, a part of a PDU header, a header
# that announces more than follows, the start of an A-ASSOCIATE-RQ.
_HEADER = struct.pack(">BBL", 0x01, 0, 1000)
HALF_SENT = [b"", b"\x01\x00", _HEADER + b"\x00\x01\x00\x00KURA", _HEADER[:5]]


@pytest.fixture
def settings(home, request):
    # kura accepts only some connections a second (pynetdicom copies every presentation
    # context per connection), so the flood takes seconds to build: a shorter request timeout
    # would close its first sockets before the last are open.
    limits = {"dicom_request_timeout": 8, "dicom_max_connections_per_address": PER_ADDRESS,
              "dicom_max_associations": 32}
    limits.update(getattr(request, "param", {}))
    return load_settings(home, env="development", **limits)


def connect(port, host):
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(host, 0))


def closed_by_server(sock, within: float) -> bool:
    """True when the server closes sock within `within` seconds (a functional deadline)."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def associate(port, aet="ALL", host="127.0.0.1"):
    ae = AE(ae_title=aet)
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    return ae.associate("127.0.0.1", port, ae_title="KURA", bind_address=(host, 0))


def associate_soon(port, host="127.0.0.1", within=10.0):
    """The first established association within `within` seconds, else the last attempt."""
    deadline = time.monotonic() + within
    while True:
        assoc = associate(port, host=host)
        if assoc.is_established or time.monotonic() > deadline:
            return assoc
        time.sleep(0.05)


def study_query(pid):
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.PatientID = pid
    ident.StudyInstanceUID = ""
    return ident


def test_idle_and_half_open_sockets_do_not_lock_out_registered_peers(scp):
    kura, port = scp
    flood = []
    try:
        for host in FLOOD_HOSTS:
            for i in range(PER_ADDRESS):
                sock = connect(port, host)
                if HALF_SENT[i % len(HALF_SENT)]:
                    sock.sendall(HALF_SENT[i % len(HALF_SENT)])
                flood.append(sock)
        # one more from a flooding address: over the per-address limit, closed at once
        extra = connect(port, FLOOD_HOSTS[0])
        # "at once" on a busy machine can be seconds (the accept loop works through the flood
        # first); 6 s still tells a refusal from the 8 s request timeout, which starts at accept
        assert closed_by_server(extra, within=6)
        extra.close()
        # a registered peer stores and queries throughout, without an error
        for n in range(3):
            ds = make_dataset(patient_id=f"F{n}", study_uid=f"1.2.392.77.{n}",
                              series_uid=f"1.2.392.77.{n}.1", sop_uid=f"1.2.392.77.{n}.1.1")
            assert store(port, [ds], aet="ALL") == [0]
            assert [s for s, _ in find(port, study_query(f"F{n}"), aet="ALL")] == [0xFF00, 0x0000]
        # nothing that never completed its A-ASSOCIATE-RQ is kept past the request timeout
        for sock in flood:
            assert closed_by_server(sock, within=15)
    finally:
        for sock in flood:
            sock.close()
    assert count(kura, LedgerTag.DicomAssociationRejected) == 0


@pytest.mark.parametrize("settings", [{"dicom_request_timeout": 60}], indirect=True)
def test_a_slot_is_free_as_soon_as_its_socket_closes(scp):
    _, port = scp
    host = "127.0.0.7"
    held = [connect(port, host) for _ in range(PER_ADDRESS)]
    over = connect(port, host)
    assert closed_by_server(over, within=6)  # refused; the request timeout here is a minute
    over.close()
    for sock in held:
        sock.close()
    # the request timeout is a minute: only the closes themselves can free the slots now
    assoc = associate_soon(port, host=host)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    assoc.release()


@pytest.mark.parametrize("settings", [{"dicom_max_associations": 2, "dicom_request_timeout": 60}],
                         indirect=True)
def test_association_limit_counts_registered_peers_not_sockets(scp):
    kura, port = scp
    idle = [connect(port, host) for host in FLOOD_HOSTS for _ in range(4)]
    try:
        first, second = associate(port), associate(port)
        assert first.is_established and second.is_established  # 20 idle sockets took no slot
        third = associate(port)
        assert third.is_rejected
        rj = third.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (0x02, 0x03, 0x02)  # local limit exceeded
        assert count(kura, LedgerTag.DicomAssociationRejected) == 1
        first.release()
        again = associate_soon(port)
        assert again.is_established
        again.release()
        second.release()
    finally:
        for sock in idle:
            sock.close()
