"""`kura backup drill DEST`: a restore drill (R59) — restores are tested, not assumed.

The newest generation in DEST is restored into a scratch home inside this home (0700: the
restored keys stay as private as the live ones), opened as a kura of its own, and checked the
way an operator would after a real restore: the whole ledger verifies, every stored version and
object matches its hash (`audit verify --deep`), and the restored ledger is this home's own
history — its last entry carries the chain hash this home's ledger has at that position. Then the
scratch home is deleted. The server runs it on a schedule (`restore_drill_interval_days`); the
result is a ledger entry (OpsRestoreDrilled), a failure also an alert for the operations manager.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.errors import KuraError
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.ports import App, Progress
from kura.i18n import Say, plain

__all__ = ["drill", "DrillResult"]

TARGET = Target(kind="Backup")


@dataclasses.dataclass
class DrillResult:
    dest: Path
    generation: str
    ledger_size: int
    blobs: int
    rows: int
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self, say: Say = plain) -> str:
        head = say("restore drill of %(generation)s from %(dest)s: %(rows)s rows, %(blobs)s blobs, ledger of "
                   "%(entries)s entries, in %(seconds).1f s", generation=self.generation, dest=self.dest,
                   rows=self.rows, blobs=self.blobs, entries=self.ledger_size, seconds=self.seconds)
        if self.ok:
            return head + "; " + say("the restored home verifies (ledger, every stored object) and is this home's history")
        return head + "; " + say("%(n)s problem(s); first: %(first)s", n=len(self.problems), first=self.problems[0])


def drill(app: App, actor: Subject | None, dest: Path, *, progress: Progress | None = None) -> DrillResult:
    """Restore DEST's newest generation into scratch space, check it, delete it. Raises Denied
    (no OpsBackupRestore); a backup that cannot be restored or checked is a failed drill, not an
    exception. Ledger: OpsRestoreDrilled (outcome 0, or 8 and an alert)."""
    from kura.preservation import restore
    from kura.preservation.deep import deep_check

    dest = Path(dest).absolute()
    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.require(Action.OpsBackupRestore, TARGET)
    t0 = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=".drill-", dir=app.settings.home))
    generation, size, blobs, rows = "?", 0, 0, 0
    problems: list[str] = []
    try:
        restored = restore.restore_files(dest, scratch / "home", master_key=app.master_key,
                                         public_key=app.signer.public_key, progress=progress)
        generation, size, blobs = restored.generation, restored.ledger_size, restored.blobs
        rows = sum(restored.tables.values())
        drilled = app.open_home(restored.home)
        try:
            restore.finish(drilled, actor, restored, source=dest)
            with drilled.unit_of_work(actor, "HOPERAT") as ctx:
                from kura.ledger import service as ledger
                verdict = ledger.verify(ctx.session, signer=ctx.signer)
                if not verdict.ok:
                    problems.append(f"restored ledger: {verdict.line()}")
                else:
                    problems.extend(str(p) for p in deep_check(ctx))
        finally:
            drilled.dispose()
        problems.extend(_same_history(app, dest, generation, size))
    except (KuraError, OSError) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = DrillResult(dest, generation, size, blobs, rows, time.monotonic() - t0, problems)
    with app.unit_of_work(actor, "HOPERAT") as ctx:
        ctx.record(LedgerTag.OpsRestoreDrilled, target=Target(kind="Backup", id=generation),
                   outcome=0 if result.ok else 8, reason=result.line()[:500], alert=not result.ok,
                   detail={"dest": str(dest), "generation": generation, "ledger_size": size, "blobs": blobs,
                           "rows": rows, "seconds": round(result.seconds, 2), "problems": problems[:20]})
    return result


def _same_history(app: App, dest: Path, generation: str, size: int) -> list[str]:
    """The generation's ledger head must be this home's ledger at that size (not another home's,
    not a rewritten one)."""
    from kura.preservation.destination import Destination

    chain = Destination(dest).manifest(generation).body.get("ledger", {}).get("chain")
    with app.sessions() as session:
        ours = session.scalar(select(LedgerEntry.chain_hash).where(LedgerEntry.seq == size))
    if ours is None:
        return [f"this home's ledger has no entry {size}: the backup is not of this home's history"]
    if ours != chain:
        return [f"the backup's ledger head differs from this home's entry {size}"]
    return []
