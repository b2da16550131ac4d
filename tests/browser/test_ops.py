"""In the browser: the operations manager presses 今すぐバックアップ, watches the progress, and
sees the new generation on the screen (R54, R59)."""

import dataclasses

import pytest

from kura.preservation import generations
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.support.homes import populate

pytestmark = pytest.mark.browser


def test_operations_backs_up_now_and_sees_the_generation(page, server, clock, tmp_path):
    populate(server.kura)
    dest = tmp_path / "dest"
    server.kura.settings = dataclasses.replace(server.kura.settings, backup_destination=str(dest))
    ops = make_user(server.kura, "unyo", ("operations",))
    sign_in(page, ops, clock)
    page.click("nav.main >> text=運用管理")
    page.wait_for_url("**/ops")
    assert "完了した世代はまだありません" in page.inner_text("#backups")
    page.click("#backups >> text=今すぐバックアップ")
    page.wait_for_url("**/ops?job=*")
    # ops.js polls the job and reloads the page when it is done
    page.wait_for_selector("#job[data-finished=yes]", timeout=60000)
    gen = generations.list_generations(dest)[0].name
    assert gen in page.inner_text("#backups")
    assert "complete" in page.inner_text("#job")
    page.screenshot(path="/tmp/kura-ops.png", full_page=True)
