"""Restore drills (R59): the newest generation is restored into scratch space, checked the way
an operator checks a real restore, and deleted; the result is ledgered, a failure is an alert."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Denied
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation import backup
from kura.preservation.destination import Destination
from kura.preservation.drill import drill
from tests.factories import ADMIN


def _drills(kura) -> list[LedgerEntry]:
    with kura.sessions() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsRestoreDrilled))))


def test_r59_restore_drill_restores_verifies_and_leaves_nothing_behind(kura, populated, dest):
    made = backup.create(kura, ADMIN, dest)
    before = set(os.listdir(kura.settings.home))
    result = drill(kura, ADMIN, dest)
    assert result.ok, result.problems
    assert result.generation == made.generation and result.blobs >= 2 and result.rows > 0
    assert result.ledger_size == made.ledger_size
    assert set(os.listdir(kura.settings.home)) == before  # the scratch home is gone
    [entry] = _drills(kura)
    assert entry.outcome == 0 and not entry.alert and entry.target_id == made.generation


def test_r59_a_drill_of_a_damaged_backup_fails_and_is_an_alert(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    d = Destination(dest)
    gen = d.generations()[-1]
    name = next(iter(d.manifest(gen).body["blobs"]))
    path = d.blob_path(name)
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = drill(kura, ADMIN, dest)
    assert not result.ok
    assert any(name in p for p in result.problems), result.problems
    [entry] = _drills(kura)
    assert entry.outcome == 8 and entry.alert
    assert not [p for p in os.listdir(kura.settings.home) if p.startswith(".drill-")]


def test_r59_a_drill_needs_the_restore_right(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    clerk = Subject(id=None, name="clerk", roles=frozenset({Role.clerk}), clearance="N")
    with pytest.raises(Denied):
        drill(kura, clerk, dest)
    assert _drills(kura) == []
