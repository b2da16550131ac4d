"""Backups: consistent, encrypted, incremental, verified, restorable (R54, R55, R58, R59, R62).

Everything runs on the engine of this test run (SQLite, or PostgreSQL with
$KURA_TEST_DATABASE_URL); restores go into SQLite inside the new home, so a PostgreSQL run
also proves a restore across engines.
"""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import func, select

from kura.app import build, create_home
from kura.config import load_settings
from kura.errors import Denied, IntegrityFailure, Invalid
from kura.identity.models import User
from kura.imaging.models import ImagingInstance
from kura.ledger import service as ledger
from kura.ledger.models import LedgerEntry, LedgerHead
from kura.ledger.tags import LedgerTag
from kura.preservation import backup, generations, restore
from kura.preservation.deep import deep_check
from kura.records.models import Record, RecordVersion, SearchString

from tests.factories import ADMIN
from tests.support.homes import FAMILY, GIVEN, KANA, MRN, add_image
from tests.support.imaging import NURSE_V


def _restore(kura, dest, into, **kw):
    r = restore.restore_files(dest, into, master_key=kura.master_key, public_key=kura.signer.public_key, **kw)
    new = build(load_settings(into, env="development"))
    restore.finish(new, ADMIN, r, source=dest)
    return new, r


def _facts(app):
    with app.sessions() as s:
        return {
            "users": sorted(s.scalars(select(User.username))),
            "versions": sorted((v.record_pk, v.number, v.sha256) for v in s.scalars(select(RecordVersion))),
            "instances": sorted((i.sop_uid, i.version, i.sha256) for i in s.scalars(select(ImagingInstance))),
            "records": s.scalar(select(func.count()).select_from(Record)),
        }


