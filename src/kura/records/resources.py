"""JP Core style 医事 resources built from plain values, and readable summaries of them. Pure.

The entry screens and the demo seeder build the same FHIR R4 resources through these
functions, so what a clerk types and what the demo stores have one shape: kanji and kana
names as JP Core HumanName representations (iso21090-EN-representation IDE / SYL), the
hospital's 患者ID as a Patient.identifier, 保険者番号 and 記号・番号 on Coverage, and
診療行為 codes of the レセプト電算処理システム on ChargeItem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from kura.text import wareki

__all__ = ["REP", "MRN_SYSTEM", "INSURER_SYSTEM", "insurer_check_digit", "RECEIPT_SYSTEM", "CHARGE_CODES", "COVERAGE_TYPES",
           "GENDERS", "patient", "coverage", "encounter", "charge_item", "invoice", "document_reference",
           "names_of", "display_name", "summary_rows", "title_of", "charge_name"]

REP = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
# JP Core: 患者ID の system は urn:oid:1.2.392.100495.20.3.51.1 + 医療機関コード (10 桁).
MRN_SYSTEM = "urn:oid:1.2.392.100495.20.3.51.11318814790"
# JP Core: 保険者番号 (Coverage.payor の Organization 識別子).
INSURER_SYSTEM = "urn:oid:1.2.392.100495.20.3.61"
# JP Core: 記号・番号 (Coverage.identifier) — 被保険者証記号・番号.
INSURED_SYSTEM = "urn:oid:1.2.392.100495.20.3.62"
# 診療行為コード (レセプト電算処理システム 診療行為マスター).
RECEIPT_SYSTEM = "urn:oid:1.2.392.100495.20.2.71"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

# code -> (名称, 点数): a few common outpatient items of the 診療行為マスター (令和6年度改定).
CHARGE_CODES: dict[str, tuple[str, int]] = {
    "111000110": ("初診料", 291),
    "112007410": ("再診料", 75),
    "112011010": ("外来管理加算", 52),
    "120002910": ("処方箋料（リフィル以外・その他）", 60),
    "160000310": ("尿中一般物質定性半定量検査", 26),
    "160008010": ("末梢血液一般検査", 21),
    "160019410": ("ＨｂＡ１ｃ", 49),
    "160054710": ("ＣＲＰ", 16),
    "160061710": ("尿・糞便等検査判断料", 34),
    "160061810": ("血液学的検査判断料", 125),
}

# 保険種別: code -> (表示, 保険者番号の桁数)
COVERAGE_TYPES = {
    "shaho": ("社会保険 (協会けんぽ・健保組合)", 8),
    "kokuho": ("国民健康保険", 6),
    "koki": ("後期高齢者医療", 8),
}
COVERAGE_TYPE_SYSTEM = "urn:kura:coverage-type"
# A Patient who works at the hospital (職員患者): meta.tag {system, code "staff"}. Indexed (not
# searchable) so the audit review finds access to staff-patients without opening any record.
PATIENT_FLAG_SYSTEM = "urn:kura:patient-flag"
STAFF_TAG = {"system": PATIENT_FLAG_SYSTEM, "code": "staff", "display": "職員"}

GENDERS = {"male": "男", "female": "女", "other": "その他", "unknown": "不明"}
# FHIR status codes as staff read them (Coverage, Encounter, ChargeItem, Invoice, DocumentReference).
STATUS_WORDS = {"active": "有効", "cancelled": "取消", "draft": "下書き", "entered-in-error": "誤入力",
                "finished": "終了", "in-progress": "診療中", "planned": "予定", "arrived": "来院",
                "billable": "請求可", "not-billable": "請求対象外", "billed": "請求済み", "aborted": "中止",
                "issued": "発行済み", "balanced": "入金済み", "current": "現行", "superseded": "差し替え済み",
                "available": "利用可", "registered": "登録済み"}


def status_word(code: str) -> str:
    return STATUS_WORDS.get(code, code)


def birth_date(value: str) -> str:
    """A birth date as staff expect it: 昭和34年8月5日 (1959-08-05)."""
    try:
        era = wareki(dt.date.fromisoformat(value[:10]))
    except (TypeError, ValueError):
        return value or ""
    return f"{era} ({value[:10]})" if era else value


def insurer_check_digit(first: str) -> str:
    """The check digit of a 保険者番号 (法別番号・都道府県番号・保険者別番号 → 検証番号): from the
    right, weights 2, 1, 2, …; the digits of each product are summed; 10 − (sum mod 10)."""
    total = 0
    for i, ch in enumerate(reversed(first)):
        p = int(ch) * (2 if i % 2 == 0 else 1)
        total += p // 10 + p % 10
    return str((10 - total % 10) % 10)


def _security(label: str | None) -> dict[str, Any]:
    if not label or label == "N":
        return {}
    return {"meta": {"security": [{"system": CONFIDENTIALITY_SYSTEM, "code": label}]}}


def patient(*, mrn: str, family: str, given: str, family_kana: str, given_kana: str, birth_date: str,
            gender: str, label: str | None = None, id: str | None = None, staff: bool = False) -> dict[str, Any]:
    """A Patient with kanji (IDE) and kana (SYL) names and the hospital's 患者ID; `staff`
    tags a member of the hospital's staff (STAFF_TAG)."""
    r: dict[str, Any] = {"resourceType": "Patient", **_security(label),
                         "identifier": [{"system": MRN_SYSTEM, "value": mrn.strip()}],
                         "name": [{"use": "official", "text": f"{family} {given}".strip(), "family": family,
                                   "given": [given], "extension": [{"url": REP, "valueCode": "IDE"}]}],
                         "gender": gender, "birthDate": birth_date}
    if family_kana or given_kana:
        r["name"].append({"use": "official", "text": f"{family_kana} {given_kana}".strip(), "family": family_kana,
                          "given": [given_kana], "extension": [{"url": REP, "valueCode": "SYL"}]})
    if staff:
        r.setdefault("meta", {}).setdefault("tag", []).append(dict(STAFF_TAG))
    if id:
        r["id"] = id
    return r


