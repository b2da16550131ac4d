"""The `kura` command: Typer app, one module per area, the app built lazily per command.

Exit codes (README): 0 success, 1 a failed check, 2 bad usage. Errors print one line
on stderr. Messages are Japanese first (`_`, the `cli` catalogue in kura/locale): the language
is $KURA_LANG, else the home's settings.language, else ja. --help texts are English.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from kura.errors import Conflict, Denied, IntegrityFailure, Invalid, KuraError, NotFound

__all__ = ["app", "main", "State", "fail", "_", "language"]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="kura (蔵): the hospital's electronic storage for 医事 records and DICOM images.")


class State:
    home: Path = Path("kura-home")

    _kura = None
    _lang: str | None = None

    @classmethod
    def settings(cls, **overrides):
        from kura.config import load_settings
        return load_settings(cls.home, **overrides)

    @classmethod
    def kura(cls, **overrides):
        """Build the app for this command (migrating the database if needed)."""
        from kura.app import build
        if cls._kura is None:
            if not (cls.home / "config.toml").exists():
                fail("%(home)s is not a kura home: run `kura init --admin NAME` first", code=2, home=cls.home)
            cls._kura = build(cls.settings(**overrides))
        return cls._kura


def language() -> str:
    """The CLI's language: $KURA_LANG, else the home's settings.language, else Japanese."""
    from kura.i18n import DEFAULT, LANGUAGES
    lang = os.environ.get("KURA_LANG", "")
    if lang in LANGUAGES:
        return lang
    if State._lang is None:
        State._lang = DEFAULT
        if (State.home / "config.toml").exists():
            try:
                State._lang = State.settings().language
            except (KuraError, OSError):  # a broken config is reported by the command itself
                pass
    return State._lang


def _(message: str, **fields: object) -> str:
    """`message` (an English id) in the CLI's language, its %(name)s fields filled."""
    from kura.i18n import gettext_for
    return gettext_for(language(), "cli")(message, **fields)


def fail(message: str, code: int = 1, **fields: object) -> NoReturn:
    """Print `kura: MESSAGE` (translated, fields filled) on stderr and exit with `code`."""
    typer.echo(f"kura: {_(message, **fields)}", err=True)
    raise typer.Exit(code)


@app.callback()
def _root(home: Annotated[Optional[Path], typer.Option("--home", help="The kura home directory "
          "(default: $KURA_HOME, else ./kura-home).")] = None) -> None:
    State.home = home or Path(os.environ.get("KURA_HOME", "kura-home"))
    State._kura = None
    State._lang = None


def _register() -> None:
    from kura.cli import audit, backup, db, demo, images, key, ops, peers, registers, retention, serve, training, users  # noqa: F401  (each adds its commands to `app`)


def main() -> None:
    _register()
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(f"kura: {_('aborted')}", err=True)
        sys.exit(1)
    except Exception as exc:  # the one place errors become one line
        # Typer carries its own copy of Click; reach its exception classes through a public one.
        usage_error = typer.BadParameter.__mro__[1]
        click_exception = typer.BadParameter.__mro__[2]
        if isinstance(exc, usage_error):
            typer.echo(f"kura: {exc.format_message()}", err=True)  # type: ignore[attr-defined]  # Click's, found at runtime
            sys.exit(2)
        if isinstance(exc, click_exception):
            typer.echo(f"kura: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        # The core's fixed messages read as the screens show them (the `messages` catalogue).
        if isinstance(exc, (Invalid, Conflict)):
            typer.echo(f"kura: {_(str(exc))}", err=True)
            sys.exit(2)
        if isinstance(exc, Denied):
            typer.echo(f"kura: {_('denied: %(reason)s', reason=_(exc.reason))}", err=True)
            sys.exit(1)
        if isinstance(exc, (NotFound, IntegrityFailure, KuraError)):
            typer.echo(f"kura: {_(str(exc))}", err=True)
            sys.exit(1)
        if os.environ.get("KURA_DEBUG"):
            raise
        typer.echo(f"kura: {_('unexpected error: %(error)s', error=f'{type(exc).__name__}: {exc}')}", err=True)
        sys.exit(1)