def _tree_bytes(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                yield os.path.join(dirpath, f), fh.read()


def test_r58_restore_gives_the_same_users_records_images_versions_and_ledger(kura, populated, dest, tmp_path):
    before = _facts(kura)
    result = backup.create(kura, ADMIN, dest)
    assert result.blobs_new >= 2  # the attachment and the image
    with kura.sessions() as s:
        head = s.get(LedgerHead, 1)
        backed_up_size = result.ledger_size
        backed_up_entries = list(s.execute(select(LedgerEntry.seq, LedgerEntry.chain_hash)
                                           .where(LedgerEntry.seq <= backed_up_size).order_by(LedgerEntry.seq)))
    assert head.size >= backed_up_size
    new, r = _restore(kura, dest, tmp_path / "restored")
    try:
        assert _facts(new) == before
        with new.sessions() as s:
            entries = list(s.execute(select(LedgerEntry.seq, LedgerEntry.chain_hash).order_by(LedgerEntry.seq)))
            # the same ledger, then the restore's own entry after it
            assert entries[:backed_up_size] == backed_up_entries
            assert s.scalar(select(LedgerEntry.tag).order_by(LedgerEntry.seq.desc()).limit(1)) \
                == str(LedgerTag.OpsBackupRestored)
            # the search index was rebuilt from the content
            assert s.scalar(select(func.count()).select_from(SearchString)) > 0
            assert ledger.verify(s, signer=new.signer).ok
        with new.unit_of_work(ADMIN, "HOPERAT") as ctx:
            assert deep_check(ctx) == []
        assert sorted(new.blobs.names()) == sorted(kura.blobs.names())
    finally:
        new.dispose()


def test_r58_backup_holds_no_patient_name_kana_or_id_in_plain_bytes(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    needles = [FAMILY.encode(), GIVEN.encode(), KANA[0].encode(), KANA[1].encode(), MRN.encode(),
               FAMILY.encode("utf-16-le"), KANA[0].encode("shift_jis")]
    files = dict(_tree_bytes(dest))
    assert any(name.endswith("db.sealed") for name in files)
    for name, data in files.items():
        for needle in needles:
            assert needle not in data, f"{needle!r} in {name}"


def test_r58_every_backup_after_the_first_copies_only_new_blobs(kura, populated, dest):
    first = backup.create(kura, ADMIN, dest)
    second = backup.create(kura, ADMIN, dest)
    assert (second.blobs_new, second.bytes_new) == (0, 0)
    add_image(kura)
    third = backup.create(kura, ADMIN, dest)
    assert third.blobs_new == 1
    assert first.generation < second.generation < third.generation
    assert len(generations.list_generations(dest)) == 3
    assert generations.verify(None, dest, public_key=kura.signer.public_key).ok


def test_r55_generation_files_are_read_only(kura, populated, dest):
    result = backup.create(kura, ADMIN, dest)
    gen = dest / "generations" / result.generation
    for path in [*gen.iterdir(), *(dest / "blobs").glob("??/??/*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path
    assert stat.S_IMODE(gen.stat().st_mode) & 0o222 == 0


def test_r62_verify_names_each_damaged_and_missing_file(kura, populated, dest):
    result = backup.create(kura, ADMIN, dest)
    gen = dest / "generations" / result.generation
    blob = sorted((dest / "blobs").glob("??/??/*"))[0]
    os.chmod(blob, 0o600)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    os.chmod(gen, 0o700)
    (gen / "home.sealed").unlink()
    (dest / "vault.sealed").unlink()
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = generations.verify(ctx, dest, public_key=kura.signer.public_key, master_key=kura.master_key)
    assert not report.ok
    assert f"generations/{result.generation}/home.sealed: missing" in report.problems
    assert any(p.startswith("vault.sealed: missing") for p in report.problems)
    assert any(blob.name in p and "differs" in p for p in report.problems)
    with kura.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsBackupVerified))).one()
    assert entry.outcome == 8 and entry.alert


def test_r62_verify_refuses_a_manifest_signed_by_another_home(kura, populated, dest, tmp_path):
    backup.create(kura, ADMIN, dest)
    other = tmp_path / "other"
    create_home(other)
    app = build(load_settings(other, env="development"))
    try:
        report = generations.verify(None, dest, public_key=app.signer.public_key)
        assert not report.ok and "bad signature" in report.problems[0]
        with pytest.raises(IntegrityFailure):
            restore.restore_files(dest, tmp_path / "x", master_key=app.master_key, public_key=app.signer.public_key)
        with pytest.raises(Invalid, match="another home"):
            backup.create(app, ADMIN, dest)
    finally:
        app.dispose()


def test_r58_a_killed_backup_never_looks_complete(kura, populated, dest):
    result = backup.create(kura, ADMIN, dest)
    # what a run killed before its manifest leaves behind
    partial = dest / "generations" / ".partial-20991231T000000Z"
    partial.mkdir()
    (partial / "db.sealed").write_bytes(b"KBS1 half")
    assert [g.name for g in generations.list_generations(dest)] == [result.generation]
    assert generations.verify(None, dest, public_key=kura.signer.public_key).ok
    backup.create(kura, ADMIN, dest)
    assert not partial.exists()


def test_r58_restore_refuses_a_folder_that_is_not_empty(kura, populated, dest, tmp_path):
    backup.create(kura, ADMIN, dest)
    into = tmp_path / "busy"
    into.mkdir()
    (into / "something").write_text("x")
    with pytest.raises(Invalid, match="not empty"):
        restore.restore_files(dest, into, master_key=kura.master_key, public_key=kura.signer.public_key)
    assert (into / "something").read_text() == "x"


def test_r58_backup_needs_the_operations_role_and_the_refusal_is_ledgered(kura, populated, dest):
    with pytest.raises(Denied):
        backup.create(kura, NURSE_V, dest)
    assert not dest.exists()
    with kura.sessions() as s:
        denied = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.AccessRequestDenied))).all()
    assert any("ops:backup:create" in e.detail for e in denied)


def test_r58_a_failed_backup_is_an_alert_and_leaves_no_generation(kura, populated, dest):
    dest.mkdir()
    (dest / "blobs").write_text("a file where the blob folder should be")  # not a kura destination
    with pytest.raises(Invalid):
        backup.create(kura, ADMIN, dest)
    with kura.sessions() as s:
        failed = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsRunFailed))).one()
    assert failed.alert and "backup" in failed.reason


def test_r54_prune_keeps_daily_weekly_monthly_and_the_blobs_they_name(kura, populated, dest, clock):
    names = []
    for day in range(40):
        if day == 20:
            add_image(kura, seed=5)
        names.append(backup.create(kura, ADMIN, dest).generation)
        clock.advance(days=1)
    keep = generations.keep_set(names, daily=7, weekly=4, monthly=12)
    assert set(names[-7:]) <= keep and len(keep) < len(names)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        gone, _ = generations.prune(ctx, dest, daily=7, weekly=4, monthly=12)
    assert set(gone) == set(names) - keep
    assert {g.name for g in generations.list_generations(dest)} == keep
    assert generations.verify(None, dest, public_key=kura.signer.public_key).ok
    # the oldest kept generation still restores (its blobs stayed)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        gone, blobs = generations.prune(ctx, dest, daily=1, weekly=0, monthly=0)
    assert len(generations.list_generations(dest)) == 1 and blobs == 0


