"""Helpers every CLI module shares: reading a password safely."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from kura.cli import _, fail

__all__ = ["read_password"]


def read_password(path: Path | None, *, confirm: bool = True) -> str:
    """The password from the first line of `path`, else a terminal prompt, else stdin's first line.

    Never from the command line (README).
    """
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            fail("cannot read password file %(path)s: %(reason)s", code=2, path=path, reason=exc.strerror)
        if not lines or not lines[0]:
            fail("password file %(path)s is empty", code=2, path=path)
        return lines[0]
    if sys.stdin.isatty():
        first = getpass.getpass(_("Password: "))
        if confirm and getpass.getpass(_("Password (again): ")) != first:
            fail("the passwords differ", code=2)
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("no password given: use --password-file F or type it at the prompt", code=2)
    return line

