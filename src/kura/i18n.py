"""Languages: Japanese first, English on request (Babel / gettext), for the web UI and the CLI.

Message ids are English; src/kura/locale/<lang>/LC_MESSAGES/<domain>.po holds each
language's catalogue: `messages` for the screens (and the core's messages they show), `cli`
for the command line's own (which falls back to `messages`, so a core error reads the same
in both). The .po files are compiled in memory when first used (babel.messages), so no build
step and no committed .mo can fall out of step with the source catalogue.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import logging
from pathlib import Path
from typing import Callable

from babel.messages import mofile, pofile

__all__ = ["LANGUAGES", "DEFAULT", "DOMAINS", "LOCALE_DIR", "translations", "gettext_for", "Say", "plain"]

LANGUAGES = ("ja", "en")
DEFAULT = "ja"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAINS = ("messages", "cli")
log = logging.getLogger(__name__)

# How the core words a summary for a person: `say("%(n)s files", n=3)`. The core says it in
# English (`plain`, also what the ledger keeps); the CLI passes its catalogue's `_`.
Say = Callable[..., str]


def plain(message: str, **fields: object) -> str:
    """`message` as it is (English), its %(name)s fields filled."""
    return message % fields if fields else message


@functools.cache
def translations(lang: str, domain: str = "messages") -> gettext.NullTranslations:
    """The compiled catalogue for `lang` (NullTranslations — the English ids — when none)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if lang not in LANGUAGES or domain not in DOMAINS or not path.exists():
        return gettext.NullTranslations()
    # babel print()s a malformed entry's warning: into the log, not into a command's output.
    with path.open("rb") as fh, contextlib.redirect_stdout(io.StringIO()) as noise:
        catalog = pofile.read_po(fh, locale=lang, domain=domain)
    for line in noise.getvalue().splitlines():
        log.warning("catalogue %s/%s: %s", lang, domain, line)
    buf = io.BytesIO()
    mofile.write_mo(buf, catalog)
    buf.seek(0)
    t = gettext.GNUTranslations(buf)
    if domain != "messages":
        t.add_fallback(translations(lang, "messages"))
    return t


def gettext_for(lang: str, domain: str = "messages") -> Callable[..., str]:
    """`_("Signed in as %(name)s", name=...)`: translate, then fill named fields."""
    t = translations(lang, domain)

    def _(message: str, **fields: object) -> str:
        text = t.gettext(message)
        return text % fields if fields else text

    return _
