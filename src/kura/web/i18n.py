"""UI languages: Japanese first, English on request (Babel / gettext).

Message ids are English; src/kura/web/locale/<lang>/LC_MESSAGES/messages.po holds each
language's catalogue. The .po files are compiled in memory when first used (babel.messages),
so no build step and no committed .mo can fall out of step with the source catalogue.
The language is the `kura_lang` cookie (set by GET /lang/{code}), else settings.language.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path
from typing import Callable

from babel.messages import mofile, pofile

__all__ = ["LANGUAGES", "LANG_COOKIE", "DEFAULT", "translations", "gettext_for", "language_of", "LOCALE_DIR"]

LANGUAGES = ("ja", "en")
DEFAULT = "ja"
LANG_COOKIE = "kura_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue for `lang` (NullTranslations — the English ids — when none)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang not in LANGUAGES or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = pofile.read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    mofile.write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(lang: str) -> Callable[..., str]:
    """`_("Signed in as %(name)s", name=...)`: translate, then fill named fields."""
    t = translations(lang)

    def _(message: str, **fields) -> str:
        text = t.gettext(message)
        return text % fields if fields else text

    return _


def language_of(request, default: str = DEFAULT) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else (default if default in LANGUAGES else DEFAULT)
