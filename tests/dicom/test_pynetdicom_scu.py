"""kura's DICOM SCP over the real wire, with pynetdicom as the SCU."""

from __future__ import annotations

import threading

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (CTImageStorage, PatientRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet, Verification)
from sqlalchemy import select

from kura.app import build
from kura.config import load_settings
from kura.dicom.server import start
from kura.imaging import service as imaging
from kura.imaging.query import Query
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag

from tests.dicom.conftest import add_peer
from tests.support.imaging import KANJI_NAME, PHYSICIAN, TECH, dataset_bytes, make_dataset, part10, prepare


def associate(port, aet, contexts=(CTImageStorage, Verification), roles=(), called="KURA"):
    ae = AE(ae_title=aet)
    for cx in contexts:
        ae.add_requested_context(cx)
    return ae.associate("127.0.0.1", port, ae_title=called, ext_neg=list(roles))


def store(port, datasets, aet="MODALITY"):
    assoc = associate(port, aet)
    assert assoc.is_established
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def find(port, identifier, aet="VIEWER", model=StudyRootQueryRetrieveInformationModelFind):
    assoc = associate(port, aet, contexts=(model,))
    assert assoc.is_established
    try:
        return [(s.Status, i) for s, i in assoc.send_c_find(identifier, model)]
    finally:
        assoc.release()


def count(kura, tag):
    with kura.sessions() as s:
        return len(list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag)))))


def test_r13_echo_and_unknown_ae_rejected(scp):
    kura, port = scp
    assoc = associate(port, "MODALITY")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    assoc.release()
    stranger = associate(port, "STRANGER")
    assert stranger.is_rejected
    assert count(kura, LedgerTag.DicomAssociationRejected) == 1
    assert count(kura, LedgerTag.DicomAssociationAccepted) == 1


def test_r13_an_association_to_another_called_ae_title_is_rejected_and_ledgered(scp):
    kura, port = scp
    wrong = associate(port, "MODALITY", called="WRONG")
    assert wrong.is_rejected
    # rejected-permanent by the service user: called AE title not recognised (PS3.8 7.1.1.9)
    assert (wrong.acceptor.primitive.result, wrong.acceptor.primitive.result_source,
            wrong.acceptor.primitive.diagnostic) == (1, 1, 7)
    with kura.sessions() as s:
        (entry,) = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.DicomAssociationRejected)))
        assert "'WRONG'" in entry.reason
    assert store(port, [make_dataset()]) == [0]  # the registered peer, addressed right


def test_the_called_ae_title_check_can_be_turned_off(home, clock):
    lenient = build(load_settings(home, env="development", dicom_check_called_aet=False), clock=clock)
    try:
        prepare(lenient)
        add_peer(lenient, "MODALITY", ("store",))
        server = start(lenient, "127.0.0.1", 0)
        try:
            assoc = associate(server.server_address[1], "MODALITY", called="ANYTHING")
            assert assoc.is_established
            assoc.release()
        finally:
            server.shutdown()
    finally:
        lenient.dispose()


