"""Search normalisation for Japanese names and identifiers, shared by every store. Pure.

ヤマダ, やまだ and half-width ﾔﾏﾀﾞ are one name to a clerk; so are ０１２３ and 0123.
NFKC folds half-width katakana (composing ﾀﾞ into ダ), full-width Latin and digits and the
ideographic space; a shift of U+0060 turns hiragana into katakana; case is folded and
spaces and name separators are dropped.
"""

from __future__ import annotations

import unicodedata

__all__ = ["normalise"]

_HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_HIRAGANA_TO_KATAKANA.update({0x309D: 0x30FD, 0x309E: 0x30FE})  # ゝゞ → ヽヾ
_DROP = {ord(c): None for c in " \t\r\n・·.,"}


def normalise(text: str) -> str:
    """The search key of `text`: NFKC, hiragana → katakana, case-folded, spaces removed."""
    text = unicodedata.normalize("NFKC", text or "")
    return text.translate(_HIRAGANA_TO_KATAKANA).casefold().translate(_DROP)
