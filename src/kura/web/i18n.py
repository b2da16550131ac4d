"""The request's UI language: the `kura_lang` cookie (set by GET /lang/{code}), else
settings.language. The catalogues and their loader are kura.i18n's (the CLI uses them too)."""

from __future__ import annotations

from typing import Any

from kura.i18n import DEFAULT, LANGUAGES, LOCALE_DIR, gettext_for, translations

# LANGUAGES … translations are kura.i18n's, named here too for the screens that import them from here.
__all__ = ["LANG_COOKIE", "language_of", "LANGUAGES", "DEFAULT", "LOCALE_DIR", "gettext_for", "translations"]

LANG_COOKIE = "kura_lang"


def language_of(request: Any, default: str = DEFAULT) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else (default if default in LANGUAGES else DEFAULT)
