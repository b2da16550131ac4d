"""Small synthetic DICOM instances for the imaging tests (generated, never downloaded)."""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.classes import service as classes

from tests.factories import ADMIN

__all__ = ["make_dataset", "part10", "dataset_bytes", "prepare", "TECH", "PHYSICIAN", "NURSE_V",
           "CLERK", "KANJI_NAME"]

TECH = Subject(id=None, name="tech1", roles=frozenset({Role.technologist}), clearance="N")
PHYSICIAN = Subject(id=None, name="dr1", roles=frozenset({Role.physician}), clearance="N")
NURSE_V = Subject(id=None, name="nurse-v", roles=frozenset({Role.nurse}), clearance="V")
CLERK = Subject(id=None, name="clerk1", roles=frozenset({Role.clerk}), clearance="N")
KANJI_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def prepare(kura) -> None:
    """Seed the classes (as `kura init` does); DICOM workstations may use the 画像 class."""
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
        mc = classes.get_class(ctx, "gazo")
        classes.define(ctx, code="gazo", name_ja=mc.name_ja, name_en=mc.name_en,
                       confidentiality=mc.confidentiality,
                       scope_roles=sorted(mc.scope | {"workstation"}), retention_years=mc.retention_years,
                       default_for=mc.default_for, description=mc.description)


def make_dataset(*, patient_id="P0001", name=KANJI_NAME, charset="ISO_IR 192", study_uid=None,
                 series_uid=None, sop_uid=None, modality="CT", study_date="20260401",
                 instance_number=1, seed=0, birth_date="19700101", sex="M", accession="A1") -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = accession
    ds.StudyID = "1"
    ds.StudyDescription = "CT chest"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    rng = np.random.default_rng(seed)
    ds.PixelData = rng.integers(0, 4096, (64, 64), dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def part10(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dataset_bytes(data: bytes) -> bytes:
    """The data set of a Part 10 file (what travels over DIMSE): after the meta group."""
    group_length = int.from_bytes(data[140:144], "little")
    return data[144 + group_length:]
