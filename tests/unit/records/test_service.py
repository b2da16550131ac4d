"""The versioned store through records.service: versions, confirmation, corrections, labels."""

from __future__ import annotations

import base64

import pytest

from kura.audit import service as audit
from kura.errors import Conflict, Denied, Invalid, NotFound
from kura.ledger.tags import LedgerTag
from kura.preservation.deep import deep_check
from kura.records import service as records
from kura.records.canonical import sha256_hex
from tests.factories import ADMIN, make_user
from tests.support.records import charge, document, encounter, patient, seed_classes, user_subject


@pytest.fixture
def staff(kura):
    seed_classes(kura)
    clerk = make_user(kura, "clerk1", ("clerk",))
    doc = make_user(kura, "doc1", ("physician",))
    return user_subject(clerk), user_subject(doc)


def test_r30_create_is_draft_and_confirm_is_a_new_confirmed_version(kura, staff):
    clerk, _ = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        v1 = records.create(ctx, patient())
    assert v1.number == 1 and v1.status == "draft"
    assert v1.resource()["meta"]["tag"] == [{"system": "urn:kura:status", "code": "draft"}]
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        v2 = records.confirm(ctx, "Patient", v1.id)
    assert (v2.number, v2.status, v2.confirmed_by_name) == (2, "confirmed", "clerk1")
    body1, body2 = v1.resource(), v2.resource()
    body1.pop("meta"), body2.pop("meta")
    assert body1 == body2
    with kura.unit_of_work(clerk, "HPAYMT") as ctx, pytest.raises(Conflict):
        records.confirm(ctx, "Patient", v1.id)


def test_r36_correction_of_confirmed_needs_reason_and_keeps_original(kura, staff):
    clerk, _ = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient()).id
        confirmed = records.confirm(ctx, "Patient", pid)
    changed = {**patient(given="次郎"), "id": pid}
    with pytest.raises(Invalid, match="reason"):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.update(ctx, "Patient", pid, changed)
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        v3 = records.update(ctx, "Patient", pid, changed, reason="名の誤記訂正")
    assert (v3.number, v3.status, v3.reason) == (3, "draft", "名の誤記訂正")
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        old = records.vread(ctx, "Patient", pid, 2)
        hist = records.version_history(ctx, "Patient", pid)
        _, _, changes = records.diff(ctx, "Patient", pid, 2, 3)
    assert old.content == confirmed.content and sha256_hex(old.content) == confirmed.sha256
    assert [(h.number, h.status, h.activity) for h in hist] == [
        (1, "draft", "create"), (2, "confirmed", "confirm"), (3, "draft", "update")]
    assert hist[2].reason == "名の誤記訂正" and hist[1].confirmed_by == "clerk1"
    assert ("name[0].given[0]", "太郎", "次郎") in changes


def test_r31_proxy_entry_is_confirmed_only_by_the_confirmer(kura, staff):
    clerk, doc = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient()).id
    with kura.unit_of_work(doc, "TREAT") as ctx:
        enc = records.create(ctx, encounter(pid))
    other_doc = make_user(kura, "doc2", ("physician",))
    with kura.unit_of_work(user_subject(other_doc), "TREAT") as ctx:
        proxied = records.create(ctx, document(pid), on_behalf_of="doc1")
    with pytest.raises(Conflict, match="on behalf of doc1"):
        with kura.unit_of_work(user_subject(other_doc), "TREAT") as ctx:
            records.confirm(ctx, "DocumentReference", proxied.id)
    with kura.unit_of_work(doc, "TREAT") as ctx:
        done = records.confirm(ctx, "DocumentReference", proxied.id)
        prov = records.read(ctx, "Provenance", done.provenance_id).resource()
        records.confirm(ctx, "Encounter", enc.id)
    assert done.enterer_name == "doc2" and done.on_behalf_of_name == "doc1" and done.confirmed_by_name == "doc1"
    agents = {a["type"]["coding"][0]["code"]: a for a in prov["agent"]}
    assert agents["attester"]["who"]["reference"] == f"Practitioner/{doc.id}"
    assert agents["enterer"]["who"]["reference"] == f"Practitioner/{other_doc.id}"
    assert agents["enterer"]["onBehalfOf"]["reference"] == f"Practitioner/{doc.id}"
    assert prov["target"] == [{"reference": f"DocumentReference/{proxied.id}/_history/2"}]


def test_invalid_fhir_stores_nothing(kura, staff):
    clerk, _ = staff
    bad = {**patient(), "birthDate": "1970-13-45"}
    with pytest.raises(Invalid, match="birthDate"):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.create(ctx, bad)
    with pytest.raises(Invalid, match="Patient/nope"):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.create(ctx, charge("nope"))
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        assert records.search(ctx, "Patient", []).total == 0


def test_r14_label_raises_never_lowers_and_gates_reads(kura, staff):
    clerk, _ = staff
    with pytest.raises(Denied):  # nobody writes beyond their own clearance
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.create(ctx, patient(security="V"))
    clerk = user_subject(make_user(kura, "clerkv", ("clerk",), clearance="V"), "V")
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        v = records.create(ctx, patient(security="V"))
        n = records.create(ctx, patient(mrn="2", security="N"))
    assert v.confidentiality == "V" and n.confidentiality == "N"
    with pytest.raises(Denied) as err:
        with kura.unit_of_work(user_subject(make_user(kura, "doc9", ("physician",))), "TREAT") as ctx:
            records.read(ctx, "Patient", v.id)
    assert err.value.needs_break_glass


