"""Operations logs of the DICOM adapter: each association tagged with its id and peer, and a
failure status logged with its traceback."""

from __future__ import annotations

from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet, CTImageStorage, Verification
from pydicom.dataset import Dataset
from pynetdicom import build_role

from tests.support.imaging import make_dataset


def test_associations_are_logged_with_id_and_peer(scp, captured_logs):
    kura, port = scp
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.is_established and assoc.send_c_echo().Status == 0
    assoc.release()
    stranger = AE(ae_title="STRANGER")
    stranger.add_requested_context(Verification)
    assert stranger.associate("127.0.0.1", port, ae_title="KURA").is_rejected
    lines = captured_logs.lines()
    began = [line for line in lines if line["message"] == "dicom association requested"]
    assert began and began[-1]["peer"] == "MODALITY@127.0.0.1" and began[-1]["assoc"]
    ended = [line for line in lines if line["message"] == "dicom association released"]
    assert ended and ended[-1]["assoc"] == began[-1]["assoc"] and ended[-1]["ms"] >= 0
    rejected = [line for line in lines if "rejected" in line["message"]]
    assert rejected and rejected[-1]["level"] == "WARNING" and rejected[-1]["peer"] == "STRANGER@127.0.0.1"


def test_a_failure_status_is_logged_with_its_traceback(scp, captured_logs):
    """C-GET of an instance whose blob has gone: 0xC000 for that instance, and an ERROR line
    naming the association, the peer and the error, with the traceback."""
    kura, port = scp
    ds = make_dataset(seed=7, study_uid="1.2.392.7", series_uid="1.2.392.7.1", sop_uid="1.2.392.7.1.1")
    ae = AE(ae_title="ALL")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA",
                         ext_neg=[build_role(CTImageStorage, scu_role=True, scp_role=True)])
    assert assoc.is_established
    for name in list(kura.blobs.names()):
        kura.blobs.delete(name)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.392.7"
    statuses = [s.Status for s, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet) if s]
    assoc.release()
    assert 0xC000 in statuses or statuses[-1] != 0
    failed = [line for line in captured_logs.lines() if line["level"] == "ERROR" and line["message"].startswith("dicom")]
    assert failed, captured_logs.text
    assert failed[0]["peer"] == "ALL@127.0.0.1" and failed[0]["assoc"] and failed[0]["status"] == "0xC000"
    assert "Traceback" in failed[0]["exc_info"]
