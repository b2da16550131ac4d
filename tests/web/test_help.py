"""操作マニュアル (regulation §15; R81): the help is reachable from every screen, shows the topics
of the user's roles, prints as the operations manual, exists in Japanese and English, and names
only buttons and labels the screens really show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kura.web.i18n import LOCALE_DIR, gettext_for
from kura.web.ui import help
from tests.web.ui import browser, page_as, text_of

# Bold words in the help that are keys or the language switch, not messages of the catalogue.
NOT_MESSAGES = {"/", "Enter", "Esc", "日本語 / English"}


def _source(lang: str, slug: str) -> str:
    return (help.HELP / lang / f"{slug}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_r81_every_topic_in_both_languages_titled_as_listed(lang):
    _ = gettext_for(lang)
    for t in help.TOPICS:
        first = _source(lang, t.slug).splitlines()[0]
        assert first == f"# {_(t.title)}", (lang, t.slug, first)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_r81_help_names_only_labels_the_screens_show(lang):
    """Every **bold** phrase is a button or label: it must be (part of) a message the UI shows
    in that language, so a renamed button makes this fail until the help follows."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    shown = "\n".join(m.string if lang == "ja" else m.id for m in catalog if m.id)
    stray = [(p.name, b) for p in sorted((help.HELP / lang).glob("*.md"))
             for b in re.findall(r"\*\*(.+?)\*\*", p.read_text(encoding="utf-8"))
             if b not in NOT_MESSAGES and b not in shown]
    assert not stray, stray


def test_r81_help_link_on_every_screen_opens_the_topic_of_that_screen(server, clock):
    with browser(server) as anonymous:
        assert anonymous.get("/help").status_code == 303
    with page_as(server, clock, "clerk", name="iji-help") as clerk:
        for path in ("/", "/patients", "/account"):
            assert f'href="/help?from={path.replace("/", "%2F")}"' in clerk.get(path).text
        r = clerk.get("/help", params={"from": "/patients"})
        assert r.status_code == 303 and r.headers["location"] == "/help/patients"
        page = text_of(clerk.get("/help/patients").text)
        assert "患者の登録" in page and "下書きを保存" in page and "同一患者の可能性があります" in page
        index = text_of(clerk.get("/help").text)
        assert "患者の登録" in index and "記録の確定と訂正" in index
        mine = index.split("他の役割の操作")[0]
        assert "バックアップ" not in mine and "検像" not in mine  # other roles' work, listed apart
        assert clerk.get("/help/nothing-here").status_code == 404
        assert clerk.get("/help", params={"from": "//evil.example/ops"}).status_code == 200  # not a redirect
        clerk.cookies.set("kura_lang", "en")
        assert "Registering a patient" in clerk.get("/help/patients").text
    with page_as(server, clock, "operations", name="unyou-help") as ops:
        assert ops.get("/help", params={"from": "/ops"}).headers["location"] == "/help/backup"
        assert ops.get("/help", params={"from": "/registers/inventory/x"}).headers["location"] == "/help/equipment"
        assert "kura backup restore" in ops.get("/help/backup").text


def test_r81_manual_prints_the_users_topics_or_every_role(server, clock):
    with page_as(server, clock, "technologist", name="gishi-help") as tech:
        manual = tech.get("/help/manual").text
        titles = re.findall(r"<h1>(.*?)</h1>", manual)
        assert titles[0] == "kura 操作マニュアル"
        assert "検像 (画像の確認と確定)" in titles and "患者の登録" not in titles
        assert 'id="print-now"' in manual and "/static/help.css" in manual
        everything = re.findall(r"<h1>(.*?)</h1>", tech.get("/help/manual", params={"all": "1"}).text)
        assert len(everything) == 1 + len(help.TOPICS)
    css = (Path(help.__file__).parent.parent / "static" / "help.css").read_text(encoding="utf-8")
    assert "@media print" in css and "page-break-before" in css
