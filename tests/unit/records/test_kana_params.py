"""Search normalisation and parameter extraction (pure)."""

import pytest

from kura.errors import Invalid
from kura.records.canonical import canonical
from kura.records.fhir import params
from kura.records.kana import normalise
from tests.support.records import encounter, patient


@pytest.mark.parametrize("text", ["ヤマダ", "やまだ", "ﾔﾏﾀﾞ", " ヤ マ ダ ", "ヤマダ　"])
def test_kana_forms_are_one_key(text):
    assert normalise(text) == "ヤマダ"


def test_digits_and_latin_fold():
    assert normalise("０１２３４") == "01234"
    assert normalise("ＹＡＭＡＤＡ Taro") == "yamadataro"
    assert normalise("ｶﾞｯｺｳ") == "ガッコウ"


def test_patient_index_rows():
    ix = params.extract("Patient", patient(mrn="０１"))
    assert ("identifier", patient()["identifier"][0]["system"], "01") in ix.tokens
    assert ("gender", "", "male") in ix.tokens
    names = {v for _, v in ix.strings}
    # every part, so that :exact finds a family name alone; prefixes come from the tokens
    assert names == {"山田", "太郎", "山田太郎", "ヤマダ", "タロウ", "ヤマダタロウ"}
    assert ix.dates == [("birthdate", "1970-01-02T00:00:00", "1970-01-02T23:59:59")]


def test_name_tokens_are_prefixes_and_wholes_blinded():
    blind = lambda kind, value: f"{kind}:{value}"  # noqa: E731  (stands in for the HMAC)
    tokens = params.string_tokens("Patient", "name", ["ヤマダ", "ヤマダタロウ"], blind)
    assert tokens == {"Patient.name=:ヤマダ", "Patient.name=:ヤマダタロウ", "Patient.name^:ヤ",
                      "Patient.name^:ヤマ", "Patient.name^:ヤマダ", "Patient.name^:ヤマダタ",
                      "Patient.name^:ヤマダタロ", "Patient.name^:ヤマダタロウ"}
    long = "ア" * (params.PREFIX_MAX + 5)
    assert max(len(t) for t in params.string_tokens("Patient", "name", [long], blind)
               if t.startswith("Patient.name^")) == len("Patient.name^:") + params.PREFIX_MAX


def test_dates_are_utc_ranges():
    assert params.date_range("2026-04-01T09:00:00+09:00") == ("2026-04-01T00:00:00", "2026-04-01T00:00:00")
    assert params.date_range("2024-02") == ("2024-02-01T00:00:00", "2024-02-29T23:59:59")
    assert params.date_range("2026") == ("2026-01-01T00:00:00", "2026-12-31T23:59:59")
    ix = params.extract("Encounter", encounter("p", "2026-04-01T09:00:00+09:00"))
    assert ix.dates == [("date", "2026-04-01T00:00:00", "2026-04-01T00:00:00")]
    with pytest.raises(Invalid):
        params.date_range("2026-13-01")


@pytest.mark.parametrize("name", ["birthdate", "_lastUpdated"])
def test_a_date_filter_with_a_line_break_is_invalid(name):
    q = params.parse("Patient", [(name, "ge2026\n01")])  # LF passes the control-character check
    with pytest.raises(Invalid):
        params.conditions(q, lambda kind, value: f"{kind}:{value}")


def test_parse_refuses_unknown_and_bad_sort():
    with pytest.raises(Invalid):
        params.parse("Patient", [("colour", "red")])
    with pytest.raises(Invalid):
        params.parse("Patient", [("_sort", "date")])
    q = params.parse("Encounter", [("patient", "Patient/x"), ("_count", "5"), ("_sort", "-date")])
    assert q.patient_ids() == ["x"] and q.count == 5 and q.sort == [("date", True)]


def test_canonical_json_is_stable_and_legible():
    assert canonical({"b": 1, "a": "山田"}) == '{"a":"山田","b":1}'.encode()
