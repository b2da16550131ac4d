"""kura's DICOM application entity: Verification, Storage, Query/Retrieve FIND/MOVE/GET.

Shaped like pynetdicom apps/qrscp/qrscp.py. The AE title comes from settings; only
registered peers may associate (checked against the peer table at each association, so
`kura dicom-peer add` takes effect without a restart). Every storage SOP class pynetdicom
knows is accepted, in the uncompressed and common compressed transfer syntaxes, and stored
as received. Each association runs in its own thread (several at once).
"""

from __future__ import annotations

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import (PatientRootQueryRetrieveInformationModelFind,
                                  PatientRootQueryRetrieveInformationModelGet,
                                  PatientRootQueryRetrieveInformationModelMove,
                                  StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove, Verification)
from pydicom import uid

from kura.dicom import handlers

__all__ = ["start", "make_ae", "TRANSFER_SYNTAXES"]

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
    ae.maximum_associations = 32
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


def _handlers(kura):
    return [
        (evt.EVT_CONN_OPEN, handlers.on_conn_open),
        (evt.EVT_REQUESTED, handlers.on_requested, [kura]),
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
    return ae.start_server((host, port), block=block, evt_handlers=_handlers(kura))
