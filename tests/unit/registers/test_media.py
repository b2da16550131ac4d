"""Patient media (R61, R69, R73): a PS3.10 file-set with a DICOMDIR that pydicom reads back,
registered with the hash of every file; refused without purpose, recipient or the right."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from pydicom import dcmread

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Denied, Invalid
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.registers import media
from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.web.ui import entries

TECH2 = Subject(id="tech2-id", name="tech2", roles=frozenset({Role.technologist}), clearance="N")


@pytest.fixture
def archive(kura):
    prepare(kura)
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        for n in (1, 2):
            imaging.store_instance(ctx, part10(make_dataset(patient_id="P0100", study_uid="1.2.392.9.1",
                                                            series_uid="1.2.392.9.1.1", sop_uid=f"1.2.392.9.1.1.{n}",
                                                            instance_number=n, seed=n)))
    return kura


def test_r61_r73_media_holds_a_dicomdir_its_register_hashes_every_file_and_checks_it_in(archive):
    with archive.unit_of_work(TECH2, "TREAT") as ctx:
        m, data = media.make_medium(ctx, dicom_patient_id="P0100", purpose="referral", recipient="○○大学病院 放射線科")
        medium_id = m.medium_id
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert "DICOMDIR" in zf.namelist()
    dicomdir = dcmread(io.BytesIO(zf.read("DICOMDIR")))
    kinds = [r.DirectoryRecordType for r in dicomdir.DirectoryRecordSequence]
    assert kinds.count("IMAGE") == 2 and "STUDY" in kinds and "PATIENT" in kinds
    with archive.unit_of_work(TECH2, "TREAT") as ctx:
        [entry] = [e for e in media.list_media(ctx) if e.medium_id == medium_id]
        contents = json.loads(entry.contents)
        assert contents == {n: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}
        assert entry.image_sha256 == hashlib.sha256(data).hexdigest()
        media.mark(ctx, medium_id, returned=True, note="返却を確認")
    exported = entries(archive, LedgerTag.RegisterMediaRecorded)[0]
    assert json.loads(exported.detail)["destination"] == "○○大学病院 放射線科"
    assert json.loads(exported.detail)["studies"] == ["1.2.392.9.1"]


def test_r69_media_without_purpose_recipient_or_right_is_refused(archive):
    for purpose, recipient in (("", "x"), ("referral", "")):
        with pytest.raises(Invalid), archive.unit_of_work(TECH2, "TREAT") as ctx:
            media.make_medium(ctx, dicom_patient_id="P0100", purpose=purpose, recipient=recipient)
    nurse = Subject(id="n1", name="nurse1", roles=frozenset({Role.nurse}), clearance="N")
    with pytest.raises(Denied), archive.unit_of_work(nurse, "TREAT") as ctx:
        media.make_medium(ctx, dicom_patient_id="P0100", purpose="patient", recipient="本人")
    assert not entries(archive, LedgerTag.RegisterMediaRecorded)
