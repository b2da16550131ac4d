"""Runs in the server: scheduled backups, restore drills, replication, scrubs, self-checks and
audit review reports (kura.reviews), and the operations screen's "back up now" — one background
job at a time, each with live progress.

Every run is ledgered by the operation itself (OpsBackupCreated, OpsReplicaSynced,
OpsScrubCompleted, OpsSelfcheckCompleted, OpsRestoreDrilled); a run that fails writes OpsRunFailed, an alert the
operations screen shows. When a job was last run is read from the ledger, so a restart does
not run everything again. At every tick it also disables the accounts whose end date has come
(kura.identity.lifecycle; the login checks it as well, so a stopped scheduler lets no leaver in).
Whether the review report of the last finished period exists is read from the reports themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Denied
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.ports import App

__all__ = ["Job", "Jobs", "Scheduler", "SCHEDULER", "JOB_TAGS", "last_run", "JOBS"]

SCHEDULER = Subject(id=None, name="system:scheduler", roles=frozenset({Role.operations}), clearance="N")

# job kind -> the ledger tag its successful run writes
JOB_TAGS = {"backup": LedgerTag.OpsBackupCreated, "replicate": LedgerTag.OpsReplicaSynced,
            "scrub": LedgerTag.OpsScrubCompleted, "selfcheck": LedgerTag.OpsSelfcheckCompleted,
            "drill": LedgerTag.OpsRestoreDrilled}


@dataclasses.dataclass
class Job:
    id: str
    kind: str
    dest: str
    started_at: dt.datetime
    stage: str = "starting"
    done: int = 0
    total: int | None = None
    finished_at: dt.datetime | None = None
    ok: bool | None = None
    message: str = ""

    def progress(self, stage: str, done: int, total: int | None) -> None:
        self.stage, self.done, self.total = stage, done, total

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "stage": self.stage, "done": self.done, "total": self.total,
                "finished": self.finished_at is not None, "ok": self.ok, "message": self.message}


class Findings(Exception):
    """A scrub or self-check that ran and found problems (already ledgered as an alert)."""


def _run(app: App, actor: Subject | None, kind: str, dest: str, job: Job) -> str:
    from kura.preservation import backup, drill, generations, replicate, scrub, selfcheck

    s = app.settings
    if kind == "backup":
        result = backup.create(app, actor, Path(dest), progress=job.progress)
        with app.unit_of_work(actor, "HOPERAT") as ctx:
            generations.prune(ctx, Path(dest), daily=s.backup_keep_daily, weekly=s.backup_keep_weekly,
                              monthly=s.backup_keep_monthly)
        return result.line()
    if kind == "verify":
        with app.unit_of_work(actor, "HOPERAT") as ctx:
            report = generations.verify(ctx, Path(dest), public_key=app.signer.public_key,
                                        master_key=app.master_key, progress=job.progress)
        if not report.ok:
            raise Findings(report.line())
        return report.line()
    if kind == "drill":
        drilled = drill.drill(app, actor, Path(dest), progress=job.progress)
        if not drilled.ok:
            raise Findings(drilled.line())
        return drilled.line()
    if kind == "replicate":
        return replicate.replicate(app, actor, Path(dest), progress=job.progress).line()
    if kind == "scrub":  # never repairs unattended: the operator chooses the source
        with app.unit_of_work(actor, "HOPERAT") as ctx:
            scrubbed = scrub.scrub(ctx, progress=job.progress)
        if not scrubbed.ok:
            raise Findings(scrubbed.line())
        return scrubbed.line()
    if kind == "review":  # the audit review report of the last finished day or week (R27)
        from kura.reviews import reports
        with app.unit_of_work(reports.REVIEWER, "HSYSADMIN") as ctx:
            made = reports.generate_due(ctx)
            return f"review report {made.id}" if made is not None else "review report exists"
    if kind == "selfcheck":
        with app.unit_of_work(actor, "HOPERAT") as ctx:
            checked = selfcheck.selfcheck(ctx)
        if not checked.ok:
            raise Findings(checked.line())
        return checked.line()
    raise ValueError(kind)


class Jobs:
    """At most one preservation job at a time per process; the last few are kept for the screen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Job | None = None
        self.history: list[Job] = []

    def start(self, app: App, actor: Subject | None, kind: str, dest: str = "", *, wait: bool = False) -> Job | None:
        """Start `kind` in a thread; None when another job is running."""
        with self._lock:
            if self.current is not None:
                return None
            job = Job(uuid.uuid4().hex[:12], kind, dest, dt.datetime.now(dt.timezone.utc))
            self.current = job
        thread = threading.Thread(target=self._work, args=(app, actor, job), name=f"kura-{kind}", daemon=True)
        thread.start()
        if wait:
            thread.join()
        return job

    def _work(self, app: App, actor: Subject | None, job: Job) -> None:
        try:
            job.message = _run(app, actor, job.kind, job.dest, job)
            job.ok = True
        except Findings as exc:  # ledgered by the run as an alert
            job.ok, job.message = False, str(exc)[:300]
        except Exception as exc:  # noqa: BLE001 — shown on the screen; backup/replicate ledgered it
            job.ok, job.message = False, f"{type(exc).__name__}: {exc}"[:300]
            if job.kind in ("scrub", "selfcheck", "drill") and not isinstance(exc, Denied):
                try:
                    run_failed(app, actor, job.kind, job.dest, exc)
                except Exception:  # noqa: BLE001, S110 — the database itself may be what failed
                    pass
        finally:
            job.finished_at = dt.datetime.now(dt.timezone.utc)
            with self._lock:
                self.history = [job, *self.history][:10]
                self.current = None

    def get(self, job_id: str) -> Job | None:
        for job in [self.current, *self.history]:
            if job is not None and job.id == job_id:
                return job
        return None