def test_attachment_is_sealed_and_deep_check_detects_tampering(kura, staff):
    clerk, doc = staff
    pdf = b"%PDF-1.4 referral letter" * 10
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient()).id
    with kura.unit_of_work(doc, "TREAT") as ctx:
        d = records.create(ctx, document(pid, base64.b64encode(pdf).decode()))
    url = d.resource()["content"][0]["attachment"]["url"]
    assert url.startswith("Binary/") and "data" not in d.resource()["content"][0]["attachment"]
    assert not any(pdf[:20] in kura.blobs.get(n) for n in kura.blobs.names())
    with kura.unit_of_work(doc, "TREAT") as ctx:
        data, ctype = records.read_attachment(ctx, url.removeprefix("Binary/"))
    assert data == pdf and ctype == "application/pdf"
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert audit.verify(ctx).ok
        assert deep_check(ctx) == []
    from kura.records.models import Record, RecordVersion
    with kura.sessions() as s:
        pk = s.query(Record.pk).filter_by(rtype="Patient", logical_id=pid).scalar()
        row = s.get(RecordVersion, (pk, 1))
        s.execute(RecordVersion.__table__.update()
                  .where(RecordVersion.record_pk == pk, RecordVersion.number == 1)
                  .values(content=row.content[:-1] + bytes([row.content[-1] ^ 1])))  # stored sealed
        s.commit()
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        problems = deep_check(ctx)
    assert problems and "fails authentication" in problems[0]


def test_ledger_names_patient_and_digest(kura, staff):
    clerk, _ = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        v = records.create(ctx, patient())
        records.read(ctx, "Patient", v.id)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(patient_id=v.id))
    tags = {r.tag for r in rows}
    assert {str(LedgerTag.RecordsRecordCreated), str(LedgerTag.RecordsRecordRead)} <= tags
    assert all(r.digest == v.sha256 for r in rows if r.tag == str(LedgerTag.RecordsRecordCreated))


def test_not_found(kura, staff):
    clerk, _ = staff
    with pytest.raises(NotFound):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            records.read(ctx, "Patient", "missing")


def test_upsert_imaging_study_versions_only_on_change(kura, staff):
    clerk, doc = staff
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient()).id
    study = {"resourceType": "ImagingStudy", "id": "1.2.392.200036.9116.2.1", "status": "available",
             "subject": {"reference": f"Patient/{pid}"}, "started": "2026-04-01T10:00:00+09:00",
             "numberOfSeries": 1, "numberOfInstances": 3}
    tech = user_subject(make_user(kura, "tech1", ("technologist",)))
    with kura.unit_of_work(tech, "TREAT") as ctx:
        v1 = records.upsert_imaging_study(ctx, study)
        same = records.upsert_imaging_study(ctx, study)
        v2 = records.upsert_imaging_study(ctx, {**study, "numberOfInstances": 4})
        v3 = records.upsert_imaging_study(ctx, {**study, "numberOfInstances": 4}, confirmed=True)
    assert (v1.number, same.number, v2.number, v3.number) == (1, 1, 2, 3) and v3.status == "confirmed"
    with kura.unit_of_work(doc, "TREAT") as ctx:
        found = records.search(ctx, "ImagingStudy", [("patient", pid), ("date", "2026-04-01")])
        summary = records.patient_summary(ctx, pid)
    assert found.total == 1 and [v.id for v in summary["studies"]] == [study["id"]]
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert deep_check(ctx) == []


def test_patient_summary_groups_what_the_caller_may_see(kura, staff):
    clerk, doc = staff
    from tests.support.records import coverage, invoice
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient()).id
        for body in (coverage(pid), encounter(pid), charge(pid), invoice(pid)):
            records.create(ctx, body)
    with kura.unit_of_work(doc, "TREAT") as ctx:
        records.create(ctx, document(pid))
        s = records.patient_summary(ctx, pid)
    assert {k: len(v) for k, v in s.items()} == {"patient": 1, "coverage": 1, "encounters": 1, "charges": 1,
                                                   "invoices": 1, "documents": 1, "studies": 0}


def test_name_search_counts_a_patient_once_whatever_names_match(kura, staff):
    clerk, _ = staff
    two_names = patient(kana=("ヤマダ", "ハナコ"), mrn="1")
    two_names["name"].append({"use": "maiden", "family": "ヤマモト", "given": ["ハナコ"],
                              "extension": [{"url": two_names["name"][1]["extension"][0]["url"],
                                             "valueCode": "SYL"}]})
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        a = records.create(ctx, two_names).id
        b = records.create(ctx, patient(kana=("ヤマダ", "ヤスシ"), mrn="2")).id
        c = records.create(ctx, patient(family="田中", kana=("タナカ", "タロウ"), mrn="3")).id
    for query, expected in (("ヤマ", {a, b}), ("ヤ", {a, b}), ("ヤマモト", {a}), ("ヤス", {b}), ("タ", {c}),
                            ("は", {a})):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            page = records.search(ctx, "Patient", [("name", query)])
            one = records.search(ctx, "Patient", [("name", query), ("_count", "1")])
        assert page.total == len(expected) and {v.id for v in page.versions} == expected, query
        assert one.total == len(expected) and len(one.versions) == 1