def coverage(*, patient_id: str, kind: str, insurer: str, symbol: str, number: str, start: str,
             label: str | None = None, id: str | None = None) -> dict[str, Any]:
    """Coverage: 保険者番号 (payor), 記号・番号 (identifier and subscriberId), 保険種別."""
    display = COVERAGE_TYPES.get(kind, (kind, 0))[0]
    r: dict[str, Any] = {
        "resourceType": "Coverage", **_security(label), "status": "active",
        "type": {"coding": [{"system": COVERAGE_TYPE_SYSTEM, "code": kind, "display": display}]},
        "identifier": [{"system": INSURED_SYSTEM, "value": f"{symbol}・{number}" if symbol else number}],
        "subscriberId": f"{symbol}・{number}" if symbol else number,
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "payor": [{"identifier": {"system": INSURER_SYSTEM, "value": insurer}, "display": f"保険者番号 {insurer}"}],
        "period": {"start": start}}
    if id:
        r["id"] = id
    return r


def encounter(*, patient_id: str, start: str, department: str = "", label: str | None = None,
              id: str | None = None) -> dict[str, Any]:
    """An outpatient visit (class AMB) on `start` (ISO dateTime with offset)."""
    r: dict[str, Any] = {
        "resourceType": "Encounter", **_security(label), "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                  "display": "外来"},
        "subject": {"reference": f"Patient/{patient_id}"}, "period": {"start": start}}
    if department:
        r["serviceType"] = {"text": department}
    if id:
        r["id"] = id
    return r


def charge_name(code: str) -> str:
    return CHARGE_CODES.get(code, ("", 0))[0]


def charge_item(*, patient_id: str, code: str, when: str, quantity: int = 1, encounter_id: str | None = None,
                label: str | None = None, id: str | None = None) -> dict[str, Any]:
    """A ChargeItem with its 診療行為コード, 名称 and 点数 (priceOverride in points × 10 円)."""
    name, points = CHARGE_CODES.get(code, ("", 0))
    r: dict[str, Any] = {
        "resourceType": "ChargeItem", **_security(label), "status": "billable",
        "code": {"coding": [{"system": RECEIPT_SYSTEM, "code": code, **({"display": name} if name else {})}],
                 **({"text": name} if name else {})},
        "subject": {"reference": f"Patient/{patient_id}"}, "occurrenceDateTime": when,
        "quantity": {"value": quantity}}
    if points:
        r["priceOverride"] = {"value": points * 10, "currency": "JPY"}
        r["note"] = [{"text": f"{points} 点"}]
    if encounter_id:
        r["context"] = {"reference": f"Encounter/{encounter_id}"}
    if id:
        r["id"] = id
    return r


def invoice(*, patient_id: str, date: str, total_yen: int, charge_ids: Sequence[str] = (), status: str = "issued",
            label: str | None = None, id: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Invoice", **_security(label), "status": status,
        "subject": {"reference": f"Patient/{patient_id}"}, "date": date,
        "totalGross": {"value": total_yen, "currency": "JPY"}}
    if charge_ids:
        r["lineItem"] = [{"sequence": i + 1, "chargeItemReference": {"reference": f"ChargeItem/{c}"}}
                         for i, c in enumerate(charge_ids)]
    if id:
        r["id"] = id
    return r


def document_reference(*, patient_id: str, title: str, date: str, data_b64: str | None = None,
                       url: str | None = None, content_type: str = "application/pdf", description: str = "",
                       label: str | None = None, id: str | None = None) -> dict[str, Any]:
    att: dict[str, Any] = {"contentType": content_type, "title": title}
    if data_b64 is not None:
        att["data"] = data_b64
    if url:
        att["url"] = url
    r: dict[str, Any] = {"resourceType": "DocumentReference", **_security(label), "status": "current",
                         "subject": {"reference": f"Patient/{patient_id}"}, "date": date,
                         "content": [{"attachment": att}]}
    if description:
        r["description"] = description
    if id:
        r["id"] = id
    return r


