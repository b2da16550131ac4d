"""What the operations manager's screen shows: destinations and their generations, the
replica's lag, the last scrub and self-check with their findings, disk use and growth, the
ledger's last verification, and the alerts that concern operations. Read-only."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import KuraError
from kura.ledger import service as ledger
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.preservation import generations, replicate
from kura.preservation.destination import Destination
from kura.preservation.vault import known_destinations

__all__ = ["overview", "Overview", "OPS_ALERT_TAGS"]

OPS_ALERT_TAGS = (LedgerTag.OpsRunFailed, LedgerTag.OpsIntegrityFailed)


@dataclasses.dataclass
class Overview:
    destinations: list[dict[str, Any]]
    replica: dict[str, Any] | None
    last: dict[str, LedgerEntry | None]
    alerts: list[LedgerEntry]
    disks: list[dict[str, Any]]
    growth: int | None
    checkpoint: object | None
    ledger_size: int


def _latest(ctx: Context, tag: LedgerTag) -> LedgerEntry | None:
    return ctx.session.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(tag))
                               .order_by(LedgerEntry.seq.desc()).limit(1)).first()


def _disk(label: str, path: Path) -> dict[str, Any] | None:
    try:
        u = shutil.disk_usage(path)
    except OSError:
        return None
    return {"label": label, "path": str(path), "total": u.total, "used": u.used, "free": u.free,
            "percent": round(100 * u.used / u.total) if u.total else 0}


def overview(ctx: Context) -> Overview:
    """Raises Denied without OpsStatusRead."""
    ctx.require(Action.OpsStatusRead, Target(kind="Operations"))
    s = ctx.settings
    dests = []
    replica_path = Path(s.replica_destination) if s.replica_destination else None
    for root in known_destinations(ctx.session, s):
        if replica_path is not None and root == replica_path:
            continue
        entry = {"path": str(root), "configured": str(root) == s.backup_destination, "generations": [], "error": ""}
        try:
            if (root / "KURA-BACKUP").exists() and Destination(root).info().get("kind") == "replica":
                continue
            entry["generations"] = generations.list_generations(root)[:20]
        except (KuraError, OSError) as exc:
            entry["error"] = str(exc)
        dests.append(entry)
    size = ledger.count(ctx.session)
    rep = None
    if replica_path is not None:
        try:
            st = replicate.state(replica_path, ctx.now(), size)
            rep = dataclasses.asdict(st)
        except (KuraError, OSError) as exc:
            rep = {"dest": str(replica_path), "generation": None, "error": str(exc)}
    last = {name: _latest(ctx, tag) for name, tag in (
        ("backup", LedgerTag.OpsBackupCreated), ("replicate", LedgerTag.OpsReplicaSynced),
        ("scrub", LedgerTag.OpsScrubCompleted), ("selfcheck", LedgerTag.OpsSelfcheckCompleted),
        ("verify", LedgerTag.OpsBackupVerified), ("ledger", LedgerTag.AuditLedgerVerified),
        ("drill", LedgerTag.OpsRestoreDrilled))}
    alerts = list(ctx.session.scalars(
        select(LedgerEntry).where(or_(LedgerEntry.tag.in_([str(t) for t in OPS_ALERT_TAGS]),
                                      (LedgerEntry.tag.in_([str(LedgerTag.OpsBackupVerified),
                                                            str(LedgerTag.OpsSelfcheckCompleted)]))
                                      & (LedgerEntry.outcome != 0)))
        .order_by(LedgerEntry.seq.desc()).limit(20)))
    disks = [d for d in [_disk("home", s.home)] + [_disk("backup", Path(str(x["path"]))) for x in dests]
             + ([_disk("replica", replica_path)] if replica_path else []) if d]
    sizes = [json.loads(e.detail or "{}").get("bytes") for e in ctx.session.scalars(
        select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsBackupCreated))
        .order_by(LedgerEntry.seq.desc()).limit(2))]
    growth = sizes[0] - sizes[1] if len(sizes) == 2 and None not in sizes else None
    return Overview(dests, rep, last, alerts, disks, growth, ledger.latest_checkpoint(ctx.session), size)


def detail_of(entry: LedgerEntry | None) -> dict[str, Any]:
    if entry is None:
        return {}
    detail: dict[str, Any] = json.loads(entry.detail or "{}")
    return detail
