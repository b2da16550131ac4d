"""Migration 0006 seals the plaintext versions a database already holds and rebuilds the search
indexes as blind tokens (issue 7 §2), on whichever engine this run uses."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text

from kura.app import build
from kura.config import load_settings
from kura.db.engine import make_engine
from kura.migrations import alembic_config, upgrade
from kura.records import service as records
from kura.records.canonical import canonical, sha256_hex
from kura.records.models import Record, RecordVersion, SearchString, SearchToken
from tests.conftest import PG_URL, _pg_admin_url, _with_db
from tests.factories import make_user
from tests.support.records import patient, user_subject


@pytest.fixture
def legacy_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'legacy.db'}"
        return
    name = f"kura_legacy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield _with_db(_pg_admin_url(), name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _legacy_patient(engine) -> str:
    """A Patient as the records store wrote it before 0006: plaintext content and index."""
    pid, pk, now = str(uuid.uuid4()), str(uuid.uuid4()), dt.datetime.now(dt.timezone.utc)
    body = {**patient(family="鳳凰院", given="凶真", kana=("ホウオウイン", "キョウマ"), mrn="MRN8675309"), "id": pid,
            "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000Z",
                     "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}],
                     "tag": [{"system": "urn:kura:status", "code": "draft"}]}}
    content = canonical(body)
    with engine.begin() as conn:
        conn.execute(Record.__table__.insert().values(
            pk=pk, rtype="Patient", logical_id=pid, patient_id=pid, class_code=None, confidentiality="N",
            current_version=1, status="draft", created_at=now, last_updated=now))
        t = RecordVersion.__table__
        conn.execute(t.insert().values(
            record_pk=pk, number=1, content=content, blob=None, sha256=sha256_hex(content), status="draft",
            activity="create", at=now, author_id=None, author_name="clerk", reason="", enterer_id=None,
            enterer_name="clerk", origin=""))
        conn.execute(text("INSERT INTO search_string (record_pk, rtype, param, value, class_code, confidentiality, "
                          "shared) VALUES (:pk, 'Patient', 'name', 'ホウオウインキョウマ', NULL, 'N', :f)"),
                     {"pk": pk, "f": False})
        conn.execute(SearchToken.__table__.insert().values(record_pk=pk, rtype="Patient", param="identifier",
                                                           system="", value="mrn8675309"))
    return pid


def test_r37_migration_seals_stored_records_and_rebuilds_blind_indexes(home, clock, legacy_url):
    settings = load_settings(home, env="development")
    master = (home / "keys" / "master.key").read_bytes()
    engine = make_engine(legacy_url)
    command.upgrade(alembic_config(engine, master), "0005")
    pid = _legacy_patient(engine)
    upgrade(engine, master_key=master)
    with engine.connect() as conn:
        content = conn.execute(select(RecordVersion.content)).scalar()
        strings = conn.execute(select(SearchString.value)).scalars().all()
        tokens = conn.execute(select(SearchToken.value)).scalars().all()
    assert content[:2] == b"K2" and "鳳凰院".encode() not in content
    assert strings and not any("ホウオウ" in s for s in strings) and "mrn8675309" not in tokens
    if engine.dialect.name == "sqlite":
        raw = (legacy_url.removeprefix("sqlite:///"))
        assert "ホウオウイン".encode() not in open(raw, "rb").read()  # VACUUM left no old page behind
    app = build(settings, clock=clock, engine=engine)
    try:
        clerk = user_subject(make_user(app, "clerk1", ("clerk",)))
        with app.unit_of_work(clerk, "HPAYMT") as ctx:
            assert records.read(ctx, "Patient", pid).resource()["name"][0]["family"] == "鳳凰院"
            assert [v.id for v in records.search(ctx, "Patient", [("name", "ほうおう")]).versions] == [pid]
            assert [v.id for v in records.search(ctx, "Patient", [("identifier", "MRN8675309")]).versions] == [pid]
        upgrade(engine, master_key=master)  # at head: nothing to do, nothing changes
        with app.unit_of_work(clerk, "HPAYMT") as ctx:
            assert records.read(ctx, "Patient", pid).sha256 == sha256_hex(
                records.read(ctx, "Patient", pid).content)
    finally:
        app.dispose()
