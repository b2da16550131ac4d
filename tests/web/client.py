"""A real HTTP server (uvicorn on a free loopback port) around a fresh kura, and login helpers."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn

from kura.web import create_app
from tests.factories import make_user


class LiveServer:
    def __init__(self, kura):
        self.kura = kura
        self.app = create_app(kura)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("uvicorn did not start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def login(self, user, clock) -> str:
        """Sign in through /api/session with password and the current TOTP code; returns the token.

        Advances the FixedClock one TOTP step first, because a code is accepted only once."""
        clock.advance(seconds=30)
        with self.client() as c:
            r = c.post("/api/session", json={"username": user.username, "password": user.password,
                                             "otp": user.code(clock)})
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(kura):
    live = LiveServer(kura)
    yield live
    live.stop()


@pytest.fixture
def as_role(server, clock):
    """as_role("physician", clearance="R") -> an httpx.Client signed in as a new user of that role."""
    made = []

    def _make(*roles, clearance="N", name=None):
        user = make_user(server.kura, name or f"{'-'.join(roles)}{len(made)}", roles, clearance=clearance)
        client = server.client(server.login(user, clock))
        client.user = user
        made.append(client)
        return client

    yield _make
    for c in made:
        c.close()
