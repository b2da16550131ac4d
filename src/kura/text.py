"""Japanese text conventions shared by every store, pure: search normalisation and 和暦.

ヤマダ, やまだ and half-width ﾔﾏﾀﾞ are one name to a clerk; so are ０１２３ and 0123.
NFKC folds half-width katakana (composing ﾀﾞ into ダ), full-width Latin and digits and the
ideographic space; a shift of U+0060 turns hiragana into katakana; case is folded and
spaces and name separators are dropped.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

__all__ = ["normalise", "wareki", "parse_wareki", "ERAS"]

_HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_HIRAGANA_TO_KATAKANA.update({0x309D: 0x30FD, 0x309E: 0x30FE})  # ゝゞ → ヽヾ
_DROP = {ord(c): None for c in " \t\r\n・·.,"}


def normalise(text: str) -> str:
    """The search key of `text`: NFKC, hiragana → katakana, case-folded, spaces removed."""
    text = unicodedata.normalize("NFKC", text or "")
    return text.translate(_HIRAGANA_TO_KATAKANA).casefold().translate(_DROP)


# -- 和暦 (Japanese era dates) -------------------------------------------------------------
# (era, initial, first day): the day each era began (改元日).
ERAS = (("令和", "R", dt.date(2019, 5, 1)), ("平成", "H", dt.date(1989, 1, 8)),
        ("昭和", "S", dt.date(1926, 12, 25)), ("大正", "T", dt.date(1912, 7, 30)),
        ("明治", "M", dt.date(1868, 1, 25)))
_ERA_NUMBER = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\.?\s*(元|\d{1,2})[年./\-]\s*(\d{1,2})[月./\-]\s*(\d{1,2})日?$")


def wareki(day: dt.date) -> str:
    """`day` in the Japanese era calendar: 昭和34年8月5日, 平成元年1月8日. Before 明治: ""."""
    for era, _, first in ERAS:
        if day >= first:
            year = day.year - first.year + 1
            return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return ""


def parse_wareki(text: str) -> dt.date | None:
    """A 和暦 date typed as staff type it — 昭和34年8月5日, S34.8.5, s34/8/5, H1.1.8,
    平成元年1月8日 (full-width digits too) — or None when `text` is not one, or names a
    day outside its era."""
    t = unicodedata.normalize("NFKC", text or "").strip().upper()
    m = _ERA_NUMBER.match(t)
    if not m:
        return None
    era = next(e for e in ERAS if m[1] in (e[0], e[1]))
    year = 1 if m[2] == "元" else int(m[2])
    try:
        day = dt.date(era[2].year + year - 1, int(m[3]), int(m[4]))
    except ValueError:
        return None
    later = [e for e in ERAS if e[2] > era[2]]
    if day < era[2] or (later and day >= later[-1][2]):
        return None
    return day
