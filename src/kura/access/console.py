"""The console operator: the person at the server's console who runs `kura` commands.

It may exist because the CLI only runs on the server, as the local account that owns the
home — the keys are files of mode 0600 that only that account can read, so whoever can run
the CLI against a home already holds everything the home holds. Giving that person the
administrative roles (admin, operations, auditor) says so plainly and ledgers what they do
under their login name. None of those roles reads 医事 records or images (R17): a clinical
read needs a user who signs in, not the console.
"""

from __future__ import annotations

import os

from kura.access.policy import Subject
from kura.access.roles import Role

__all__ = ["console_operator", "CONSOLE_ROLES"]

CONSOLE_ROLES = frozenset({Role.admin, Role.operations, Role.auditor})


def console_operator() -> Subject:
    """The console operator, named after the login that runs the command (`console:NAME`)."""
    name = os.environ.get("SUDO_USER") or os.environ.get("USER") or "operator"
    return Subject(id=None, name=f"console:{name}", roles=CONSOLE_ROLES, clearance="N")
