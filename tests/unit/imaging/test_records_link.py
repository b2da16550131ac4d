"""The DICOM Patient ID matched to the registered FHIR Patient; the ImagingStudy kept in step;
disagreeing demographics flagged, never merged (issue 4, R41)."""

from __future__ import annotations

import json

import pytest

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.imaging import service as imaging
from kura.records import service as records

from tests.support.imaging import PHYSICIAN, TECH, make_dataset, part10, prepare
from tests.support.records import patient

CLERK = Subject(id=None, name="clerk1", roles=frozenset({Role.clerk}))


@pytest.fixture
def linked(kura):
    """kura.app.build wires the records store into every unit of work (ctx.records_port)."""
    prepare(kura)
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        fhir_id = records.create(ctx, patient(mrn="P100", birth="1970-01-01")).id
    return kura, fhir_id


def store(kura, ds):
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        return imaging.store_instance(ctx, part10(ds))


def test_imaging_study_kept_in_step_and_confirmed(linked):
    kura, fhir_id = linked
    ds = make_dataset(patient_id="P100", name="Yamada^Tarou=山田^太郎=ヤマダ^タロウ")
    store(kura, ds)
    store(kura, make_dataset(patient_id="P100", study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID,
                             name="Yamada^Tarou=山田^太郎=ヤマダ^タロウ", instance_number=2))
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        v = records.read(ctx, "ImagingStudy", ds.StudyInstanceUID)
        assert v.number == 1 and v.status == "draft"  # a second instance is no new FHIR version
        body = json.loads(v.content)
        assert body["subject"]["reference"] == f"Patient/{fhir_id}"
        assert body["series"][0]["uid"] == ds.SeriesInstanceUID
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.confirm(ctx, ds.StudyInstanceUID)
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert records.read(ctx, "ImagingStudy", ds.StudyInstanceUID).status == "confirmed"


def test_r39_disagreeing_demographics_flagged_and_not_linked(linked):
    kura, _ = linked
    ds = make_dataset(patient_id="P100", name="Suzuki^Hanako=鈴木^花子", birth_date="19900101")
    store(kura, ds)
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        study = imaging.get_study(ctx, ds.StudyInstanceUID)
        assert study.flagged and "生年月日" in study.flag_reason and "氏名" in study.flag_reason
        with pytest.raises(Exception):
            records.read(ctx, "ImagingStudy", ds.StudyInstanceUID)


def test_r14_relabelling_a_confirmed_study_versions_its_fhir_mirror_and_stays_confirmed(linked):
    from kura.imaging import relabel

    kura, fhir_id = linked
    ds = make_dataset(patient_id="P100", name="Yamada^Tarou=山田^太郎=ヤマダ^タロウ")
    store(kura, ds)
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.confirm(ctx, ds.StudyInstanceUID)
    doctor_r = Subject(id=None, name="dr-r", roles=frozenset({Role.physician}), clearance="R")
    with kura.unit_of_work(doctor_r, "TREAT") as ctx:
        before = records.read(ctx, "ImagingStudy", ds.StudyInstanceUID)
        relabel.set_study_label(ctx, ds.StudyInstanceUID, label="R", reason="本人の希望")
    with kura.unit_of_work(doctor_r, "TREAT") as ctx:
        after = records.read(ctx, "ImagingStudy", ds.StudyInstanceUID)
        assert after.number == before.number + 1 and after.status == "confirmed"
        assert after.confirmed_by_name == before.confirmed_by_name == TECH.name
        assert after.reason == "本人の希望" and after.confidentiality == "R"
        assert json.loads(after.content)["meta"]["security"][0]["code"] == "R"
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:  # clearance N
        with pytest.raises(Exception):
            records.read(ctx, "ImagingStudy", ds.StudyInstanceUID)
