"""One key service for every sealed thing of a patient: sealing, opening, linking the images
that came before registration, crypto-shredding, and the vault that backups carry (R79, R71)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.app import build
from kura.blobs.crypto import key_id_of, seal, wrap_key
from kura.errors import IntegrityFailure, Shredded
from kura.imaging import service as imaging
from kura.imaging.query import Query
from kura.keys import service as keys
from kura.keys import vault
from kura.keys.models import DataKey
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.records import service as records

from tests.factories import ADMIN
from tests.support.imaging import PHYSICIAN, TECH, make_dataset, part10, prepare
from tests.support.records import patient

CLERK = Subject(id=None, name="clerk1", roles=frozenset({Role.clerk}))

def test_r71_sealed_envelope_names_its_key_and_binds_its_aad(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        a = keys.seal(ctx, keys.owner_of_patient("p1"), b"secret", b"aad")
        b = keys.seal(ctx, keys.owner_of_patient("p2"), b"secret", b"aad")
        assert b"secret" not in a
        assert key_id_of(a) != key_id_of(b)  # one key per patient
        assert key_id_of(a) == key_id_of(keys.seal(ctx, keys.owner_of_patient("p1"), b"x"))
        assert keys.open(ctx, a, b"aad") == b"secret"
        with pytest.raises(IntegrityFailure):
            keys.open(ctx, a, b"other aad")
        tampered = a[:-1] + bytes([a[-1] ^ 1])
        with pytest.raises(IntegrityFailure):
            keys.open(ctx, tampered, b"aad")
        forged = a[:2] + key_id_of(b) + a[18:]  # another patient's key id in the header
        with pytest.raises(IntegrityFailure):
            keys.open(ctx, forged, b"aad")


def test_r79_shred_makes_every_envelope_of_the_owner_unreadable(kura):
    owner = keys.owner_of_patient("p1")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        sealed = keys.seal(ctx, owner, b"record")
        kept = keys.seal(ctx, keys.owner_of_patient("p2"), b"other")
        assert keys.open(ctx, sealed) == b"record"  # cached now
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        ids = keys.shred(ctx, owner, reason="retention ended")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        with pytest.raises(Shredded):
            keys.open(ctx, sealed)
        with pytest.raises(Shredded):
            keys.seal(ctx, owner, b"new")  # no new data under a disposed patient's key
        assert keys.open(ctx, kept) == b"other"
        row = ctx.session.get(DataKey, ids[0])
        assert row.wrapped is None and row.shredded_at is not None
        entry = ctx.session.scalars(select(LedgerEntry).where(
            LedgerEntry.tag == str(LedgerTag.KeysKeyShredded))).one()
        assert entry.reason == "retention ended"
    # a fresh process (empty key ring) cannot open it either
    other = build(kura.settings, clock=kura.clock, migrate=False)
    try:
        with other.unit_of_work(ADMIN, "HOPERAT") as ctx:
            with pytest.raises(Shredded):
                keys.open(ctx, sealed)
    finally:
        other.dispose()


def test_r79_images_before_registration_join_the_patients_key(kura):
    prepare(kura)  # kura.app.build wires the records store (ctx.records_port)
    early = make_dataset(patient_id="P200", name="Yamada^Tarou=山田^太郎=ヤマダ^タロウ")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(early))
        assert [k.owner for k in keys.keys_of(ctx, keys.owner_of_dicom("P200"))] == ["dicom:P200"]
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        fhir_id = records.create(ctx, patient(mrn="P200", birth="1970-01-01")).id
    later = make_dataset(patient_id="P200", name="Yamada^Tarou=山田^太郎=ヤマダ^タロウ", birth_date="19700101")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(later))
        owned = keys.keys_of(ctx, keys.owner_of_patient(fhir_id))
        assert keys.keys_of(ctx, keys.owner_of_dicom("P200")) == []
        assert {k.origin for k in owned} >= {"dicom:P200"}
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        items = imaging.retrieve(ctx, Query(level="STUDY", keys={"StudyInstanceUID": early.StudyInstanceUID}))
    assert items and items[0].read(kura.blobs) == part10(early)  # re-wrapped, not re-encrypted
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        keys.shred(ctx, keys.owner_of_patient(fhir_id), reason="disposal")
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        with pytest.raises(Shredded):
            imaging.retrieve(ctx, Query(level="STUDY", keys={"StudyInstanceUID": early.StudyInstanceUID}))


def test_r58_vault_round_trip_carries_tombstones_and_refuses_another_homes_key(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        sealed = keys.seal(ctx, keys.owner_of_patient("p1"), b"kept")
        keys.seal(ctx, keys.owner_of_patient("p2"), b"gone")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        keys.shred(ctx, keys.owner_of_patient("p2"), reason="disposal")
    with kura.sessions() as session:
        data = vault.export_vault(session, kura.keyring)
    rows = vault.read_vault(data, kura.master_key)
    assert {r["owner"]: r["wrapped"] is None for r in rows} == {"patient:p1": False, "patient:p2": True}
    with pytest.raises(IntegrityFailure):
        vault.read_vault(data, b"\x01" * 32)
    with pytest.raises(IntegrityFailure):
        vault.read_vault(data[:-1] + bytes([data[-1] ^ 1]), kura.master_key)
    with kura.sessions() as session:  # install: the table is the vault's, exactly
        vault.install_vault(session, rows)
        session.commit()
    kura.keyring.purge()
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert keys.open(ctx, sealed) == b"kept"


def test_r79_legacy_k1_envelopes_open_with_their_owners_key(kura):
    """Blobs sealed before the key service (K1, no key id) still open through their owner."""
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        key_id, key = keys.primary_key(ctx, keys.owner_of_patient("p9"))
        old = seal(key, b"old attachment", b"att:p9")
        assert keys.open(ctx, old, b"att:p9", owner=keys.owner_of_patient("p9")) == b"old attachment"
        with pytest.raises(IntegrityFailure):
            keys.open(ctx, old, b"att:p9", owner=keys.owner_of_patient("other"))


def test_r79_migration_0004_rewraps_the_old_keys(tmp_path, clock):
    """The records' patient_key rows and the archive's imaging_patient keys move into
    data_key, re-wrapped; what was sealed under them still opens, and nothing else holds them."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from kura.app import create_home
    from kura.config import load_settings
    from kura.migrations import alembic_config

    home = tmp_path / "home"
    create_home(home)
    master = (home / "keys" / "master.key").read_bytes()
    engine = create_engine(f"sqlite:///{home / 'kura.db'}")
    cfg = alembic_config(engine, master)
    command.upgrade(cfg, "0002")
    command.upgrade(cfg, "0003")
    rec_key, img_key = b"\x11" * 32, b"\x22" * 32
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patient_key (patient_id, wrapped, created_at) VALUES (:p, :w, :t)"),
                     {"p": "pat-1", "w": wrap_key(master, rec_key, "pat-1"), "t": now})
        conn.execute(text("INSERT INTO imaging_patient (id, patient_id, fhir_patient_id, name, birth_date, sex,"
                          " wrapped_key, created_at) VALUES ('row-1', 'D1', NULL, '', '', '', :w, :t)"),
                     {"w": wrap_key(master, img_key, "imaging-patient:row-1"), "t": now})
        # a study that references the patient row: a home that holds images (SQLite's foreign
        # keys must not stop the column's removal)
        conn.execute(text("INSERT INTO imaging_study (id, study_uid, patient_ref, patient_id, patient_name,"
                          " name_alphabetic, name_ideographic, name_phonetic, name_search, birth_date, sex,"
                          " study_date, study_time, accession_number, study_id, description,"
                          " referring_physician, modalities, num_series, num_instances, status, status_by, status_reason,"
                          " flagged, flag_reason, class_code, confidentiality, created_at, updated_at)"
                          " VALUES ('s-1', '1.2.3', 'row-1', 'D1', '', '', '', '', '', '', '', '', '', '',"
                          " '', '', '', '', 0, 0, 'draft', '', '', 0, '', 'image', 'N', :t, :t)"), {"t": now})
    engine.dispose()
    app = build(load_settings(home, env="development"), clock=clock)
    try:
        names = inspect(app.engine).get_table_names()
        assert "patient_key" not in names
        assert "wrapped_key" not in {c["name"] for c in inspect(app.engine).get_columns("imaging_patient")}
        with app.unit_of_work(ADMIN, "HOPERAT") as ctx:
            owners = {r.owner for r in ctx.session.scalars(select(DataKey))}
            assert owners == {"patient:pat-1", "dicom:D1"}
            old_att = seal(rec_key, b"letter", b"att:pat-1")
            assert keys.open(ctx, old_att, b"att:pat-1", owner="patient:pat-1") == b"letter"
            old_img = seal(img_key, b"pixels", b"imaging:x")
            assert keys.open(ctx, old_img, b"imaging:x", owner="dicom:D1") == b"pixels"
    finally:
        app.dispose()
