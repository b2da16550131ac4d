"""The demo's login page shows each demo account's current code; a real home never does."""

import dataclasses

from kura.identity import totp
from tests.factories import make_user


def test_real_home_shows_no_codes(server, clock):
    make_user(server.kura, "tanaka", ("clerk",))
    with server.client() as c:
        page = c.get("/login")
    assert page.status_code == 200 and "tanaka" not in page.text


def test_demo_home_shows_current_codes(server, clock):
    user = make_user(server.kura, "tanaka", ("clerk",))
    server.kura.settings = dataclasses.replace(server.kura.settings, demo=True)
    with server.client() as c:
        page = c.get("/login")
    assert page.status_code == 200
    assert totp.code_at(user.secret, clock.now()) in page.text and "tanaka" in page.text
