"""The rules of a patient's registration (患者登録) that FHIR alone does not state.

A kana name (JP Core SYL) holds kana only — else the patient can never be found by kana;
a birth date is not in the future; the sex is stated, never defaulted. A likely duplicate
(the same kana name and birth date) is found before a second registration is saved.
Messages are English message ids; the screens translate them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import zoneinfo
from typing import Any

from kura.errors import Invalid
from kura.operation import Context
from kura.records.reads import search
from kura.records.store import Version
from kura.text import normalise

__all__ = ["kana", "check_patient", "likely_duplicates", "today_of", "KANA_ONLY", "FUTURE_BIRTH", "NO_SEX"]

KANA_ONLY = "The kana name may contain kana only (katakana or hiragana)."
FUTURE_BIRTH = "The birth date is in the future."
NO_SEX = "Choose the sex."

_REP = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
# Full-width katakana after NFKC and hiragana → katakana, the long-vowel mark, the middle
# dot and spaces between family and given names.
_KANA = re.compile(r"[\u30A1-\u30FA\u30FC\u30FD\u30FE・ 　]+")
_HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_JST = zoneinfo.ZoneInfo("Asia/Tokyo")


def kana(value: str) -> str:
    """`value` as full-width katakana: half-width ﾀｶﾊｼ and hiragana たかはし both become
    タカハシ (NFKC, as kura.text). Raises Invalid(KANA_ONLY) for anything but kana."""
    text = unicodedata.normalize("NFKC", value or "").translate(_HIRAGANA_TO_KATAKANA).strip()
    text = re.sub(r"[ 　]+", " ", text)
    if text and not _KANA.fullmatch(text):
        raise Invalid(KANA_ONLY)
    return text


def _kana_names(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in resource.get("name") or []
            if any(e.get("url") == _REP and e.get("valueCode") == "SYL" for e in n.get("extension") or [])]


def check_patient(resource: dict[str, Any], *, today: dt.date) -> None:
    """A Patient's registration rules. Raises Invalid (KANA_ONLY, FUTURE_BIRTH, NO_SEX)."""
    for name in _kana_names(resource):
        for part in [name.get("family") or "", *(name.get("given") or []), name.get("text") or ""]:
            kana(part)
    birth = resource.get("birthDate") or ""
    if birth and birth[:10] > today.isoformat():
        raise Invalid(FUTURE_BIRTH)
    if not resource.get("gender"):
        raise Invalid(NO_SEX)


def today_of(ctx: Context) -> dt.date:
    """The hospital's date (JST) at the unit of work's clock."""
    return ctx.now().astimezone(_JST).date()


def likely_duplicates(ctx: Context, resource: dict[str, Any]) -> list[Version]:
    """Registered patients with the same kana name and birth date as `resource` (current
    versions the caller may see). Ledger: RecordsRecordSearched (the look-up)."""
    names = _kana_names(resource)
    birth = resource.get("birthDate") or ""
    if not names or not birth:
        return []
    n = names[0]
    key = normalise(" ".join([n.get("family") or "", *(n.get("given") or [])]))
    if not key:
        return []
    page = search(ctx, "Patient", [("birthdate", birth[:10]), ("_count", "50")])
    out = []
    for v in page.versions:
        if v.id == resource.get("id"):
            continue
        for other in _kana_names(v.resource()):
            if normalise(" ".join([other.get("family") or "", *(other.get("given") or [])])) == key:
                out.append(v)
                break
    return out


# -- for the audit review (kura.reviews): patient ids from the index, no record opened -------
def staff_patient_ids(ctx: Context) -> set[str]:
    """The ids of Patients tagged as staff (resources.STAFF_TAG), from the search index.
    Reads no content, names no one; the caller has done its own access check."""
    from sqlalchemy import select

    from kura.records.fhir.params import FLAG_SYSTEM
    from kura.records.models import Record, SearchToken

    rows = ctx.session.scalars(select(Record.logical_id).join(SearchToken, SearchToken.record_pk == Record.pk)
                               .where(SearchToken.rtype == "Patient", SearchToken.param == "flag",
                                      SearchToken.system == FLAG_SYSTEM, SearchToken.value == "staff"))
    return set(rows)


def patient_ids_named(ctx: Context, parts: list[str]) -> set[str]:
    """The ids of Patients one of whose name parts (family, given, kanji or kana) is exactly
    one of `parts` after normalisation — compared as blind tokens (the `name:exact` index), so
    no record is opened and no name is read. The caller has done its own access check."""
    from sqlalchemy import select

    from kura.records.models import Record, SearchString
    from kura.records.store import blinder

    blind = blinder(ctx)
    tokens = {blind("Patient.name=", normalise(p)[:200]) for p in parts if normalise(p)}
    if not tokens:
        return set()
    rows = ctx.session.scalars(select(Record.logical_id).join(SearchString, SearchString.record_pk == Record.pk)
                               .where(SearchString.rtype == "Patient", SearchString.param == "name",
                                      SearchString.value.in_(tokens)))
    return set(rows)
