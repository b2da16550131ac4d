"""The operations manager's (運用責任者) screens: backups, replica, scrub, self-check, disk use,
alerts, ledger verification — and "back up now" with live progress.

Long work runs as a background job of this process (kura.preservation.schedule.JOBS); the
page polls its progress as JSON. The preservation core does the access check and writes the
ledger entries; a destination can only be one this home already knows (the configured ones,
and those it has written to), never a path typed into the form.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from kura.access.actions import Action
from kura.access.policy import Target
from kura.audit import service as audit
from kura.errors import Conflict, Invalid, NotFound
from kura.disposal.retention import today
from kura.preservation import status
from kura.preservation.schedule import JOBS
from kura.preservation.vault import known_destinations
from kura.registers import inventory, software
from kura.web.deps import kura_of, work
from kura.web.ui.render import NAV, NavItem, PageDep, fmt_time, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/ops", include_in_schema=False)

PURPOSE = "HOPERAT"
KINDS = {"backup": Action.OpsBackupCreate, "verify": Action.OpsBackupVerify, "replicate": Action.OpsReplicaRun,
         "scrub": Action.OpsScrubRun, "selfcheck": Action.OpsSelfcheckRun, "drill": Action.OpsBackupRestore}
BACKUP_KINDS = ("backup", "verify", "replicate", "drill")  # they name a destination

NAV.append(NavItem("/ops", "Operations", Action.OpsStatusRead, "Operations",
                   "Backups, the second medium, scrub and self-check, disk use, alerts."))


def _size(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@router.get("")
def index(request: Request, auth: PageDep, job: str = "", error: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        view = status.overview(ctx)
        duties = register_duties(ctx)
    running = JOBS.current
    shown = JOBS.get(job) if job else running
    return render(request, "ops/index.html", {
        "o": view, "detail": status.detail_of, "size": _size,
        "iso": lambda t: fmt_time(dt.datetime.fromisoformat(t)) if t else "", "job": shown.view() if shown else None,
        "busy": running is not None, "error": error,
        "replica_path": kura_of(request).settings.replica_destination, **duties})


def register_duties(ctx) -> dict:
    """What the registers ask of operations now (the start and operations pages): the running
    build without an approved software review (§9), overdue inspections and open follow-ups (§7)."""
    version, digest, approval = software.running_status(ctx)
    out: dict = {"software_warning": None if approval else (version, digest), "late": [], "follow": []}
    if ctx.allows(Action.RegisterEntryRead, Target(kind="Equipment")).allowed:
        out["late"] = inventory.overdue(ctx, today(ctx))
        out["follow"] = inventory.open_follow_ups(ctx)
    return out


@router.post("/run")
def run(request: Request, auth: PageDep, kind: Annotated[str, Form(max_length=16)] = "",
        dest: Annotated[str, Form(max_length=4096)] = ""):
    kura = kura_of(request)
    if kind not in KINDS:
        raise Invalid("unknown operation")
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(KINDS[kind], Target(kind="Backup" if kind in BACKUP_KINDS else "Store"))
        if kind in BACKUP_KINDS:
            allowed = {str(p) for p in known_destinations(ctx.session, kura.settings)}
            if kind == "replicate":
                dest = kura.settings.replica_destination
            if not dest or dest not in allowed:
                raise Invalid("choose one of this home's backup destinations (set backup_destination in the config)")
    job = JOBS.start(kura, auth.subject, kind, dest)
    if job is None:
        raise Conflict("another backup, replication or check is running; wait for it to finish")
    return redirect(f"/ops?job={job.id}")


@router.get("/jobs/{job_id}")
def job_state(request: Request, auth: PageDep, job_id: str):
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.OpsStatusRead, Target(kind="Operations"))
    job = JOBS.get(job_id)
    if job is None:
        raise NotFound("no such job")
    return JSONResponse(job.view())


@router.post("/ledger-verify")
def ledger_verify(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        audit.verify(ctx)
    return redirect("/ops#ledger")