# -- reading them back --------------------------------------------------------------------
def names_of(resource: dict[str, Any]) -> tuple[str, str]:
    """(kanji, kana) display names of a Patient."""
    kanji = kana = ""
    for n in resource.get("name") or []:
        rep = next((e.get("valueCode") for e in n.get("extension") or [] if e.get("url") == REP), None)
        text = n.get("text") or " ".join([n.get("family") or "", *(n.get("given") or [])]).strip()
        if rep == "SYL":
            kana = kana or text
        else:
            kanji = kanji or text
    return kanji, kana


def display_name(resource: dict[str, Any]) -> str:
    kanji, kana = names_of(resource)
    return kanji or kana or resource.get("id", "")


def _mrn(resource: dict[str, Any]) -> str:
    return next((i.get("value", "") for i in resource.get("identifier") or [] if i.get("system") == MRN_SYSTEM),
                next((i.get("value", "") for i in resource.get("identifier") or []), ""))


def _coding(cc: dict[str, Any] | None) -> str:
    cc = cc or {}
    c = (cc.get("coding") or [{}])[0]
    return " ".join(x for x in (c.get("code", ""), c.get("display") or cc.get("text") or "") if x)


def _date(value: str | None) -> str:
    if not value:
        return ""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return t.strftime("%Y-%m-%d %H:%M") if "T" in value else t.strftime("%Y-%m-%d")


def title_of(resource: dict[str, Any]) -> str:
    """One line naming a resource for lists, headings and printouts."""
    t = resource.get("resourceType")
    if t == "Patient":
        kanji, kana = names_of(resource)
        return f"{kanji}（{kana}）" if kana else kanji
    if t == "Coverage":
        return f"{_coding(resource.get('type')).split(' ', 1)[-1]} {resource.get('subscriberId', '')}".strip()
    if t == "Encounter":
        return f"{_date((resource.get('period') or {}).get('start'))} {(resource.get('serviceType') or {}).get('text', '外来')}"
    if t == "ChargeItem":
        return f"{_date(resource.get('occurrenceDateTime'))} {_coding(resource.get('code'))}"
    if t == "Invoice":
        total = (resource.get("totalGross") or {}).get("value")
        return f"{_date(resource.get('date'))} {'' if total is None else f'{int(total):,} 円'}".strip()
    if t == "DocumentReference":
        att = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
        return f"{_date(resource.get('date'))} {att.get('title', '')}".strip()
    if t == "ImagingStudy":
        return f"{resource.get('started', '')} {resource.get('description', '')}".strip()
    return f"{t}/{resource.get('id', '')}"


def summary_rows(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows a person reads: the screen's record view and the printouts."""
    t = resource.get("resourceType")
    rows: list[tuple[str, str]] = []
    if t == "Patient":
        kanji, kana = names_of(resource)
        rows += [("患者ID", _mrn(resource)), ("氏名", kanji), ("カナ氏名", kana),
                 ("生年月日", birth_date(resource.get("birthDate", ""))),
                 ("性別", GENDERS.get(resource.get("gender", ""), resource.get("gender", "")))]
    elif t == "Coverage":
        payor = (resource.get("payor") or [{}])[0]
        rows += [("保険種別", _coding(resource.get("type")).split(" ", 1)[-1]),
                 ("保険者番号", (payor.get("identifier") or {}).get("value", "")),
                 ("記号・番号", resource.get("subscriberId", "")),
                 ("適用開始", (resource.get("period") or {}).get("start", "")), ("状態", status_word(resource.get("status", "")))]
    elif t == "Encounter":
        rows += [("受診日時", _date((resource.get("period") or {}).get("start"))),
                 ("区分", (resource.get("class") or {}).get("display") or (resource.get("class") or {}).get("code", "")),
                 ("診療科", (resource.get("serviceType") or {}).get("text", "")), ("状態", status_word(resource.get("status", "")))]
    elif t == "ChargeItem":
        qty = (resource.get("quantity") or {}).get("value", 1)
        rows += [("実施日", _date(resource.get("occurrenceDateTime"))), ("診療行為", _coding(resource.get("code"))),
                 ("回数", str(qty)), ("点数", ", ".join(n.get("text", "") for n in resource.get("note") or [])),
                 ("状態", status_word(resource.get("status", "")))]
    elif t == "Invoice":
        total = (resource.get("totalGross") or {}).get("value")
        rows += [("請求日", _date(resource.get("date"))),
                 ("請求額", "" if total is None else f"{int(total):,} 円"),
                 ("明細", str(len(resource.get("lineItem") or []))), ("状態", status_word(resource.get("status", "")))]
    elif t == "DocumentReference":
        att = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
        rows += [("文書日時", _date(resource.get("date"))), ("表題", att.get("title", "")),
                 ("説明", resource.get("description", "")), ("形式", att.get("contentType", "")),
                 ("大きさ", f"{att['size']:,} バイト" if att.get("size") else ""), ("状態", status_word(resource.get("status", "")))]
    elif t == "ImagingStudy":
        rows += [("検査日", resource.get("started", "")), ("説明", resource.get("description", "")),
                 ("モダリティ", ", ".join(m.get("code", "") for m in resource.get("modality") or []))]
    return [(k, v) for k, v in rows if v not in (None, "")]
