"""A restricted patient's images never leave over DIMSE (issue 7 §1, R13, R14): a registered
DICOM peer (clearance N) finds nothing of them with C-FIND, at any level and by name, and
C-GET / C-MOVE send nothing — over the real wire, pynetdicom as the SCU."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (CTImageStorage, PatientRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove)

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.records import service as records

from tests.dicom.conftest import add_peer
from tests.dicom.test_pynetdicom_scu import find, store
from tests.support.imaging import make_dataset
from tests.support.records import patient

CLERK_R = Subject(id=None, name="clerk-r", roles=frozenset({Role.clerk}), clearance="R")
NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def register(kura, mrn, security=None) -> str:
    with kura.unit_of_work(CLERK_R, "HPAYMT") as ctx:
        return records.create(ctx, patient(mrn=mrn, birth="1970-01-01", security=security)).id


def _matches(port, **keys) -> list:
    ident = Dataset()
    ident.QueryRetrieveLevel = keys.pop("level", "STUDY")
    for k, v in {"PatientID": "", "PatientName": "", "PatientBirthDate": "", "StudyInstanceUID": "", **keys}.items():
        setattr(ident, k, v)
    model = (PatientRootQueryRetrieveInformationModelFind if ident.QueryRetrieveLevel == "PATIENT"
             else StudyRootQueryRetrieveInformationModelFind)
    results = find(port, ident, model=model)
    assert results[-1][0] == 0x0000
    return [i for s, i in results if s == 0xFF00]


def _get(port, study_uid) -> tuple[int, list]:
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        return 0

    ae = AE(ae_title="VIEWER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA", ext_neg=[build_role(CTImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = study_uid
    statuses = [s.Status for s, _ in assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    return statuses[-1], received


def _move(kura, port, **keys) -> tuple[int, list]:
    """C-MOVE to a registered destination that really listens; returns (final status, received)."""
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        return 0

    dest = AE(ae_title="DEST")
    dest.add_supported_context(CTImageStorage)
    server = dest.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        add_peer(kura, "DEST", ("store",), port=server.server_address[1])
        ae = AE(ae_title="VIEWER")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
        assert assoc.is_established
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        for k, v in keys.items():
            setattr(ident, k, v)
        statuses = [s.Status for s, _ in assoc.send_c_move(ident, "DEST", StudyRootQueryRetrieveInformationModelMove)
                    if s is not None and "Status" in s]
        assoc.release()
    finally:
        server.shutdown()
    return statuses[-1], received


def test_r14_restricted_patients_images_never_leave_over_dimse(scp):
    kura, port = scp
    register(kura, "R100", security="R")
    ds = make_dataset(patient_id="R100", name=NAME)
    assert store(port, [ds]) == [0]
    assert _matches(port, PatientID="R100") == []
    assert _matches(port, PatientName="やまだ*") == []
    assert _matches(port, PatientName="山田*") == []
    assert _matches(port, level="PATIENT", PatientID="R100") == []
    status, received = _get(port, ds.StudyInstanceUID)
    assert received == [] and status == 0x0124  # Refused: Not Authorised
    status, received = _move(kura, port, StudyInstanceUID=ds.StudyInstanceUID)
    assert received == [] and status == 0x0124
    status, received = _move(kura, port, PatientID="R100")
    assert received == []


def test_r14_raising_the_patients_label_stops_find_and_get_at_once(scp):
    kura, port = scp
    pid = register(kura, "P200")
    ds = make_dataset(patient_id="P200", name=NAME)
    assert store(port, [ds]) == [0]
    assert len(_matches(port, PatientID="P200")) == 1
    assert _get(port, ds.StudyInstanceUID)[1] == [ds.SOPInstanceUID]
    with kura.unit_of_work(CLERK_R, "HPAYMT") as ctx:
        records.update(ctx, "Patient", pid, {**patient(mrn="P200", birth="1970-01-01", security="R"), "id": pid})
    assert _matches(port, PatientID="P200") == []
    assert _get(port, ds.StudyInstanceUID) == (0x0124, [])