def test_r23_store_then_find_japanese_names_and_get_byte_identical(scp):
    kura, port = scp
    ds_utf8 = make_dataset(patient_id="U1")
    ds_jis = make_dataset(patient_id="J1", charset=["", "ISO 2022 IR 87"])
    assert store(port, [ds_utf8, ds_jis]) == [0, 0]
    # both decode to the same three groups, intact, in C-FIND
    for pid in ("U1", "J1"):
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.PatientID = pid
        ident.PatientName = ""
        ident.StudyInstanceUID = ""
        results = find(port, ident)
        assert [s for s, _ in results] == [0xFF00, 0x0000]
        name = results[0][1].PatientName
        assert (name.alphabetic, name.ideographic, name.phonetic) == ("Yamada^Tarou", "山田^太郎", "やまだ^たろう")
    # C-GET returns exactly the bytes that were sent
    received = []

    def on_store(event):
        received.append(event.request.DataSet.getvalue())
        return 0

    ae = AE(ae_title="VIEWER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA", ext_neg=[build_role(CTImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = ds_utf8.StudyInstanceUID
    statuses = [s.Status for s, _ in assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    assert statuses[-1] == 0
    assert received == [dataset_bytes(part10(ds_utf8))]
    # every store, query and retrieve is in the ledger
    assert count(kura, LedgerTag.ImagingInstanceStored) == 2
    assert count(kura, LedgerTag.ImagingStudyQueried) == 2
    assert count(kura, LedgerTag.ImagingStudyRetrieved) == 1


def test_r13_store_only_peer_cannot_query(scp):
    kura, port = scp
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = ""
    assert [s for s, _ in find(port, ident, aet="MODALITY")] == [0x0124]
    assert count(kura, LedgerTag.AccessRequestDenied) == 1
    # and a query-only peer cannot store
    assoc = associate(port, "VIEWER")
    assert assoc.send_c_store(make_dataset()).Status == 0x0124
    assoc.release()


def test_r36_after_confirmation_different_bytes_refused(scp):
    kura, port = scp
    ds = make_dataset()
    assert store(port, [ds]) == [0]
    assert store(port, [ds]) == [0]  # identical again: success, stored once
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.confirm(ctx, ds.StudyInstanceUID)
    ds.PixelData = bytes(len(ds.PixelData))
    assert store(port, [ds]) == [0xC001]
    assert count(kura, LedgerTag.ImagingInstanceRefused) == 1
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert len(imaging.retrieve(ctx, Query(level="STUDY", keys={"StudyInstanceUID": ds.StudyInstanceUID}))) == 1


def test_four_associations_at_once(scp):
    kura, port = scp
    batches = [[make_dataset(patient_id=f"P{t}", seed=i, instance_number=i) for i in range(5)] for t in range(4)]
    results = {}

    def run(t):
        results[t] = store(port, batches[t], aet="ALL")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert all(results[t] == [0] * 5 for t in range(4)), results
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert imaging.count_instances(ctx) == 20


def test_patient_root_find_and_peer_change_without_restart(scp):
    kura, port = scp
    store(port, [make_dataset(patient_id="PR1")])
    ident = Dataset()
    ident.QueryRetrieveLevel = "PATIENT"
    ident.PatientID = "PR1"
    ident.PatientName = ""
    results = find(port, ident, model=PatientRootQueryRetrieveInformationModelFind)
    assert results[0][1].PatientName == KANJI_NAME and results[-1][0] == 0
    assert associate(port, "LATECOMER").is_rejected
    add_peer(kura, "LATECOMER", ("query",))
    assoc = associate(port, "LATECOMER")
    assert assoc.is_established
    assoc.release()


def test_parallel_associations_into_one_series(scp):
    """Modalities may split one series over several associations: the study, series and
    patient rows are created once, whichever association arrives first."""
    kura, port = scp
    study, series = "1.2.392.77", "1.2.392.77.1"
    batches = [[make_dataset(patient_id="SAME", study_uid=study, series_uid=series, sop_uid=f"{series}.{t}.{i}",
                             seed=i, instance_number=t * 10 + i) for i in range(1, 4)] for t in range(4)]
    results = {}

    def run(t):
        results[t] = store(port, batches[t], aet="ALL")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert all(results[t] == [0] * 3 for t in range(4)), results
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        s = imaging.get_study(ctx, study)
        assert (s.num_series, s.num_instances) == (1, 12)


def test_r49_the_transfer_syntax_the_modality_lists_first_is_accepted(scp):
    """A modality offering its compressed images with an uncompressed fallback in one context
    gets its first choice (pynetdicom alone would pick kura's first, Explicit VR Little Endian,
    and make the modality decompress — or fail)."""
    from pydicom import uid
    from pynetdicom.sop_class import MRImageStorage
    kura, port = scp
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(MRImageStorage, [uid.RLELossless, uid.ExplicitVRLittleEndian])
    ae.add_requested_context(CTImageStorage, [uid.ExplicitVRLittleEndian, uid.JPEG2000Lossless])
    # pynetdicom's default order, [Implicit, Explicit, Explicit Big Endian]: uncompressed, so
    # kura's own order holds and Explicit VR files can be sent on the one context there is
    ae.add_requested_context(uid.SecondaryCaptureImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    accepted = {cx.abstract_syntax: cx.transfer_syntax[0] for cx in assoc.accepted_contexts}
    assoc.release()
    assert accepted == {MRImageStorage: uid.RLELossless, CTImageStorage: uid.ExplicitVRLittleEndian,
                        uid.SecondaryCaptureImageStorage: uid.ExplicitVRLittleEndian}
