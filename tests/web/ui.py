"""Helpers for the UI tests: an httpx client that behaves like a browser page (HTML Accept,
same-origin fetch metadata, cookies) and signs in through the real login form."""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import httpx

from kura.audit import service as audit
from tests.factories import ADMIN, make_user

BROWSER_HEADERS = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Site": "same-origin"}


def browser(server) -> httpx.Client:
    return server.client(headers=dict(BROWSER_HEADERS), follow_redirects=False)


def form_login(server, clock, user, c: httpx.Client) -> httpx.Client:
    """Sign in through POST /login (password + TOTP); returns the signed-in client."""
    clock.advance(seconds=30)  # a code is accepted once
    r = c.post("/login", data={"username": user.username, "password": user.password,
                               "otp": user.code(clock), "next": "/"})
    assert r.status_code == 303, r.text
    c.user = user
    return c


@contextlib.contextmanager
def page_as(server, clock, *roles, clearance="N", name=None) -> Iterator[httpx.Client]:
    """`with page_as(server, clock, "admin") as c:` — a browser-like client signed in as a new user."""
    user = make_user(server.kura, name or "-".join(roles) + "-ui", roles, clearance=clearance)
    with browser(server) as c:
        yield form_login(server, clock, user, c)


def entries(kura, tag, **flt):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(tag=str(tag), **flt), limit=200)
    return rows


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
