"""Shared fixtures: a fresh, migrated home per test on SQLite or PostgreSQL.

The engine is chosen by $KURA_TEST_DATABASE_URL (a PostgreSQL server URL): unset, every test
runs on SQLite. With it, each test gets its own database cloned from a migrated template.
When PostgreSQL is asked for but unreachable, tests are skipped with a notice — except in
CI ($CI set), where that is an error.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text

from kura.app import build, create_home
from kura.config import load_settings

# Fixtures shared by every directory (tests/support): named here so that no test imports them.
pytest_plugins = ["tests.support.logs"]

# The CLI speaks the home's language, Japanese by default; the tests read its English ids
# (tests/cli/test_cli_language.py checks the Japanese), in this process and in the ones it starts.
os.environ.setdefault("KURA_LANG", "en")

PG_URL = os.environ.get("KURA_TEST_DATABASE_URL", "")
IN_CI = bool(os.environ.get("CI"))


def _pg_admin_url() -> str:
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def db_template(tmp_path_factory, worker_id="master"):
    """A migrated database to copy for each test: a file (SQLite) or a template (PostgreSQL)."""
    root = tmp_path_factory.mktemp("template")
    home = root / "home"
    create_home(home)
    if not PG_URL:
        kura = build(load_settings(home, env="development"))
        kura.dispose()
        yield ("sqlite", home / "kura.db")
        return
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.exit(f"PostgreSQL at {PG_URL} unreachable in CI: {exc}", returncode=3)
        pytest.skip(f"PostgreSQL unreachable ({PG_URL}); PostgreSQL run skipped")
    name = f"kura_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _with_db(_pg_admin_url(), name)
    kura = build(load_settings(home, env="development", database_url=url))
    kura.dispose()
    yield ("postgresql", name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def home(tmp_path, db_template):
    """A fresh kura home: keys, config, and a migrated database of its own."""
    kind, template = db_template
    home = tmp_path / "home"
    create_home(home)
    if kind == "sqlite":
        shutil.copyfile(template, home / "kura.db")
        yield home
        return
    name = f"kura_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    (home / "config.toml").write_text(
        f'[kura]\ndatabase_url = "{_with_db(_pg_admin_url(), name)}"\n', encoding="utf-8")
    yield home
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def clock():
    from kura.clock import FixedClock, SystemClock
    return FixedClock(SystemClock().now().replace(microsecond=0))


@pytest.fixture
def settings(home):
    return load_settings(home, env="development")


@pytest.fixture
def kura(settings, clock):
    app = build(settings, clock=clock)
    yield app
    app.dispose()


@pytest.fixture
def engine_name(kura):
    return kura.engine.dialect.name


from tests.web.client import as_role, server  # noqa: E402,F401  (live HTTP server fixtures)
