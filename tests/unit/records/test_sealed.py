"""Records sealed at rest, blind search indexes, reads that verify, labels that cannot be
lowered unseen (issue 7 §2–3; R14, R37, R44). Tampering is done with plain SQL behind kura's
back, on whichever engine this run uses."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text, update

from kura.errors import IntegrityFailure
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.deep import deep_check
from kura.records import service as records
from kura.records.models import Record, RecordVersion
from tests.factories import ADMIN, make_user
from tests.support.records import encounter, patient, seed_classes, user_subject

KANJI, GIVEN, KANA, GIVEN_KANA, MRN = "鳳凰院", "凶真", "ホウオウイン", "キョウマ", "MRN8675309"
SECRETS = {"kanji": KANJI + GIVEN, "family kanji": KANJI, "kana": KANA, "hiragana": "ほうおういん",
           "identifier": MRN}


@pytest.fixture
def staff(kura):
    seed_classes(kura)
    clerk = user_subject(make_user(kura, "clerk1", ("clerk",)))
    clerk_r = user_subject(make_user(kura, "clerkr", ("clerk",), clearance="R"), "R")
    doc = user_subject(make_user(kura, "doc1", ("physician",)))
    return clerk, clerk_r, doc


def _someone(**kw):
    return patient(family=KANJI, given=GIVEN, kana=(KANA, GIVEN_KANA), mrn=MRN, **kw)


def _alerts(kura, tag=LedgerTag.RecordsRecordTampered) -> list[LedgerEntry]:
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag))))


def _raw_texts(kura) -> list[bytes]:
    """Everything the database holds, as bytes an attacker with the disk would see."""
    if kura.engine.dialect.name == "sqlite":
        db = kura.settings.home / "kura.db"
        return [p.read_bytes() for p in (db, db.with_name("kura.db-wal")) if p.exists()]
    out = []
    with kura.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for (row,) in conn.execute(text(f'SELECT t::text FROM "{table}" t')):
                out.append(row.encode())
    return out


def test_r37_a_stolen_database_names_no_one(kura, staff):
    clerk, _, doc = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, _someone()).id
        records.confirm(ctx, "Patient", pid)
        records.create(ctx, encounter(pid))
    for query in ([("name", "ほうおう")], [("name", KANJI)], [("name:exact", KANA + GIVEN_KANA)],
                  [("identifier", MRN)], [("name", "ホウオウインキョウマ"), ("birthdate", "1970-01-02")]):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            page = records.search(ctx, "Patient", query)
        assert [v.id for v in page.versions] == [pid], query
    with kura.unit_of_work(doc, "TREAT") as ctx:
        assert records.read(ctx, "Patient", pid).resource()["name"][0]["family"] == KANJI
        assert len(records.everything(ctx, pid)) == 2
    blobs = _raw_texts(kura)
    assert blobs and any(b"record_version" in b or b"Patient" in b for b in blobs)  # we did look at the data
    for what, secret in SECRETS.items():
        needle = secret.encode()
        assert not any(needle in b or needle.hex().encode() in b for b in blobs), f"{what} readable at rest"


def test_r37_name_search_prefix_exact_and_long_prefixes(kura, staff):
    clerk, _, _ = staff
    long_family = "ジュゲムジュゲムゴコウノスリキレカイジャリスイギョ"  # longer than params.PREFIX_MAX
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        a = records.create(ctx, patient(family="寿限無", kana=(long_family, "タロウ"), mrn="1")).id
        b = records.create(ctx, patient(family="寿限無", kana=(long_family[:17] + "ア", "ハナコ"), mrn="2")).id
        c = records.create(ctx, _someone()).id
    for query, expected in ((("name", long_family[:20]), {a}), (("name", long_family[:17]), {a, b}),
                            (("name", "ｼﾞｭｹﾞﾑ"), {a, b}), (("name:exact", KANJI), {c}),
                            (("name:exact", "ホウオウ"), set()), (("name", "寿限無タ"), set())):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            page = records.search(ctx, "Patient", [query])
        assert page.total == len(expected) and {v.id for v in page.versions} == expected, query


def _tamper(kura, sql_values: dict, *, table=RecordVersion, pid: str, number: int | None = None):
    with kura.sessions() as s:
        pk = s.scalar(select(Record.pk).where(Record.rtype == "Patient", Record.logical_id == pid))
        stmt = update(table.__table__)
        stmt = stmt.where(table.__table__.c.record_pk == pk, table.__table__.c.number == number) \
            if table is RecordVersion else stmt.where(table.__table__.c.pk == pk)
        s.execute(stmt.values(**sql_values))
        s.commit()


def _flip(kura, pid: str, number: int) -> None:
    with kura.sessions() as s:
        pk = s.scalar(select(Record.pk).where(Record.rtype == "Patient", Record.logical_id == pid))
        content = s.get(RecordVersion, (pk, number)).content
    _tamper(kura, {"content": content[:-5] + bytes([content[-5] ^ 1]) + content[-4:]}, pid=pid, number=number)


def test_r37_an_altered_version_is_refused_alerted_and_reported(kura, staff):
    clerk, _, doc = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, _someone()).id
        records.confirm(ctx, "Patient", pid)
        records.create(ctx, encounter(pid))
    _flip(kura, pid, 2)
    for read in (lambda ctx: records.read(ctx, "Patient", pid), lambda ctx: records.everything(ctx, pid),
                 lambda ctx: records.search(ctx, "Patient", [("identifier", MRN)]),
                 lambda ctx: records.history(ctx, "Patient", pid),
                 lambda ctx: records.vread(ctx, "Patient", pid, 1)):  # v1 is intact, the current is not
        with pytest.raises(IntegrityFailure, match="integrity"):
            with kura.unit_of_work(doc, "TREAT") as ctx:
                read(ctx)
    alerts = _alerts(kura)
    assert len(alerts) == 5 and all(a.alert and a.patient_id == pid and "Patient/" in a.reason for a in alerts)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        problems = deep_check(ctx)
    assert [p for p in problems if p.startswith(f"Patient/{pid}/_history/2")], problems


@pytest.mark.parametrize("table,column", [(Record, "confidentiality"), (RecordVersion, "label")])
def test_r14_r44_a_lowered_label_is_refused_alerted_and_reported(kura, staff, table, column):
    _, clerk_r, doc = staff
    with kura.unit_of_work(clerk_r, "HPAYMT") as ctx:
        pid = records.create(ctx, _someone(security="R")).id
        records.confirm(ctx, "Patient", pid)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert deep_check(ctx) == []
    _tamper(kura, {column: "N"}, table=table, pid=pid, number=2)
    if table is RecordVersion:  # the row lowered on both: the version's envelope no longer opens
        _tamper(kura, {"confidentiality": "N"}, table=Record, pid=pid)
    with pytest.raises(IntegrityFailure):  # clearance N: allowed by the lowered row, then refused
        with kura.unit_of_work(doc, "TREAT") as ctx:
            records.read(ctx, "Patient", pid)
    with pytest.raises(IntegrityFailure):
        with kura.unit_of_work(doc, "TREAT") as ctx:
            records.search(ctx, "Patient", [("identifier", MRN)])
    assert len(_alerts(kura)) == 2
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        problems = deep_check(ctx)
    assert any(p.startswith(f"Patient/{pid}") and ("label" in p or "authentication" in p) for p in problems), problems


def test_r37_a_record_status_changed_by_hand_is_refused(kura, staff):
    clerk, _, _ = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, _someone()).id
    _tamper(kura, {"status": "confirmed"}, table=Record, pid=pid)
    with pytest.raises(IntegrityFailure):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.read(ctx, "Patient", pid)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert any("status" in p for p in deep_check(ctx))
