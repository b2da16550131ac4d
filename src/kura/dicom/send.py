"""C-STORE sub-operations (C-GET, C-MOVE) that send the stored bytes, not a re-encoded copy.

pynetdicom's C-GET and C-MOVE services take a pydicom Dataset from the handler and encode it
again (group lengths dropped, deflate compressed anew, VR UN re-encoded): what the peer
receives would differ from what kura stored. So the handlers yield a `Stored` — a Dataset
that carries the data set's bytes as stored and their transfer syntax — and kura's
associations (`RawStoring`, used for the accepted associations and for C-MOVE's
sub-associations) send those bytes unchanged under the presentation context accepted for
exactly that transfer syntax (PS3.7 9.3.1; PS3.8 7.1.1.13). When the peer accepted none, the
handler converts the instance to a transfer syntax it did accept (kura.imaging.transcode)
and the conversion is ledgered.
"""

from __future__ import annotations

import time
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE

__all__ = ["Stored", "RawStoring", "accepted_syntaxes", "use_raw_storing", "COPIED_FROM"]

# RawStoring.send_c_store repeats the end of pynetdicom's Association.send_c_store (pause the
# reactor, send, wait): the SHA-256 of the source it follows. tests/dicom/test_reactors_pinned.py
# fails when pynetdicom changes it: re-read it, then re-pin.
COPIED_FROM = {"pynetdicom": "3.0.4", "Association.send_c_store": "fa5a8127f349f8e75698f4cdf2b4dbe3f38e3e9e320a8cf45c15bf8333f9c283"}


class Stored(Dataset):
    """A stored instance to send as it is: SOP Class and Instance UIDs for the C-STORE
    request, the transfer syntax it is encoded in, and its data set's bytes."""

    def __init__(self, *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, data: bytes):
        super().__init__()
        self.SOPClassUID = UID(sop_class_uid)
        self.SOPInstanceUID = UID(sop_instance_uid)
        self.file_meta = FileMetaDataset()
        self.file_meta.TransferSyntaxUID = UID(transfer_syntax)
        self.encoded = data


def accepted_syntaxes(assoc: Association, sop_class_uid: str) -> list[str]:
    """The transfer syntaxes under which `assoc` may send `sop_class_uid` as storage SCU."""
    return [str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts
            if cx.abstract_syntax == sop_class_uid and cx.as_scu]


class RawStoring(Association):
    """An association whose send_c_store sends a `Stored` data set's bytes unchanged."""

    def send_c_store(self, dataset, msg_id=1, priority=2, originator_aet=None, originator_id=None):
        if not isinstance(dataset, Stored):
            return super().send_c_store(dataset, msg_id, priority, originator_aet, originator_id)
        if not self.is_established:
            raise RuntimeError("the association must be established before sending a C-STORE request")
        # Exactly the stored transfer syntax: raises ValueError (a failed sub-operation) if none.
        context = self._get_valid_context(dataset.SOPClassUID, dataset.file_meta.TransferSyntaxUID, "scu",
                                          allow_conversion=False)
        req = C_STORE()
        req.MessageID = msg_id
        req.Priority = priority
        req.MoveOriginatorApplicationEntityTitle = originator_aet
        req.MoveOriginatorMessageID = originator_id
        req.AffectedSOPClassUID = dataset.SOPClassUID
        req.AffectedSOPInstanceUID = dataset.SOPInstanceUID
        req.DataSet = BytesIO(dataset.encoded)
        # As pynetdicom's send_c_store: pause the reactor, send, wait for the response.
        self._reactor_checkpoint.clear()
        while not self._is_paused:
            time.sleep(0.0001)
        self.dimse.send_msg(req, context.context_id)
        _, rsp = self.dimse.get_msg(block=True)
        self._reactor_checkpoint.set()
        if rsp is None:
            self._handle_no_response()
            return Dataset()
        return self._check_received_status(rsp)


def use_raw_storing(assoc: Association) -> None:
    """Make a plain pynetdicom association (C-MOVE's sub-association) a RawStoring one."""
    if type(assoc) is Association:
        assoc.__class__ = RawStoring
