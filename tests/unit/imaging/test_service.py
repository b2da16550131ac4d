"""The image archive's core: store byte for byte, versions never overwrite, 検像, access filtering."""

from __future__ import annotations

import hashlib

import pytest

from kura.errors import Denied, Invalid
from kura.imaging import service as imaging
from kura.imaging.query import Query
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.deep import deep_check

from tests.factories import ADMIN
from tests.support.imaging import (CLERK, KANJI_NAME, NURSE_V, PHYSICIAN, TECH, make_dataset, part10,
                                     prepare)
from sqlalchemy import select


@pytest.fixture
def archive(kura):
    prepare(kura)
    return kura


def store(kura, data, subject=TECH, **kw):
    with kura.unit_of_work(subject, "TREAT", origin="test") as ctx:
        return imaging.store_instance(ctx, data, **kw)


def tags(kura, tag):
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag))))


def test_r41_store_is_byte_for_byte_and_ledgered(archive):
    data = part10(make_dataset())
    result = store(archive, data)
    assert result.stored and result.version == 1 and not result.duplicate
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        items = imaging.retrieve(ctx, Query(level="STUDY", keys={"StudyInstanceUID": result.study_uid}))
    assert [i.read(archive.blobs) for i in items] == [data]
    entry = tags(archive, LedgerTag.ImagingInstanceStored)[-1]
    assert entry.digest == hashlib.sha256(data).hexdigest()
    # sealed at rest: the blob is not the plaintext
    assert archive.blobs.get(result.sha256) != data and data[128:] not in archive.blobs.get(result.sha256)


def test_identical_bytes_are_stored_once(archive):
    data = part10(make_dataset())
    first, again = store(archive, data), store(archive, data)
    assert again.duplicate and again.version == first.version == 1
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert imaging.get_study(ctx, first.study_uid).num_instances == 1


def test_bare_dataset_framing_is_deterministic(archive):
    from tests.support.imaging import dataset_bytes
    ds = make_dataset()
    raw = dataset_bytes(part10(ds))
    kw = dict(transfer_syntax=str(ds.file_meta.TransferSyntaxUID), sop_class_uid=ds.SOPClassUID,
              sop_instance_uid=ds.SOPInstanceUID)
    a, b = store(archive, raw, **kw), store(archive, raw, **kw)
    assert b.duplicate and a.sha256 == b.sha256


def test_r36_new_version_before_confirmation_refused_after(archive):
    ds = make_dataset()
    first = store(archive, part10(ds))
    ds.PixelData = bytes(len(ds.PixelData))
    second = store(archive, part10(ds))
    assert second.stored and second.version == 2
    with archive.unit_of_work(TECH, "TREAT") as ctx:
        study = imaging.confirm(ctx, first.study_uid)
        assert study.status == "confirmed" and study.status_by == "tech1"
    ds.PixelData = b"\x01" * len(ds.PixelData)
    third = store(archive, part10(ds))
    assert third.refused and not third.stored
    refused = tags(archive, LedgerTag.ImagingInstanceRefused)
    assert len(refused) == 1 and refused[0].alert
    # every version is still there; the current one is version 2
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        items = imaging.retrieve(ctx, Query(level="IMAGE", keys={"SOPInstanceUID": ds.SOPInstanceUID}))
    assert [i.sha256 for i in items] == [second.sha256]
    assert archive.blobs.exists(first.sha256)


def test_r30_confirm_needs_technologist_and_return_needs_reason(archive):
    r = store(archive, part10(make_dataset()))
    with pytest.raises(Denied):
        with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            imaging.confirm(ctx, r.study_uid)
    with pytest.raises(Invalid):
        with archive.unit_of_work(TECH, "TREAT") as ctx:
            imaging.return_study(ctx, r.study_uid, reason=" ")
    with archive.unit_of_work(TECH, "TREAT") as ctx:
        assert [s.study_uid for s in imaging.worklist(ctx)] == [r.study_uid]
        assert imaging.return_study(ctx, r.study_uid, reason="体位不良").status == "returned"
        assert imaging.worklist(ctx) == []


def test_japanese_names_found_fuzzily_in_any_script(archive):
    store(archive, part10(make_dataset(charset=["", "ISO 2022 IR 87"], patient_id="J1")))
    store(archive, part10(make_dataset(patient_id="U1", name="Suzuki^Hanako=鈴木^花子=すずき^はなこ")))
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        for q in ("やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "山田", "yamada", "たろう"):
            rows = imaging.find(ctx, Query(level="STUDY", keys={"PatientName": q}, fuzzy=True))
            assert [r[0].patient_id for r in rows] == ["J1"], q
        rows = imaging.find(ctx, Query(level="STUDY", keys={"PatientName": "Yamada*"}))
        assert rows[0][0].patient_name == KANJI_NAME
        rows = imaging.find(ctx, Query(level="STUDY", keys={"PatientName": "*=鈴木*"}))
        assert [r[0].patient_id for r in rows] == ["U1"]


def test_r14_clearance_filters_search_and_denies_read(archive):
    r = store(archive, part10(make_dataset()))
    with archive.unit_of_work(ADMIN, "HOPERAT") as ctx:
        study = imaging.get_study_row(ctx, r.study_uid)
        study.confidentiality = "V"
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert imaging.find(ctx, Query(level="STUDY", keys={})) == []
    with pytest.raises(Denied):
        with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            imaging.get_study(ctx, r.study_uid)
    with archive.unit_of_work(NURSE_V, "TREAT") as ctx:
        assert len(imaging.find(ctx, Query(level="STUDY", keys={}))) == 1
    with pytest.raises(Denied):
        with archive.unit_of_work(CLERK, "TREAT") as ctx:
            imaging.find(ctx, Query(level="STUDY", keys={}))


def test_r39_disagreeing_demographics_are_flagged_not_merged(archive):
    store(archive, part10(make_dataset(patient_id="P9", birth_date="19700101")))
    r = store(archive, part10(make_dataset(patient_id="P9", birth_date="19800101")))
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        study = imaging.get_study(ctx, r.study_uid)
        assert study.flagged and "生年月日" in study.flag_reason
        assert study.birth_date == "19800101"
    assert tags(archive, LedgerTag.ImagingStudyFlagged)


@pytest.mark.parametrize("mangle", ["truncate", "garbage", "bad-uid", "no-study"])
def test_r38_bad_input_is_invalid_and_leaves_nothing(archive, mangle):
    ds = make_dataset()
    if mangle == "bad-uid":
        ds.SOPInstanceUID = "1.2.abc"
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.abc"
    if mangle == "no-study":
        del ds.StudyInstanceUID
    data = part10(ds)
    data = {"truncate": data[:-10], "garbage": b"not dicom" * 50}.get(mangle, data)
    with pytest.raises(Invalid):
        store(archive, data)
    with archive.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert imaging.count_instances(ctx) == 0
    assert list(archive.blobs.names()) == []


def test_r37_deep_check_finds_an_altered_blob(archive, tmp_path):
    r = store(archive, part10(make_dataset()))
    with archive.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert deep_check(ctx) == []
    path = archive.blobs._path(r.sha256)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with archive.unit_of_work(ADMIN, "HOPERAT") as ctx:
        problems = deep_check(ctx)
    assert len(problems) == 1 and r.sop_uid in problems[0]
