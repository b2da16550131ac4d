"""The legal minimum retention of each kind of record (REQUIREMENTS §1; R52, R87–R89).

A management class names the legal kind its records are (``ManagementClass.legal_kind``);
the hospital may keep them longer, never shorter (classes.service.define refuses that with
the basis). The periods run from 完結の日 — the end of the whole course of care — which is
why a class with a legal minimum cannot count from creation instead.
"""

from __future__ import annotations

import dataclasses

__all__ = ["LegalKind", "LEGAL_KINDS", "legal_kind", "minimum_years"]


@dataclasses.dataclass(frozen=True)
class LegalKind:
    code: str
    name_ja: str
    name_en: str
    years: int  # the legal minimum; 0 = no period set by law
    basis: str  # the article, as a person looks it up


LEGAL_KINDS: dict[str, LegalKind] = {k.code: k for k in (
    LegalKind("shinryoroku", "診療録", "Medical record (診療録)", 5,
              "医師法 §24② / 療担規則 §9 ただし書: 完結の日から5年"),
    LegalKind("ryotan", "療養の給付に関する帳簿・書類 (医事)", "Insured-care records and 医事 documents", 3,
              "療担規則 §9: 完結の日から3年"),
    LegalKind("gazo", "エックス線写真等 (保険診療)", "X-ray images and other images (insured care)", 3,
              "療担規則 §9: 完結の日から3年 (医療法施行規則 §20(10) は2年)"),
    LegalKind("shokiroku", "診療に関する諸記録", "Other records of care (諸記録)", 2,
              "医療法 §21①(9) / 医療法施行規則 §20(10): 過去2年間"),
    LegalKind("josanroku", "助産録", "Midwifery record", 5, "保健師助産師看護師法 §42: 5年"),
    LegalKind("shashoroku", "照射録・放射線量測定記録", "Irradiation and dose records", 5,
              "医療法施行規則 §30の21: 5年"),
    LegalKind("kaikei", "会計帳簿書類", "Accounting books", 7, "法人税法施行規則 §59: 7年 (欠損金の年は10年)"),
    LegalKind("other", "その他 (法定期間なし)", "Other (no legal period)", 0, "法定の保存期間なし: 病院の定めによる"),
)}


def legal_kind(code: str) -> LegalKind | None:
    return LEGAL_KINDS.get(code or "")


def minimum_years(code: str) -> int:
    kind = legal_kind(code)
    return kind.years if kind else 0
