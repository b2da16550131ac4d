"""The registration rules of the core (R30): kana only in kana names, no future birth date,
the sex stated — whoever registers (screen or FHIR) — and 和暦 both ways."""

import datetime as dt

import pytest

from kura.errors import Invalid
from kura.records import patients
from kura.text import parse_wareki, wareki
from tests.support.records import patient

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize("typed, stored", [("ﾀｶﾊｼ", "タカハシ"), ("たかはし", "タカハシ"), ("タカハシ", "タカハシ"),
                                           ("ｵｵﾉ ｼﾞｭﾝ", "オオノ ジュン"), ("サトウ　ヨウコ", "サトウ ヨウコ")])
def test_r30_kana_is_normalised_to_katakana(typed, stored):
    assert patients.kana(typed) == stored


@pytest.mark.parametrize("typed", ["Takahashi", "高橋", "ﾀｶﾊｼ1", "たかはし!"])
def test_r30_kana_refuses_anything_else(typed):
    with pytest.raises(Invalid, match="kana only"):
        patients.kana(typed)


def test_r30_patient_rules():
    patients.check_patient(patient(), today=TODAY)
    with pytest.raises(Invalid, match="kana only"):
        patients.check_patient(patient(kana=("Takahashi", "Hanako")), today=TODAY)
    with pytest.raises(Invalid, match="future"):
        patients.check_patient(patient(birth="2030-01-01"), today=TODAY)
    no_sex = patient()
    del no_sex["gender"]
    with pytest.raises(Invalid, match="sex"):
        patients.check_patient(no_sex, today=TODAY)


def test_wareki_both_ways():
    assert wareki(dt.date(1959, 8, 5)) == "昭和34年8月5日"
    assert wareki(dt.date(1989, 1, 7)) == "昭和64年1月7日" and wareki(dt.date(1989, 1, 8)) == "平成元年1月8日"
    assert wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    for typed in ("S34.8.5", "昭和34年8月5日", "s34/8/5", "Ｓ３４．８．５"):
        assert parse_wareki(typed) == dt.date(1959, 8, 5), typed
    assert parse_wareki("H1.1.8") == dt.date(1989, 1, 8) == parse_wareki("平成元年1月8日")
    assert parse_wareki("H31.5.1") is None and parse_wareki("S64.1.8") is None  # outside their era
    assert parse_wareki("山田") is None and parse_wareki("1959-08-05") is None
