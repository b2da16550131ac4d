"""In the browser, without the mouse (issue 12): a clerk goes to the search with "/", opens
the first match with Enter, registers a patient by Tab and typing alone and saves with
Enter, and leaves a form with Esc."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.support.records import seed_classes

pytestmark = pytest.mark.browser


def test_clerk_registers_and_finds_a_patient_from_the_keyboard(page, server, clock):
    seed_classes(server.kura)
    clerk = make_user(server.kura, "kibodo", ("clerk",))
    sign_in(page, clerk, clock)
    kb = page.keyboard

    kb.press("/")  # from the start page: to the patient search
    page.wait_for_url("**/patients")
    page.goto("/patients/new")
    assert page.evaluate("document.activeElement.id") == "f-mrn"  # the first field has the focus
    for text in ("00099001", "小川", "直子", "ｵｶﾞﾜ", "なおこ"):
        kb.type(text)
        kb.press("Tab")
    kb.type("S47.3.4")  # 和暦, as it is typed at the counter
    kb.press("Tab")
    focus = page.evaluate("document.activeElement.id")
    assert focus == "f-gender", focus
    kb.press("ArrowDown")  # 性別: from the empty choice to the first sex
    kb.press("ArrowDown")
    assert page.locator("#f-gender").input_value() == "female", page.locator("#f-birth_date").input_value()
    kb.press("Enter")  # Enter saves
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]+\?done=created"))
    facts = page.locator("dl.facts").inner_text()
    assert "オガワ ナオコ" in facts and "昭和47年3月4日 (1972-03-04)" in facts

    page.goto("/patients/new")
    kb.press("Escape")  # Esc cancels
    page.wait_for_url("**/patients")

    # the search field takes the focus once the page has loaded (autofocus runs after the URL changes)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'q'", timeout=5000)
    kb.type("おがわ")
    page.wait_for_selector("#results table.patients >> text=小川 直子")
    page.wait_for_function("() => document.getElementById('results').getAttribute('data-query') === 'おがわ'")
    kb.press("Enter")  # Enter opens the first match
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]+$"))
    assert "小川 直子" in page.locator("h1").inner_text()
