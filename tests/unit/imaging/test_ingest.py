"""kura.imaging.ingest: group commit of instances from many senders, through two writers at
once (two application objects on one database, as two server processes would be): the
no-overwrite rule holds for concurrent identical and conflicting stores of one SOP Instance
(R36, R41, R60), and a denial is recorded while the rest of its group commits."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import func, select

from kura.app import build
from kura.errors import Denied
from kura.imaging import service as imaging
from kura.imaging.ingest import Sender
from kura.imaging.models import ImagingInstance
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag

from tests.support.imaging import CLERK, TECH, make_dataset, part10, prepare


@pytest.fixture
def writers(kura, settings, clock):
    """Two application objects on one database: two group-commit writers."""
    prepare(kura)
    other = build(settings, clock=clock, blobs=kura.blobs)
    yield kura, other
    other.dispose()


def _all_at_once(writers, payloads, sender):
    """Send every payload, half through each writer, all threads released together."""
    results, start = [None] * len(payloads), threading.Barrier(len(payloads))

    def send(i, data):
        start.wait()
        try:
            results[i] = writers[i % 2].ingest.store(sender, data)
        except Exception as exc:  # noqa: BLE001 — collected and asserted on
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i, d)) for i, d in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _versions(kura, sop_uid):
    with kura.sessions() as s:
        return list(s.scalars(select(ImagingInstance).where(ImagingInstance.sop_uid == sop_uid)
                              .order_by(ImagingInstance.version)))


def _count(kura, tag):
    with kura.sessions() as s:
        return s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.tag == str(tag)))


SENDER = Sender(actor=TECH, origin="test")


def test_r41_concurrent_identical_stores_keep_one_version(writers):
    data = part10(make_dataset())
    results = _all_at_once(writers, [data] * 8, SENDER)
    assert all(not isinstance(r, Exception) and r.stored for r in results), results
    assert sum(not r.duplicate for r in results) == 1
    rows = _versions(writers[0], results[0].sop_uid)
    assert [(r.version, r.current, r.sha256) for r in rows] == [(1, True, hashlib.sha256(data).hexdigest())]
    assert _count(writers[0], LedgerTag.ImagingInstanceStored) == 8  # each store is ledgered


def test_r36_concurrent_conflicting_stores_never_overwrite(writers):
    kura = writers[0]
    ds = make_dataset()
    variants = []
    for k in range(6):
        ds.PixelData = bytes([k]) * len(ds.PixelData)
        variants.append(part10(ds))
    results = _all_at_once(writers, variants, SENDER)
    assert all(not isinstance(r, Exception) and r.stored for r in results), results
    rows = _versions(kura, ds.SOPInstanceUID)
    # every distinct content is a version of its own, none replaced, exactly one current
    assert sorted(r.version for r in rows) == list(range(1, 7))
    assert {r.sha256 for r in rows} == {hashlib.sha256(v).hexdigest() for v in variants}
    assert sum(r.current for r in rows) == 1
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.confirm(ctx, results[0].study_uid)
    confirmed = {r.sha256 for r in _versions(kura, ds.SOPInstanceUID)}

    # once the study is confirmed, conflicting bytes from both writers are refused, as alerts
    late = []
    for k in range(6, 10):
        ds.PixelData = bytes([k]) * len(ds.PixelData)
        late.append(part10(ds))
    refused = _all_at_once(writers, late, SENDER)
    assert all(not isinstance(r, Exception) and r.refused and not r.stored for r in refused), refused
    assert {r.sha256 for r in _versions(kura, ds.SOPInstanceUID)} == confirmed
    assert _count(kura, LedgerTag.ImagingInstanceRefused) == 4


def test_r13_a_denied_sender_is_ledgered_and_its_group_still_commits(writers):
    kura = writers[0]
    allowed = part10(make_dataset())
    denied = part10(make_dataset())
    clerk = Sender(actor=CLERK, origin="test-clerk")
    tickets = [kura.ingest.submit(SENDER, allowed), kura.ingest.submit(clerk, denied)]
    assert kura.ingest.wait(tickets[0]).stored
    with pytest.raises(Denied):
        kura.ingest.wait(tickets[1])
    with kura.sessions() as s:
        denials = list(s.scalars(select(LedgerEntry).where(
            LedgerEntry.tag == str(LedgerTag.AccessRequestDenied))))
    assert [d.actor_name for d in denials] == ["clerk1"]
    with kura.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImagingInstance)) == 1