def run_failed(app: App, actor: Subject | None, what: str, dest: Path | str, exc: BaseException) -> None:
    from kura.preservation.backup import run_failed as ledger_it
    ledger_it(app, actor, what, dest, exc)


def last_run(session: Session, kind: str) -> dt.datetime | None:
    at: dt.datetime | None = session.scalar(select(func.max(LedgerEntry.at)).where(LedgerEntry.tag == str(JOB_TAGS[kind])))
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at


class Scheduler(threading.Thread):
    """Wakes every `tick` seconds and starts the first job that is due (one at a time)."""

    def __init__(self, app: App, jobs: Jobs, *, tick: float = 30.0) -> None:
        super().__init__(name="kura-scheduler", daemon=True)
        self.app, self.jobs, self.tick = app, jobs, tick
        self._stopping = threading.Event()  # not `_stop`: threading.Thread has a method of that name (join() calls it)

    def plan(self) -> list[tuple[str, str, dt.timedelta]]:
        s = self.app.settings
        out: list[tuple[str, str, dt.timedelta]] = []
        if s.replica_destination and s.replica_interval_minutes:
            out.append(("replicate", s.replica_destination, dt.timedelta(minutes=s.replica_interval_minutes)))
        if s.backup_destination and s.backup_interval_hours:
            out.append(("backup", s.backup_destination, dt.timedelta(hours=s.backup_interval_hours)))
        if s.backup_destination and s.restore_drill_interval_days:
            out.append(("drill", s.backup_destination, dt.timedelta(days=s.restore_drill_interval_days)))
        if s.selfcheck_interval_hours:
            out.append(("selfcheck", "", dt.timedelta(hours=s.selfcheck_interval_hours)))
        if s.scrub_interval_hours:
            out.append(("scrub", "", dt.timedelta(hours=s.scrub_interval_hours)))
        return out

    def due(self) -> tuple[str, str] | None:
        from kura.reviews import reports

        now = self.app.clock.now()
        with self.app.sessions() as session:
            for kind, dest, every in self.plan():
                last = last_run(session, kind)
                if last is None or now - last >= every:
                    return kind, dest
            period = reports.due_period(self.app.settings, now)
            if period is not None and not reports.is_done(session, self.app.settings.review_schedule, period[0]):
                return "review", ""
        return None

    def end_accounts(self) -> list[str]:
        """Disable the accounts whose end date (退職・異動) has come. Ledger: AdminUserEnded each."""
        from kura.identity import lifecycle

        with self.app.unit_of_work(lifecycle.SYSTEM, "HSYSADMIN") as ctx:
            return lifecycle.end_due(ctx)

    def run(self) -> None:
        # The first look comes one tick after start: a server started briefly (a test, a
        # restart) does not set off a scrub at once.
        while not self._stopping.wait(self.tick):
            try:
                self.end_accounts()
                if self.jobs.current is None:
                    job = self.due()
                    if job is not None:
                        self.jobs.start(self.app, SCHEDULER, job[0], job[1], wait=True)
            except Exception:  # noqa: BLE001 — the scheduler must outlive one bad run
                time.sleep(self.tick)

    def stop(self) -> None:
        self._stopping.set()


JOBS = Jobs()  # this process's jobs: the scheduler's and the operations screen's
