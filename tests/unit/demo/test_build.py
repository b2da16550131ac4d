"""The whole demo home, every seeder in order, as `kura demo` (the README's first command)
builds it: seeders that pass alone can still collide (two once chose the same patient numbers)."""

from __future__ import annotations

import os

import pytest

from kura.access.console import console_operator
from kura.app import build
from kura.config import load_settings
from kura.demo.seed import SEEDERS, build_home
from kura.ledger import service as ledger


@pytest.mark.skipif(bool(os.environ.get("KURA_TEST_DATABASE_URL")),
                    reason="the demo home is always embedded SQLite: once, in the SQLite run, is enough")
def test_the_whole_demo_home_builds_and_its_ledger_verifies(tmp_path):
    stages: list[str] = []
    build_home(tmp_path / "demo", lambda stage, done, total: stages.append(stage))
    assert len(dict.fromkeys(stages)) == len(SEEDERS)  # every seeder reported progress
    kura = build(load_settings(tmp_path / "demo"))
    try:
        with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            result = ledger.verify(ctx.session, signer=ctx.signer)
        assert result.ok, result.line()
        assert result.entries > 1000
    finally:
        kura.dispose()
