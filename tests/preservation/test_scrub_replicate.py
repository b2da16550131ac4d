"""scrub (R44, R62), scrub --repair from a replica or backup, and the second medium (R57, R63)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from kura.errors import Denied, Invalid
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation import backup, generations, replicate, scrub
from kura.preservation.deep import deep_check
from kura.records.models import Attachment

from tests.factories import ADMIN
from tests.support.homes import add_image
from tests.support.imaging import NURSE_V


def _entries(kura, tag):
    with kura.sessions() as s:
        return s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag))).all()


def _damage(kura):
    """Flip a byte of the image's blob; delete the attachment's blob."""
    with kura.sessions() as s:
        att = s.scalars(select(Attachment)).first().blob
    image = next(n for n in kura.blobs.names() if n != att)
    path = kura.blobs._path(image)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    kura.blobs.delete(att)
    return image, att


def test_r62_scrub_names_each_mismatch_and_repairs_from_a_backup(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        clean = scrub.scrub(ctx)
    assert clean.ok and clean.objects >= 2 and clean.bytes > 0
    image, att = _damage(kura)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = scrub.scrub(ctx)
    assert not report.ok and len(report.problems) == 2
    assert any("instance" in p for p in report.problems) and any("Binary/" in p for p in report.problems)
    assert _entries(kura, LedgerTag.OpsIntegrityFailed)[-1].alert
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = scrub.scrub(ctx, repair=True, sources=[dest])
    assert report.ok and sorted(report.repaired) == sorted([image, att])
    assert {e.target_id for e in _entries(kura, LedgerTag.OpsObjectRepaired)} == {image, att}
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert deep_check(ctx) == []


def test_r62_repair_refuses_a_copy_its_manifest_did_not_sign(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    image, _ = _damage(kura)
    copy = dest / "blobs" / image[:2] / image[2:4] / image
    os.chmod(copy, 0o600)
    copy.write_bytes(kura.blobs._path(image).read_bytes())  # the same damage in the backup
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = scrub.scrub(ctx, repair=True, sources=[dest])
    assert image not in report.repaired
    assert any("instance" in p for p in report.problems)


def test_r62_scrub_needs_the_operations_role(kura, populated):
    with pytest.raises(Denied), kura.unit_of_work(NURSE_V, "TREAT") as ctx:
        scrub.scrub(ctx)


def test_r63_replica_keeps_one_generation_in_step_incrementally(kura, populated, tmp_path):
    rep = tmp_path / "replica"
    first = replicate.replicate(kura, ADMIN, rep)
    add_image(kura)
    second = replicate.replicate(kura, ADMIN, rep)
    assert second.blobs_new == 1 and first.blobs_new >= 2
    assert [g.name for g in generations.list_generations(rep)] == [second.generation]
    assert generations.verify(None, rep, public_key=kura.signer.public_key).ok
    state = replicate.state(rep, kura.clock.now(), second.ledger_size + 3)
    assert state.generation == second.generation and state.ledger_size == 3
    assert len(_entries(kura, LedgerTag.OpsReplicaSynced)) == 2
    # a replica is a repair source too
    image, att = _damage(kura)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert scrub.scrub(ctx, repair=True, sources=[rep]).ok


def test_r63_a_backup_folder_is_not_taken_for_a_replica(kura, populated, dest):
    backup.create(kura, ADMIN, dest)
    with pytest.raises(Invalid, match="not a replica"):
        replicate.replicate(kura, ADMIN, dest)
    assert len(generations.list_generations(dest)) == 1
