"""The server's schedules (R54: backups at least daily; R62, R67: periodic checks): each run is
a ledger entry, a failure is an alert for the operations manager."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation import generations
from kura.preservation.schedule import Jobs, Scheduler


def test_r54_scheduler_runs_what_is_due_and_each_run_is_ledgered(kura, populated, dest, tmp_path, clock):
    kura.settings = dataclasses.replace(kura.settings, backup_destination=str(dest),
                                        replica_destination=str(tmp_path / "replica"))
    jobs = Jobs()
    sched = Scheduler(kura, jobs)
    ran = []
    while (due := sched.due()) is not None:
        job = jobs.start(kura, sched_actor(), *due, wait=True)
        assert job.ok, job.message
        ran.append(due[0])
    assert ran == ["replicate", "backup", "drill", "selfcheck", "scrub", "review"]  # review: R27, the day before
    assert len(generations.list_generations(dest)) == 1
    clock.advance(minutes=16)
    assert sched.due() == ("replicate", str(tmp_path / "replica"))
    clock.advance(hours=24)
    jobs.start(kura, sched_actor(), *sched.due(), wait=True)
    assert sched.due()[0] == "backup"


def test_r54_a_failed_scheduled_run_is_an_alert(kura, populated, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file")
    kura.settings = dataclasses.replace(kura.settings, backup_destination=str(blocked))
    jobs = Jobs()
    job = jobs.start(kura, sched_actor(), "backup", str(blocked), wait=True)
    assert job.ok is False and job.message
    with kura.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsRunFailed))).one()
    assert entry.alert and entry.actor_name == "system:scheduler"
    # one job at a time
    assert jobs.current is None


def sched_actor():
    from kura.preservation.schedule import SCHEDULER
    return SCHEDULER


def test_a_stopped_scheduler_can_be_joined(kura):
    sched = Scheduler(kura, Jobs(), tick=0.05)
    sched.start()
    sched.stop()
    sched.join(timeout=10)  # Thread.join calls Thread._stop: an attribute of that name broke it
    assert not sched.is_alive()
