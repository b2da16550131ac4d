"""Test data built through the real services (no rows written behind the core's back)."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlparse

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.identity import service as identity
from kura.identity import totp

ADMIN = Subject(id=None, name="test-admin", roles=frozenset({Role.admin, Role.operations, Role.auditor}))
PASSWORD = "correct-horse-42"


@dataclasses.dataclass
class TestUser:
    username: str
    password: str
    secret: str
    id: str
    roles: tuple[str, ...]

    def code(self, clock) -> str:
        return totp.code_at(self.secret, clock.now())


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def make_user(kura, username: str, roles=("clerk",), *, clearance: str = "N",
              password: str = PASSWORD, must_change: bool = False) -> TestUser:
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        user, uri = identity.register(ctx, username=username, display_name=username, roles=list(roles),
                                      clearance=clearance, password=password)
        if not must_change:
            user.must_change_password = False
        uid = user.id
    return TestUser(username, password, secret_of(uri), uid, tuple(roles))


def subject(user: TestUser, clearance: str = "N") -> Subject:
    return Subject(id=user.id, name=user.username, roles=frozenset(Role(r) for r in user.roles),
                   clearance=clearance)
