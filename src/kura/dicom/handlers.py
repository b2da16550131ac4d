"""One function per pynetdicom event: unpack it, call kura.imaging in a unit of work, answer a status.

Shaped like pynetdicom apps/qrscp/handlers.py. No SQL and no rules here: the peer table,
the rights, the access policy and the archive's rules are all in kura.imaging; errors map to
statuses (PS3.4 B.2.3, C.4; PS3.7 C): Invalid → 0xA900, Denied → 0x0124 "Refused: Not
Authorised", any other KuraError → 0xC000-range "Unable to process".
"""

from __future__ import annotations

import socket

from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import build_context, evt

from kura.dicom import log as dlog
from kura.dicom import send
from kura.errors import Denied, Invalid, KuraError
from kura.identity import emergency
from kura.imaging import peers
from kura.imaging import service as imaging
from kura.imaging.ingest import Sender
from kura.imaging import transcode
from kura.imaging.query import Query

__all__ = ["on_conn_open", "on_requested", "on_accepted", "on_released", "on_echo", "on_store",
           "on_find", "on_get", "on_move", "status_for", "failure", "PURPOSE"]

PURPOSE = "TREAT"  # DIMSE traffic serves treatment (v3 PurposeOfUse)
SUCCESS, PENDING = 0x0000, 0xFF00
INVALID, DENIED, UNABLE = 0xA900, 0x0124, 0xC000
REFUSED_CONFIRMED = 0xC001  # different bytes under a SOP Instance of a confirmed study
_QR_KEYWORDS_IGNORED = {"QueryRetrieveLevel", "SpecificCharacterSet"}


def status_for(exc: KuraError, what: str = "") -> Dataset:
    """The failure status for `exc`, with an Error Comment saying why (PS3.7 C.4.2), logged
    (a failure with its traceback: kura.dicom.log)."""
    status = INVALID if isinstance(exc, Invalid) else DENIED if isinstance(exc, Denied) else UNABLE
    return failure(dlog.failed(exc, status, what=what), str(exc) or type(exc).__name__)


def failure(status: int, why: str) -> Dataset:
    """A status data set: Status and Error Comment (LO: at most 64 characters of the default
    repertoire, no backslash — the command set has no character set of its own)."""
    ds = Dataset()
    ds.Status = status
    text = "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in why)
    ds.ErrorComment = text[:64].strip()
    return ds


def on_conn_open(event) -> None:
    """Nagle's algorithm costs tens of ms per small PDU on loopback: send at once."""
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _origin(event) -> str:
    return f"{event.assoc.requestor.ae_title}@{event.assoc.requestor.address}"


def on_requested(event, kura) -> None:
    """Reject an association addressed to another AE title (A-ASSOCIATE-RJ 'called AE title
    not recognised', PS3.8 7.1.1.9; setting dicom_check_called_aet, as Orthanc's
    DicomCheckCalledAet) and unknown calling AE titles ('calling AE title not recognised')."""
    primitive = event.assoc.requestor.primitive
    aet = (primitive.calling_ae_title or "").strip()
    called = (primitive.called_ae_title or "").strip()
    wrong_called = kura.settings.dicom_check_called_aet and called != kura.settings.aet
    with kura.unit_of_work(None, PURPOSE, origin=f"{aet}@{event.assoc.requestor.address}") as ctx:
        peer = peers.lookup(ctx, aet)
        cut = emergency.blocks_peer(ctx, aet) if peer is not None else None
        reason = (f"called AE title {called!r} is not {kura.settings.aet!r}" if wrong_called
                  else cut or ("calling AE title not registered" if peer is None else ""))
        if reason:
            peers.record_association(ctx, ae_title=aet, address=event.assoc.requestor.address,
                                     accepted=False, reason=reason)
            peer = None
    event.assoc.kura_peer = peer
    dlog.begin(event, accepted=peer is not None, reason=reason)
    if peer is None:
        event.assoc.acse.send_reject(0x01, 0x01, 0x07 if wrong_called else 0x03)
        event.assoc.kill()  # as pynetdicom's own rejection does: lets the DUL send the RJ first


def _record(event, kura, accepted: bool | None) -> None:
    peer = getattr(event.assoc, "kura_peer", None)
    if peer is not None:
        with kura.unit_of_work(peers.subject_for(peer), PURPOSE, origin=_origin(event)) as ctx:
            peers.record_association(ctx, ae_title=peer.ae_title, address=event.assoc.requestor.address,
                                     accepted=accepted)


def on_accepted(event, kura) -> None:
    _record(event, kura, True)


def on_released(event, kura) -> None:
    dlog.end(event, "aborted" if event.event.name == "EVT_ABORTED" else "released")
    _record(event, kura, None)


def on_echo(event) -> int:
    return SUCCESS


def _work(event, kura):
    peer = event.assoc.kura_peer
    return peer, kura.unit_of_work(peers.subject_for(peer), PURPOSE, origin=_origin(event))


def on_store(event, kura) -> int | Dataset:
    """C-STORE: hand the data set to the archive's ingest (kura.imaging.ingest), which checks
    the peer's right, stores it in a group commit and returns once that has committed."""
    req = event.request
    sender = Sender(actor=peers.subject_for(event.assoc.kura_peer), origin=_origin(event),
                    peer=event.assoc.kura_peer)
    try:
        result = kura.ingest.store(
            sender, req.DataSet.getvalue(), transfer_syntax=str(event.context.transfer_syntax),
            sop_class_uid=str(req.AffectedSOPClassUID), sop_instance_uid=str(req.AffectedSOPInstanceUID))
    except KuraError as exc:
        return status_for(exc, "C-STORE")
    return SUCCESS if result.stored else failure(REFUSED_CONFIRMED, result.refused)


