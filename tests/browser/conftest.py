"""Playwright (sync API) driving Debian's chromium against the live server fixture."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("KURA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, server):
    context = chromium.new_context(base_url=server.url, locale="ja-JP", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm dialogs: answer yes
    yield page
    context.close()


def sign_in(page, user, clock, *, expect_path: str = "/"):
    """Fill in the login form (user name, password, TOTP code) and submit it."""
    clock.advance(seconds=30)  # a code is accepted once
    page.goto("/login")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.fill("#otp", user.code(clock))
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"**{expect_path}")
