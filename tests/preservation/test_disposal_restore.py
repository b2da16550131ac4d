"""A backup restored with the recovery kit cannot show a disposed patient's records, images
or attachments (CONTRACT.md "Retention, hold and disposal"; THE KEY DESIGN): the generation was
written before the disposal and is never rewritten, but the key vault beside it is, so the
restored home holds the patient's keys only as destroyed tombstones."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.app import build
from kura.config import load_settings
from kura.disposal import service as disposals
from kura.errors import Shredded
from kura.imaging import service as imaging
from kura.imaging.query import Query
from kura.keys import service as keys
from kura.keys.models import DataKey
from kura.preservation import backup, restore
from kura.records import service as records
from tests.factories import ADMIN
from tests.unit.disposal.helpers import make_patient
from tests.support.imaging import PHYSICIAN, TECH, make_dataset, part10, prepare
from tests.support.records import document

OPS = Subject(id="ops-1", name="unyou", roles=frozenset({Role.operations}))
ADM = Subject(id="adm-1", name="kanri", roles=frozenset({Role.admin}))


def test_r79_a_restored_backup_cannot_show_a_disposed_patients_records_images_or_attachments(kura, tmp_path):
    prepare(kura)
    pid = make_patient(kura, last_visit="2015-03-10", mrn="P0300")
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        doc = records.create(ctx, document(pid, base64.b64encode(b"%PDF-1.4 old letter").decode(),
                                           when="2015-03-10T10:00:00+09:00"))
    att = doc.resource()["content"][0]["attachment"]["url"].removeprefix("Binary/")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        study = imaging.store_instance(ctx, part10(make_dataset(patient_id="P0300", study_date="20150310",
                                                                birth_date="19700102"))).study_uid
    dest = tmp_path / "dest"
    backup.create(kura, ADMIN, dest)  # a generation that still holds the patient

    with kura.unit_of_work(OPS, "HSYSADMIN") as ctx:
        did = disposals.request(ctx, patient_id=pid, reason="保存期間満了").id
    with kura.unit_of_work(ADM, "HSYSADMIN") as ctx:
        disposals.approve(ctx, did)
    assert (str(dest), "ok") in disposals.after_approval(kura, ADM, did)

    r = restore.restore_files(dest, tmp_path / "restored", master_key=kura.master_key,
                              public_key=kura.signer.public_key)  # the recovery kit's key
    new = build(load_settings(tmp_path / "restored", env="development"))
    try:
        restore.finish(new, ADMIN, r, source=dest)
        with new.sessions() as s:
            rows = list(s.scalars(select(DataKey).where(DataKey.owner == keys.owner_of_patient(pid))))
        assert rows and all(row.wrapped is None for row in rows)
        with pytest.raises(Shredded), new.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            records.read(ctx, "Patient", pid)  # record versions are sealed under the patient's key
        with pytest.raises(Shredded), new.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            records.read(ctx, "DocumentReference", doc.id)
        with pytest.raises(Shredded), new.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            records.read_attachment(ctx, att)
        with pytest.raises(Shredded), new.unit_of_work(PHYSICIAN, "TREAT") as ctx:
            for item in imaging.retrieve(ctx, Query(level="STUDY", keys={"StudyInstanceUID": study})):
                item.read(new.blobs)
    finally:
        new.dispose()