def test_r54_keep_set_by_calendar():
    gens = ["20260101T010000Z", "20260101T020000Z", "20260102T010000Z", "20260115T010000Z",
            "20260201T010000Z", "20260301T010000Z"]
    assert generations.keep_set(gens, daily=2, weekly=0, monthly=0) == {"20260301T010000Z", "20260201T010000Z"}
    assert generations.keep_set(gens, daily=0, weekly=0, monthly=3) == {
        "20260301T010000Z", "20260201T010000Z", "20260115T010000Z"}
    assert generations.keep_set(gens, daily=0, weekly=0, monthly=0) == {"20260301T010000Z"}


def test_r58_a_key_shredded_after_a_backup_stays_shredded_in_a_restore(kura, populated, dest, tmp_path):
    """THE KEY DESIGN: generations never hold data keys; the vault beside them is rewritten
    after a shred, so restoring an older generation does not bring the patient back."""
    from kura.errors import Shredded
    from kura.keys import service as keys
    from kura.keys.models import DataKey
    from kura.preservation import vault
    from kura.records import attachments
    from kura.records.models import Attachment

    backup.create(kura, ADMIN, dest)
    assert (dest / "vault.sealed").exists()
    owner = keys.owner_of_patient(populated.patient_id)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        shredded = keys.shred(ctx, owner, reason="保存期間満了による廃棄")
    assert [(p, why) for p, why in vault.refresh_all(kura)] == [(dest, "ok")]
    new, _ = _restore(kura, dest, tmp_path / "restored")
    try:
        with new.sessions() as s:
            rows = s.scalars(select(DataKey).where(DataKey.owner == owner)).all()
            assert {r.id for r in rows} == set(shredded) and all(r.wrapped is None for r in rows)
        with new.unit_of_work(ADMIN, "HOPERAT") as ctx:
            att = ctx.session.scalars(select(Attachment)).first()
            with pytest.raises(Shredded):
                attachments.read(ctx, att)
    finally:
        new.dispose()


def test_r64_restore_into_a_postgresql_database(kura, populated, dest, tmp_path):
    """A generation restores into a fresh PostgreSQL database and the home goes on working;
    on the PostgreSQL run every other restore here goes into SQLite, i.e. across engines."""
    from tests.conftest import PG_URL, _pg_admin_url, _with_db
    if not PG_URL:
        pytest.skip("needs $KURA_TEST_DATABASE_URL (the PostgreSQL run)")
    import uuid

    from sqlalchemy import create_engine, text
    before = _facts(kura)
    backup.create(kura, ADMIN, dest)
    name = f"kura_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = _with_db(_pg_admin_url(), name)
        new, _ = _restore(kura, dest, tmp_path / "restored", database_url=url)
        try:
            assert new.engine.dialect.name == "postgresql"
            assert _facts(new) == before
            with new.unit_of_work(ADMIN, "HOPERAT") as ctx:
                assert deep_check(ctx) == []
            # the restored home keeps writing: sequences moved past the restored ids
            backup.create(new, ADMIN, tmp_path / "dest2")
        finally:
            new.dispose()
        with pytest.raises(Invalid, match="not empty"):
            restore.restore_files(dest, tmp_path / "again", master_key=kura.master_key,
                                  public_key=kura.signer.public_key, database_url=url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_r58_a_blob_still_in_a_pack_segment_is_backed_up(kura, populated, dest):
    """An instance acknowledged by the ingest lives in a pack segment until compaction; a
    backup taken before then must still carry it (kura.blobs.pack)."""
    import hashlib

    if not hasattr(kura.blobs, "stage"):
        pytest.skip("the home's blob store has no pack segments")
    data = b"sealed bytes of a just-acknowledged instance " * 40
    name = hashlib.sha256(data).hexdigest()
    kura.blobs.stage(name, data)
    kura.blobs.sync()
    assert not os.path.exists(kura.blobs.local_path(name))  # not compacted yet
    backup.create(kura, ADMIN, dest)
    assert generations.verify(None, dest, public_key=kura.signer.public_key).ok
    assert any(p.name == name for p in dest.rglob(name))
