"""The demo's images: synthetic, deterministic DICOM (pydicom + numpy, nothing downloaded),
Japanese names in three groups, stored through the imaging service as the demo technologist."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pydicom
from PIL import Image
from sqlalchemy import select

from kura.classes import service as classes
from kura.demo import images as demo
from kura.imaging import service as imaging
from kura.imaging.render import render
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user
from tests.support.imaging import PHYSICIAN, TECH

PLAN = [(0, "ct_chest", "20260310", "confirmed"), (3, "mr_head", "20260201", "draft"),
        (6, "cr_chest", "20260420", "returned"), (4, "ct_head", "20260418", "draft")]


def test_the_demo_module_declares_what_kura_demo_reads():
    assert isinstance(demo.DESCRIPTION, str) and demo.DESCRIPTION
    assert demo.STEPS == sum(demo.KINDS[k][4] for _, k, _, _ in demo.PLAN) + len(demo.PLAN)
    assert len({demo.PATIENTS[p].patient_id for p, _, _, _ in demo.PLAN}) == 15
    assert {o for _, _, _, o in demo.PLAN} == {"confirmed", "draft", "returned"}


def test_studies_are_deterministic_and_well_formed():
    first = [[hashlib.sha256(b).hexdigest() for b in inst] for *_, inst in demo.studies(PLAN[:1], max_slices=3)]
    again = [[hashlib.sha256(b).hexdigest() for b in inst] for *_, inst in demo.studies(PLAN[:1], max_slices=3)]
    assert first == again and len(first[0]) == 3
    n, patient, study_uid, outcome, instances = next(demo.studies(PLAN[:1]))
    assert len(instances) == 40 and study_uid == demo.study_uid(0)
    ds = pydicom.dcmread(io.BytesIO(instances[20]))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Yamada^Taro=山田^太郎=やまだ^たろう"
    assert ds.PatientName.ideographic == "山田^太郎" and ds.PatientName.phonetic == "やまだ^たろう"
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.Modality) == (256, 256, 16, "CT")
    assert ds.StudyInstanceUID == study_uid and ds.RescaleIntercept == -1024


def _png(data, center, width):
    return np.asarray(Image.open(io.BytesIO(render(data, center=center, width=width))), dtype=float)


def test_the_ct_phantom_looks_different_in_each_window():
    *_, instances = next(demo.studies(PLAN[:1]))
    middle = instances[20]
    lung, mediastinum, bone = _png(middle, -600, 1500), _png(middle, 50, 350), _png(middle, 300, 2000)
    # The lungs are grey (vessels visible) in the lung window and black in the mediastinal one.
    assert 40 < np.median(lung[96:160, 48:96]) < 200 and np.median(mediastinum[96:160, 48:96]) < 10
    for a, b in ((lung, mediastinum), (mediastinum, bone), (lung, bone)):
        assert np.abs(a - b).mean() > 8
    # Slices differ along the body (the heart comes and goes).
    assert np.abs(_png(instances[2], 50, 350) - _png(instances[30], 50, 350)).mean() > 5


def test_seed_stores_as_the_technologist_then_confirms_and_returns(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    tech = make_user(kura, "tech", ("technologist",))
    calls = []
    counts = demo.seed(kura, progress=lambda n=1: calls.append(n), plan=PLAN, max_slices=4)
    assert counts == {"studies": 4, "instances": 4 + 4 + 1 + 4, "confirmed": 1, "returned": 1, "draft": 2,
                      "labelled": 0}
    assert sum(calls) == counts["instances"] + len(PLAN)
    with kura.sessions() as s:
        stored = list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingInstanceStored))))
    assert len(stored) == 13 and {e.actor_id for e in stored} == {tech.id}
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        confirmed = imaging.get_study(ctx, demo.study_uid(0))
        returned = imaging.get_study(ctx, demo.study_uid(2))
        assert (confirmed.status, confirmed.status_by) == ("confirmed", "tech")
        assert returned.status == "returned" and returned.status_reason == demo.RETURN_REASON
        assert confirmed.name_ideographic == "山田^太郎" and confirmed.name_phonetic == "やまだ^たろう"
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        assert {s.study_uid for s in imaging.worklist(ctx)} == {demo.study_uid(1), demo.study_uid(3)}


def test_with_the_records_store_wired_the_demo_images_belong_to_registered_patients(kura):
    """When kura.app wires the records store, the demo's studies carry the records demo's
    identifiers and registered names, so they link to the patient and are not flagged."""
    from kura.access.policy import Subject
    from kura.access.roles import Role
    from kura.records import service as records
    from tests.support.records import patient

    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    make_user(kura, "tech", ("technologist",))
    clerk = Subject(id=None, name="clerk1", roles=frozenset({Role.clerk}))
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        records.create(ctx, patient(family="長谷川", given="翔太", kana=("ハセガワ", "ショウタ"), mrn="10000001",
                                    birth="1995-03-26", gender="male"))
    demo.seed(kura, plan=[(0, "cr_chest", "20260415", "confirmed"), (1, "cr_chest", "20260415", "draft")])
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        linked = imaging.get_study(ctx, demo.study_uid(0))
        assert (linked.patient_id, linked.flagged) == ("10000001", False)
        assert (linked.name_ideographic, linked.name_phonetic) == ("長谷川^翔太", "ハセガワ^ショウタ")
        assert (linked.birth_date, linked.sex) == ("19950326", "M")
        assert records.read(ctx, "ImagingStudy", demo.study_uid(0)).status == "confirmed"
        own = imaging.get_study(ctx, demo.study_uid(1))  # 10000002 is not registered: the demo's own patient
        assert (own.patient_id, own.name_ideographic, own.flagged) == ("00002", "佐藤^花子", False)


def test_r14_demo_doctor_restricts_a_study_with_a_reason(kura):
    from kura.access.policy import Subject
    from kura.access.roles import Role
    from kura.imaging.query import Query

    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    counts = demo.seed(kura, plan=[(0, "cr_chest", "20260415", "confirmed"), (1, "cr_chest", "20260415", "draft")],
                       labelled={0: ("R", "ご本人の希望")})
    assert counts["labelled"] == 1
    nurse = Subject(id=None, name="nurse1", roles=frozenset({Role.nurse}), clearance="N")
    with kura.unit_of_work(nurse, "TREAT") as ctx:
        assert [r[0].study_uid for r in imaging.find(ctx, Query(level="STUDY", keys={}))] == [demo.study_uid(1)]
    with kura.sessions() as s:
        (entry,) = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingStudyLabelled)))
    assert entry.actor_name == demo.PHYSICIAN and entry.reason == "ご本人の希望"
