"""What real modalities send is kept byte for byte: irregular values are normalised for the
index where PS3.5 allows it, or left out of the index with a note; never refused for the
width of kura's own columns. Failures carry an Error Comment saying why."""

from __future__ import annotations

import json
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind
from sqlalchemy import select

from kura.imaging import service as imaging
from kura.imaging.models import ImagingStudy
from kura.imaging.query import Query
from kura.imaging.transcode import split_part10
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag

from tests.dicom.test_pynetdicom_scu import store
from tests.support.imaging import PHYSICIAN, make_dataset


def _stored(kura, study_uid):
    with kura.sessions() as s:
        study = s.scalars(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid)).one()
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingInstanceStored),
                                                    LedgerEntry.target_id == study_uid)).one()
        return study, json.loads(entry.detail) if isinstance(entry.detail, str) else entry.detail


def test_r49_an_old_style_study_date_is_stored_and_indexed_normalised(scp, monkeypatch):
    """pydicom's ExplVR_BigEnd.dcm: StudyDate 1997.04.24 and StudyTime with colons (ACR-NEMA
    forms), Explicit VR Big Endian — refused with 0xA900 and no reason before."""
    kura, port = scp
    path = get_testdata_file("ExplVR_BigEnd.dcm")
    ds = dcmread(path)
    assert ds.StudyDate == "1997.04.24"
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # the file's bytes, as they are
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.send_c_store(path).Status == 0
    assoc.release()
    study, detail = _stored(kura, ds.StudyInstanceUID)
    assert study.study_date == "19970424"
    assert detail["normalised"] == ["StudyDate: YYYY.MM.DD read as YYYYMMDD", "StudyTime: HH:MM:SS read as HHMMSS"]
    assert ds.StudyTime == "14:04:38" and study.study_time == "140438"
    with kura.unit_of_work(PHYSICIAN) as ctx:
        (item,) = imaging.retrieve(ctx, Query(level="IMAGE", keys={"SOPInstanceUID": ds.SOPInstanceUID}))
        data = item.read(kura.blobs)
    _, offset = split_dataset(path)
    assert split_part10(data) == (ds.file_meta.TransferSyntaxUID, Path(path).read_bytes()[offset:])


def test_r49_values_wider_than_the_index_are_kept_and_left_out_of_it(scp, captured_logs):
    kura, port = scp
    ds = make_dataset(patient_id="LONG1")
    ds.StudyDescription = "胸部CT " * 60  # LO allows 64; sent anyway by a real modality
    ds.AccessionNumber = "A" * 40
    ds.StudyTime = "10:15:00"  # the ACR-NEMA form
    ds.PatientBirthDate = "unknown"
    assert store(port, [ds]) == [0]
    study, detail = _stored(kura, ds.StudyInstanceUID)
    assert (study.description, study.accession_number, study.study_time, study.birth_date) == ("", "", "101500", "")
    assert detail["unindexed"] == ["PatientBirthDate: not a date (YYYYMMDD)",
                                   "AccessionNumber: longer than the index's 16 characters",
                                   "StudyDescription: longer than the index's 200 characters"]
    assert detail["normalised"] == ["StudyTime: HH:MM:SS read as HHMMSS"]
    (warned,) = [line for line in captured_logs.lines() if "indexed without" in line["message"]]
    assert len(warned["unindexed"]) == 3 and "胸部" not in captured_logs.text  # never the values


def test_failure_statuses_carry_an_error_comment(scp):
    kura, port = scp
    ds = make_dataset()
    ds.SeriesInstanceUID = "1.2.03.4"  # a leading zero: not a UID (PS3.5 9.1)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    answer = assoc.send_c_store(ds)
    assoc.release()
    assert answer.Status == 0xA900
    assert answer.ErrorComment == "series_uid missing or not a valid UID: '1.2.03.4'"
    # a store-only peer asking to query: 0x0124 with the reason
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    (status, _), = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    assoc.release()
    assert status.Status == 0x0124 and "no query right" in status.ErrorComment
