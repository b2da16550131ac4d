"""Japanese first: every message the UI shows has a Japanese translation, and the English
catalogue lists the same messages (the English ids are the English text)."""

import re
from pathlib import Path

from babel.messages.pofile import read_po

import kura.web.ui as ui_pkg
from kura.web import errors
from kura.i18n import LOCALE_DIR, gettext_for
from kura.identity import duties as duties_core, lifecycle as lifecycle_core, requests as requests_core
from kura.identity import training as training_core
from kura.registers import inventory as inventory_core, software as software_core
from kura.web.ui import account, accounts, admin, help, inventory, login, peers, registers, render, retention, reviews, software
from kura.reviews.rights import DECISIONS

TEMPLATES = Path(ui_pkg.__file__).parent / "templates"
_CALL = re.compile(r'''_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')''')
_FORM_ERROR = re.compile(r'_page\([^"]*"([A-Z][^"]+)"')


# The core's screens; the records and imaging screens keep their messages in the same
# catalogue (a missing one shows in English until added to the .po files).
OWN_TEMPLATES = [*TEMPLATES.glob("*.html"), *(TEMPLATES / "account").glob("*.html"),
                 *(TEMPLATES / "admin").glob("*.html"), *(TEMPLATES / "audit").glob("*.html"),
                 *(TEMPLATES / "ops").glob("*.html"), *(TEMPLATES / "retention").glob("*.html"),
                 *(TEMPLATES / "registers").glob("*.html"), *(TEMPLATES / "help").glob("*.html"),
                 *(TEMPLATES / "accounts").glob("*.html"), *(TEMPLATES / "reviews").glob("*.html")]
OWN_MODULES = ["login.py", "home.py", "account.py", "admin.py", "audit.py", "render.py", "ops.py", "peers.py",
               "retention.py", "registers.py", "inventory.py", "software.py",
               "accounts.py", "reviews.py"]


def core_messages(*modules) -> set[str]:
    """The fixed messages (Invalid/Conflict with a plain string) a core module raises, which
    its screens show as they are."""
    out = set()
    for m in modules:
        out |= set(re.findall(r'(?:Invalid|Conflict)\("([^"{}]+)"\)', Path(m.__file__).read_text(encoding="utf-8")))
    return out


def ui_messages() -> set[str]:
    ids = set()
    for path in OWN_TEMPLATES:
        ids |= {a or b for a, b in _CALL.findall(path.read_text(encoding="utf-8"))}
    for name in OWN_MODULES:
        ids |= set(_FORM_ERROR.findall((Path(ui_pkg.__file__).parent / name).read_text(encoding="utf-8")))
    ids |= {n.label for n in render.NAV} | {n.hint for n in render.NAV} | {n.read_hint for n in render.NAV if n.read_hint}
    ids |= set(login.NOTICES.values()) | set(account.DONE.values()) | set(admin.DONE.values())
    ids |= set(peers.DONE.values())
    ids |= set(accounts.DONE.values()) | set(accounts.STATES.values()) | set(accounts.KINDS.values())
    ids |= set(accounts.COURSE_STATES.values())
    ids |= set(retention.DONE.values()) | set(retention.STATES.values())
    ids |= set(registers.DONE.values()) | set(registers.REPORTS.values())
    ids |= set(reviews.DONE.values()) | {en for _, en in DECISIONS.values()}
    ids |= set(inventory.DONE.values()) | set(inventory.LABELS.values()) | set(software.DONE.values())
    ids |= {*inventory_core.KINDS.values(), *inventory_core.STATES.values(), *inventory_core.RESULTS.values(),
            *software_core.STATES.values()}
    ids |= core_messages(inventory_core, software_core, requests_core, duties_core, training_core, lifecycle_core)
    ids |= {t.title for t in help.TOPICS}
    ids |= set(errors._TITLES.values())
    ids |= {"Normal", "Restricted", "Very restricted", "completion", "creation"}  # looked up by value
    return ids


def _catalog(lang):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_every_ui_message_has_a_japanese_translation():
    ja = _catalog("ja")
    missing = sorted(m for m in ui_messages() if not (ja.get(m) and ja.get(m).string))
    assert not missing, missing


def test_the_english_catalogue_lists_the_same_messages():
    ja, en = _catalog("ja"), _catalog("en")
    assert {m.id for m in ja if m.id} == {m.id for m in en if m.id}


def test_placeholders_survive_translation():
    ja = _catalog("ja")
    for message in ja:
        if message.id and message.string:
            assert set(re.findall(r"%\(\w+\)s", message.id)) == set(re.findall(r"%\(\w+\)s", message.string)), message.id
    assert gettext_for("ja")("%(n)s entries", n=3) == "3 件"
    assert gettext_for("en")("%(n)s entries", n=3) == "3 entries"


def test_no_message_id_is_listed_twice():
    # a second entry for one id silently replaces the first translation (one wins, both pages
    # show it): give a different meaning its own id instead
    for lang in ("ja", "en"):
        text = (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        ids = re.findall(r'^msgid (".*")\n', text, flags=re.M)
        twice = sorted({i for i in ids if ids.count(i) > 1} - {'""'})
        assert twice == [], f"{lang}: {twice}"
