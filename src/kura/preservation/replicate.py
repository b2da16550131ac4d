"""`kura replicate DEST`: a second medium kept in step (regulation §8: 別の媒体にも補助的に記録).

A replica is a backup destination that keeps only its newest generation: each pass writes a
generation the way a backup does (so a replica is verified, signed, encrypted and restorable
like one, and `scrub --repair` can draw on it), then drops the older generation and the blobs
only it named. Each pass copies only what changed; the server runs it every
`replica_interval_minutes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from kura.access.policy import Subject
from kura.preservation import backup
from kura.preservation.destination import Destination
from kura.preservation.generations import collect_blobs
from kura.preservation.ports import App, Progress

__all__ = ["replicate", "ReplicaState", "state"]


def replicate(app: App, actor: Subject | None, dest: Path, *, progress: Progress | None = None) -> backup.BackupResult:
    """One pass. Raises Denied (no OpsReplicaRun), Invalid (DEST is another home's or not a
    replica), Conflict (another run holds DEST), OSError. Ledger: OpsReplicaSynced, or
    OpsRunFailed (an alert)."""
    dest = Path(dest).absolute()
    d = Destination(dest)
    if (dest / "KURA-BACKUP").exists() and d.info().get("kind") != "replica":
        from kura.errors import Invalid
        raise Invalid(f"{dest} holds backup generations, not a replica: give the replica its own folder")
    result = backup.create(app, actor, dest, progress=progress, kind="replica")
    with d.lock():
        for gen in d.generations():
            if gen != result.generation:
                d.remove_tree(d.generations_dir / gen)
        collect_blobs(d, {result.generation})
    return result


@dataclasses.dataclass
class ReplicaState:
    dest: Path
    generation: str | None
    synced_at: dt.datetime | None
    lag_seconds: float | None
    ledger_size: int


def state(dest: Path, now: dt.datetime, ledger_size_now: int) -> ReplicaState:
    """How far behind the replica is: its newest generation's time and ledger size."""
    d = Destination(dest)
    gens = d.generations() if (Path(dest) / "KURA-BACKUP").exists() else []
    if not gens:
        return ReplicaState(Path(dest), None, None, None, 0)
    body = d.manifest(gens[-1]).body
    at = dt.datetime.fromisoformat(body["created_at"])
    return ReplicaState(Path(dest), gens[-1], at, (now - at).total_seconds(),
                        ledger_size_now - body.get("ledger", {}).get("size", 0))
