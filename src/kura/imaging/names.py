"""DICOM person names (PN) as text, in their three component groups, and their search key.

A Japanese PN carries up to three groups separated by '=': alphabetic (Yamada^Tarou),
ideographic (山田^太郎) and phonetic (やまだ^たろう) (PS3.5 §6.2.1.2). pydicom decodes each
group from the instance's Specific Character Set (ISO 2022 IR 87, ISO_IR 192, …); kura
keeps the decoded text, so whatever the source encoding, the groups come back intact.
The search key uses the same kana normalisation as the records store (kura.text), so
ヤマダ, やまだ and ﾔﾏﾀﾞ match.
"""

from __future__ import annotations

import dataclasses

from pydicom import valuerep

from kura.text import normalise

__all__ = ["PersonName", "split_person_name", "search_key", "normalise"]


@dataclasses.dataclass(frozen=True)
class PersonName:
    alphabetic: str = ""
    ideographic: str = ""
    phonetic: str = ""

    @property
    def full(self) -> str:
        """The PN value as text: groups joined by '=', trailing empty groups dropped."""
        return "=".join([self.alphabetic, self.ideographic, self.phonetic]).rstrip("=")


def split_person_name(value: valuerep.PersonName | str | None) -> PersonName:
    """A pydicom PersonName (or str, or None) as three decoded text groups."""
    if value is None or value == "":
        return PersonName()
    if isinstance(value, valuerep.PersonName):
        return PersonName(str(value.alphabetic or ""), str(value.ideographic or ""),
                          str(value.phonetic or ""))
    parts = (str(value).split("=") + ["", ""])[:3]
    return PersonName(*parts)


def search_key(name: PersonName) -> str:
    """' tok tok …': every component of every group, normalised, plus each group joined
    without separators, so a prefix of the family name, the given name or the whole name
    in any script matches (`LIKE '% ' || q || '%'`)."""
    tokens: list[str] = []
    for group in (name.alphabetic, name.ideographic, name.phonetic):
        parts = [normalise(p) for p in group.split("^") if normalise(p)]
        tokens.extend(parts)
        if len(parts) > 1:
            tokens.append("".join(parts))
    return " " + " ".join(dict.fromkeys(tokens)) if tokens else ""
