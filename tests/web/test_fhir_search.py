"""FHIR search at /fhir: every parameter, kana normalisation, paging, sorting, _lastUpdated."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.records import (MRN, charge, coverage, document, encounter, invoice, patient, post,
                                        seed_classes)


@pytest.fixture
def people(server, as_role, clock):
    seed_classes(server.kura)
    clerk = as_role("clerk")
    made = {}
    for key, kw in {
        "yamada": dict(family="山田", given="太郎", kana=("ヤマダ", "タロウ"), mrn="00123", birth="1970-01-02"),
        "yamamoto": dict(family="山本", given="花子", kana=("ヤマモト", "ハナコ"), mrn="00456", birth="1985-06-30",
                         gender="female"),
        "tanaka": dict(family="田中", given="一郎", kana=("タナカ", "イチロウ"), mrn="00789", birth="2001-12-31"),
    }.items():
        clock.advance(seconds=60)
        r = post(clerk, "Patient", patient(**kw))
        assert r.status_code == 201
        made[key] = r.json()["id"]
    return clerk, made


def _ids(bundle):
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


@pytest.mark.parametrize("query,expected", [
    ("ヤマダ", {"yamada"}), ("やまだ", {"yamada"}), ("ﾔﾏﾀﾞ", {"yamada"}), ("ヤマ", {"yamada", "yamamoto"}),
    ("やま", {"yamada", "yamamoto"}), ("山", {"yamada", "yamamoto"}), ("山田", {"yamada"}),
    ("山田太郎", {"yamada"}), ("ヤマダ タロウ", {"yamada"}), ("ﾀﾛｳ", {"yamada"}), ("はなこ", {"yamamoto"}),
    ("スズキ", set()),
])
def test_name_prefix_with_kana_normalisation(people, query, expected):
    clerk, made = people
    b = clerk.get("/fhir/Patient", params={"name": query}).json()
    assert set(_ids(b)) == {made[k] for k in expected} and b["total"] == len(expected)


def test_identifier_gender_birthdate(people):
    clerk, made = people
    get = lambda **p: set(_ids(clerk.get("/fhir/Patient", params=p).json()))  # noqa: E731
    assert get(identifier="00123") == {made["yamada"]}
    assert get(identifier="００１２３") == {made["yamada"]}  # full-width digits
    assert get(identifier=f"{MRN}|00456") == {made["yamamoto"]}
    assert get(identifier="urn:other|00456") == set()
    assert get(identifier="00123,00789") == {made["yamada"], made["tanaka"]}
    assert get(gender="female") == {made["yamamoto"]}
    assert get(birthdate="1970-01-02") == {made["yamada"]}
    assert get(birthdate="1985") == {made["yamamoto"]}
    assert get(birthdate="1985-06") == {made["yamamoto"]}
    assert get(birthdate="ge1985-01-01") == {made["yamamoto"], made["tanaka"]}
    assert get(birthdate="lt1985-01-01") == {made["yamada"]}
    assert get(birthdate=["ge1980", "le1990"]) == {made["yamamoto"]}
    assert get(name="やま", gender="male") == {made["yamada"]}
    assert get(_id=made["tanaka"]) == {made["tanaka"]}


def test_unknown_parameter_is_400(people):
    clerk, _ = people
    r = clerk.get("/fhir/Patient", params={"nickname": "x"})
    assert r.status_code == 400 and "nickname" in r.json()["issue"][0]["diagnostics"]
    assert clerk.get("/fhir/Patient", params={"birthdate": "yesterday"}).status_code == 400


def test_paging_total_and_next_links(people):
    clerk, made = people
    first = clerk.get("/fhir/Patient", params={"_count": "2"}).json()
    assert first["total"] == 3 and len(first["entry"]) == 2
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "next" in links
    second = clerk.get(links["next"]).json()
    assert len(second["entry"]) == 1 and "next" not in {link["relation"] for link in second["link"]}
    assert set(_ids(first)) | set(_ids(second)) == set(made.values())
    assert clerk.get("/fhir/Patient", params={"_count": "0"}).json()["total"] == 3


def test_sort_on_dates_and_last_updated(people, clock):
    clerk, made = people
    asc = _ids(clerk.get("/fhir/Patient", params={"_sort": "birthdate"}).json())
    assert asc == [made["yamada"], made["yamamoto"], made["tanaka"]]
    desc = _ids(clerk.get("/fhir/Patient", params={"_sort": "-birthdate"}).json())
    assert desc == asc[::-1]
    by_update = _ids(clerk.get("/fhir/Patient", params={"_sort": "_lastUpdated"}).json())
    assert by_update == [made["yamada"], made["yamamoto"], made["tanaka"]]
    assert clerk.get("/fhir/Patient", params={"_sort": "name"}).status_code == 400
    # the last patient was stored 60 s after the second one
    cut = (clock.now() - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _ids(clerk.get("/fhir/Patient", params={"_lastUpdated": f"ge{cut}"}).json()) == [made["tanaka"]]
    assert set(_ids(clerk.get("/fhir/Patient", params={"_lastUpdated": f"lt{cut}"}).json())) == {
        made["yamada"], made["yamamoto"]}


def test_patient_and_date_on_other_types(people, as_role):
    clerk, made = people
    doc = as_role("physician")
    a, b = made["yamada"], made["tanaka"]
    for pid, day in ((a, "2026-04-01"), (b, "2026-05-10")):
        for body in (coverage(pid), encounter(pid, f"{day}T09:00:00+09:00"), charge(pid, day), invoice(pid, day)):
            assert post(clerk, body["resourceType"], body).status_code == 201
        assert post(doc, "DocumentReference", document(pid, when=f"{day}T10:00:00+09:00")).status_code == 201
    for rtype in ("Encounter", "ChargeItem", "Invoice", "DocumentReference"):
        got = doc.get(f"/fhir/{rtype}", params={"patient": a}).json()
        assert got["total"] == 1 and got["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{a}"
        assert doc.get(f"/fhir/{rtype}", params={"patient": f"Patient/{b}"}).json()["total"] == 1
        assert doc.get(f"/fhir/{rtype}", params={"date": "2026-05"}).json()["total"] == 1, rtype
        assert doc.get(f"/fhir/{rtype}", params={"date": "ge2026-04-01"}).json()["total"] == 2, rtype
        assert doc.get(f"/fhir/{rtype}", params={"date": "lt2026-04-15", "patient": b}).json()["total"] == 0
        order = doc.get(f"/fhir/{rtype}", params={"_sort": "-date"}).json()
        assert [e["resource"]["subject"]["reference"] for e in order["entry"]] == [f"Patient/{b}", f"Patient/{a}"]
    assert doc.get("/fhir/Coverage", params={"patient": a}).json()["total"] == 1