def _query(identifier: Dataset) -> Query:
    keys = {}
    for elem in identifier:
        if elem.keyword and elem.keyword not in _QR_KEYWORDS_IGNORED and elem.VR != "SQ":
            value = elem.value
            if value is None:
                value = ""
            elif elem.VM > 1:
                value = "\\".join(str(v) for v in value)
            keys[elem.keyword] = str(value)
    return Query(level=str(identifier.get("QueryRetrieveLevel", "")), keys=keys)


def on_find(event, kura):
    peer, work = _work(event, kura)
    try:
        query = _query(event.identifier)
        with work as ctx:
            peers.require_right(ctx, peer, "query")
            results = imaging.find_datasets(ctx, query, query.keys, retrieve_aet=kura.settings.aet)
    except KuraError as exc:
        yield status_for(exc, "C-FIND"), None
        return
    for ds in results:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield PENDING, ds


def _retrieve(event, kura):
    peer, work = _work(event, kura)
    query = _query(event.identifier)
    with work as ctx:
        peers.require_right(ctx, peer, "retrieve")
        return imaging.retrieve(ctx, query)


def _send(event, kura, items, storer):
    """Each item as stored (kura.dicom.send), on the association `storer()` returns."""
    for item in items:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        try:
            yield PENDING, _outgoing(event, kura, item, storer())
        except KuraError as exc:
            yield status_for(exc, "retrieve"), None


def _outgoing(event, kura, item, assoc) -> send.Stored:
    """The instance's stored data set, or — when the peer accepted no presentation context
    for its transfer syntax but one for another — a converted copy, ledgered."""
    data = item.read(kura.blobs)
    stored_as, encoded = transcode.split_part10(data)
    offered = send.accepted_syntaxes(assoc, item.sop_class_uid) if assoc is not None else []
    as_stored = send.Stored(sop_class_uid=item.sop_class_uid, sop_instance_uid=item.sop_uid,
                            transfer_syntax=stored_as, data=encoded)
    if not offered or stored_as in offered:
        return as_stored
    for target in sorted(offered, key=lambda ts: ts not in transcode.NATIVE):
        try:
            converted = transcode.transcode(data, target)
            break
        except transcode.CannotConvert as exc:
            dlog.failed(exc, UNABLE, what="conversion")
    else:
        return as_stored  # no context for it: pynetdicom counts a failed sub-operation
    with kura.unit_of_work(peers.subject_for(event.assoc.kura_peer), PURPOSE, origin=_origin(event)) as ctx:
        imaging.record_conversion(ctx, item, to=target,
                                  reason=f"the peer accepted no presentation context for {stored_as}")
    return send.Stored(sop_class_uid=item.sop_class_uid, sop_instance_uid=item.sop_uid,
                       transfer_syntax=target, data=transcode.split_part10(converted)[1])


def on_get(event, kura):
    try:
        items = _retrieve(event, kura)
    except KuraError as exc:
        # pynetdicom reads the number of sub-operations first; one, answered by the failure,
        # makes the refusal (e.g. 0x0124 for a study beyond the peer's clearance) the final status.
        yield 1
        yield status_for(exc, "C-GET"), None
        return
    yield len(items)
    yield from _send(event, kura, items, lambda: event.assoc)


def _contexts(items) -> list:
    """The sub-association proposes each stored (SOP class, transfer syntax) on its own — the
    destination accepts one transfer syntax per context — and, after those, each SOP class in
    the uncompressed syntaxes for a destination that takes none of the stored ones (at most
    128 contexts, PS3.8 9.3.2.2)."""
    exact: dict[tuple[str, str], None] = {}
    for item in items:
        exact[(item.sop_class_uid, item.transfer_syntax)] = None
    contexts = [build_context(sop, [ts]) for sop, ts in exact]
    fallback = [build_context(sop, [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian])
                for sop in dict.fromkeys(sop for sop, _ in exact)]
    return (contexts + fallback)[:128]


def on_move(event, kura):
    with kura.unit_of_work(None, PURPOSE, origin=_origin(event)) as ctx:
        destination = peers.lookup(ctx, str(event.move_destination or "").strip())
    if destination is None:
        yield None, None  # pynetdicom answers 0xA801 Move Destination unknown
        return
    items, failure = [], None
    try:
        items = _retrieve(event, kura)
    except KuraError as exc:
        failure = status_for(exc, "C-MOVE")
    storer: dict = {}

    def opened(sub) -> None:  # the sub-association to the destination: sends stored bytes
        send.use_raw_storing(sub.assoc)
        storer["assoc"] = sub.assoc
        on_conn_open(sub)

    yield destination.host, destination.port, {
        "contexts": _contexts(items) or [build_context(uid.CTImageStorage)],
        "evt_handlers": [(evt.EVT_CONN_OPEN, opened)]}
    if failure is not None:
        yield 1  # as in on_get: the failure answers the one announced sub-operation
        yield failure, None
        return
    yield len(items)
    yield from _send(event, kura, items, lambda: storer.get("assoc"))

