"""The entry forms of the 医事 screens: fields per record type, form → FHIR, FHIR → form.

Translation only (STYLE.md §5): the resources are built by kura.records.resources, checked
and stored by kura.records.service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from typing import Any

from kura.errors import Invalid
from kura.records import patients
from kura.text import parse_wareki
from kura.records import resources as R

__all__ = ["Field", "FORMS", "KINDS", "build", "values_of", "LABELS"]

LABELS = (("N", "Normal"), ("R", "Restricted"), ("V", "Very restricted"))


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    label: str  # English message id
    type: str = "text"  # text, date, datetime-local, number, select, file, textarea
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    attrs: str = ""


# No default: the first option is empty and the field required (a default sex was once saved unseen).
_GENDERS = (("", "Choose…"), ("male", "Male"), ("female", "Female"), ("other", "Other"), ("unknown", "Unknown"))
_COVERAGE = tuple((k, v[0]) for k, v in R.COVERAGE_TYPES.items())
_CODES = tuple((k, f"{k} {name} ({points} 点)") for k, (name, points) in R.CHARGE_CODES.items())
_LABEL = Field("label", "Confidentiality", "select", True, LABELS,
               "R/V: only users with that clearance (or break-glass) may read it.")
# 職員患者: the audit review lists every access to them (kura.reviews).
_STAFF = Field("staff", "Staff member of this hospital", "select", False, (("", "No"), ("yes", "Yes")),
               "Access to a staff member's records is listed in the audit review report.")

FORMS: dict[str, list[Field]] = {
    "Patient": [
        Field("mrn", "Patient ID", hint="The hospital's 患者ID, e.g. 00012345", attrs='inputmode="numeric"'),
        Field("family", "Family name (kanji)"), Field("given", "Given name (kanji)"),
        Field("family_kana", "Family name (kana)", hint="Katakana or hiragana (half-width too), e.g. ヤマダ",
              attrs='autocomplete="off"'),
        Field("given_kana", "Given name (kana)", hint="e.g. タロウ", attrs='autocomplete="off"'),
        # Text, not a date picker: typed in one go, in 和暦 or Western form (S47.3.4, 1972-03-04).
        Field("birth_date", "Birth date", hint="e.g. 1972-03-04 or S47.3.4 (和暦)", attrs='autocomplete="off"'), Field("gender", "Gender", "select", True, _GENDERS), _LABEL,
        _STAFF,
    ],
    "Coverage": [
        Field("kind", "Insurance type", "select", True, _COVERAGE),
        Field("insurer", "Insurer number", hint="保険者番号: 8 digits (国保: 6 digits)", attrs='inputmode="numeric"'),
        Field("symbol", "Symbol", required=False, hint="記号"), Field("number", "Number", hint="番号"),
        Field("start", "Valid from", "date"),
    ],
    "Encounter": [
        Field("start", "Visit date and time", "datetime-local"),
        Field("department", "Department", required=False, hint="e.g. 内科"),
    ],
    "ChargeItem": [
        Field("code", "Procedure (診療行為)", "select", True, _CODES),
        Field("when", "Date performed", "date"),
        Field("quantity", "Count", "number", attrs='min="1" max="99"'),
    ],
    "Invoice": [
        Field("date", "Invoice date", "date"),
        Field("total_yen", "Amount (yen)", "number", attrs='min="0"'),
        Field("status", "Status", "select", True, (("issued", "Issued"), ("balanced", "Paid"), ("draft", "Draft"))),
    ],
    "DocumentReference": [
        Field("title", "Title", hint="e.g. 紹介状"),
        Field("date", "Document date and time", "datetime-local"),
        Field("description", "Description", "textarea", required=False),
        Field("file", "File (PDF or image)", "file", required=False, attrs='accept="application/pdf,image/*"'),
        _LABEL,
    ],
}
KINDS = {"coverage": "Coverage", "encounter": "Encounter", "charge": "ChargeItem", "invoice": "Invoice",
         "document": "DocumentReference"}


def _local(value: str) -> str:
    """A datetime-local value (hospital time) as a FHIR dateTime with +09:00."""
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"not a date and time: {value!r}") from None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "+09:00"


def _to_local(value: str | None) -> str:
    if not value:
        return ""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if t.tzinfo:
        t = t.astimezone(dt.timezone(dt.timedelta(hours=9)))
    return t.strftime("%Y-%m-%dT%H:%M")


def _int(value: str, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise Invalid(f"{name}: not a number") from None


def build(rtype: str, v: dict[str, str], *, patient_id: str | None, attachment: dict | None = None,
          id: str | None = None) -> dict:
    """The FHIR resource for the form values `v` (checked for required fields here; the
    store validates the resource against FHIR R4)."""
    for f in FORMS[rtype]:
        if f.required and f.type != "file" and not str(v.get(f.name, "")).strip():
            raise Invalid(f"Fill in: {f.label}")
    s = {k: str(x).strip() for k, x in v.items()}
    if rtype == "Patient":
        s["birth_date"] = birth_date(s["birth_date"])
        return R.patient(mrn=s["mrn"], family=s["family"], given=s["given"], family_kana=patients.kana(s["family_kana"]),
                         given_kana=patients.kana(s["given_kana"]), birth_date=s["birth_date"], gender=s["gender"],
                         label=s.get("label"), id=id, staff=s.get("staff") == "yes")
    if rtype == "Coverage":
        if not s["insurer"].isdigit() or len(s["insurer"]) not in (6, 8):
            raise Invalid("the insurer number (保険者番号) is 6 or 8 digits")
        return R.coverage(patient_id=patient_id, kind=s["kind"], insurer=s["insurer"], symbol=s["symbol"],
                          number=s["number"], start=s["start"], id=id)
    if rtype == "Encounter":
        return R.encounter(patient_id=patient_id, start=_local(s["start"]), department=s.get("department", ""),
                           id=id)
    if rtype == "ChargeItem":
        if s["code"] not in R.CHARGE_CODES:
            raise Invalid(f"unknown procedure code {s['code']!r}")
        return R.charge_item(patient_id=patient_id, code=s["code"], when=s["when"],
                             quantity=_int(s.get("quantity") or "1", "quantity"), id=id)
    if rtype == "Invoice":
        return R.invoice(patient_id=patient_id, date=s["date"], total_yen=_int(s["total_yen"], "total_yen"),
                         status=s.get("status") or "issued", id=id)
    if rtype == "DocumentReference":
        att = attachment or {}
        return R.document_reference(patient_id=patient_id, title=s["title"], date=_local(s["date"]),
                                    description=s.get("description", ""), data_b64=att.get("data"),
                                    url=att.get("url"), content_type=att.get("contentType") or "application/pdf",
                                    label=s.get("label"), id=id)
    raise Invalid(f"no form for {rtype}")


_WESTERN = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")


def birth_date(typed: str) -> str:
    """A birth date typed as staff type it — 1972-03-04, 1972/3/4, 19720304, S47.3.4,
    昭和47年3月4日 — as YYYY-MM-DD. Raises Invalid."""
    day = parse_wareki(typed)
    if day is None:
        m = _WESTERN.match(unicodedata.normalize("NFKC", typed).strip())
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
        except ValueError:
            day = None
    if day is None:
        raise Invalid(NOT_A_DATE)
    return day.isoformat()


NOT_A_DATE = "The birth date is not a date (e.g. 1972-03-04 or S47.3.4)."


def values_of(resource: dict, label: str = "N") -> dict[str, Any]:
    """The form values that show `resource` for editing."""
    t = resource.get("resourceType")
    if t == "Patient":
        out: dict[str, Any] = {"label": label, "birth_date": resource.get("birthDate", ""),
                               "gender": resource.get("gender", ""),
                               "staff": "yes" if any(t.get("system") == R.PATIENT_FLAG_SYSTEM and t.get("code") == "staff"
                                                     for t in (resource.get("meta") or {}).get("tag") or []) else ""}
        out["mrn"] = next((i.get("value", "") for i in resource.get("identifier") or []), "")
        for n in resource.get("name") or []:
            rep = next((e.get("valueCode") for e in n.get("extension") or [] if e.get("url") == R.REP), "IDE")
            sfx = "_kana" if rep == "SYL" else ""
            out["family" + sfx] = n.get("family", "")
            out["given" + sfx] = " ".join(n.get("given") or [])
        return out
    if t == "Coverage":
        sym, _, num = (resource.get("subscriberId") or "").partition("・")
        payor = (resource.get("payor") or [{}])[0]
        return {"kind": ((resource.get("type") or {}).get("coding") or [{}])[0].get("code", ""),
                "insurer": (payor.get("identifier") or {}).get("value", ""), "symbol": sym, "number": num,
                "start": (resource.get("period") or {}).get("start", "")}
    if t == "Encounter":
        return {"start": _to_local((resource.get("period") or {}).get("start")),
                "department": (resource.get("serviceType") or {}).get("text", "")}
    if t == "ChargeItem":
        return {"code": ((resource.get("code") or {}).get("coding") or [{}])[0].get("code", ""),
                "when": (resource.get("occurrenceDateTime") or "")[:10],
                "quantity": (resource.get("quantity") or {}).get("value", 1)}
    if t == "Invoice":
        return {"date": (resource.get("date") or "")[:10],
                "total_yen": (resource.get("totalGross") or {}).get("value", ""),
                "status": resource.get("status", "issued")}
    if t == "DocumentReference":
        att = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
        return {"title": att.get("title", ""), "date": _to_local(resource.get("date")),
                "description": resource.get("description", ""), "label": label}
    return {}
