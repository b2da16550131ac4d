"""The audit manager's screens: the ledger browser, verification and checkpoints, alerts with
sign-off. Reading the ledger is itself recorded by kura.audit.service (R25)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import select

from kura.audit import service as audit
from kura.errors import Invalid
from kura.ledger.models import Checkpoint
from kura.ledger.service import latest_checkpoint
from kura.ledger.tags import ALERT_TAGS, LedgerTag
from kura.web.deps import work
from kura.web.ui.render import LOCAL_TZ, PageDep, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/audit", include_in_schema=False)

PURPOSE = "HSYSADMIN"
PAGE_SIZE = 50
# Offered in the action filter: each tag area and every tag (a prefix matches its children).
TAG_CHOICES = sorted({t.value.split(":")[0] for t in LedgerTag} | {t.rsplit(":", 1)[0] for t in LedgerTag}
                     | {t.value for t in LedgerTag})

Q = Annotated[str, Query(max_length=200)]


def _when(value: str, field: str) -> dt.datetime | None:
    """A datetime-local value (hospital time) as an aware datetime."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


def _entry(e) -> dict:
    try:
        detail = json.loads(e.detail) if e.detail else {}
    except ValueError:
        detail = e.detail
    return {"seq": e.seq, "at": e.at, "tag": e.tag, "outcome": e.outcome, "actor": e.actor_name,
            "roles": e.roles, "origin": e.origin, "request_id": e.request_id, "purpose": e.purpose,
            "target": f"{e.target_kind}/{e.target_id}" if e.target_id else e.target_kind,
            "patient_id": e.patient_id or "", "digest": e.digest or "", "reason": e.reason,
            "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else "",
            "alert": e.alert, "leaf_hash": e.leaf_hash, "chain_hash": e.chain_hash}


@router.get("")
def ledger(request: Request, auth: PageDep, user: Q = "", tag: Q = "", patient: Q = "",
           since: Q = "", until: Q = "", page: Annotated[int, Query(ge=1, le=100000)] = 1):
    form = {"user": user.strip(), "tag": tag.strip(), "patient": patient.strip(), "since": since, "until": until}
    error = None
    rows, total = [], 0
    try:
        flt = audit.Filter(actor=form["user"], tag=form["tag"], patient_id=form["patient"],
                           since=_when(since, "from"), until=_when(until, "until"))
    except Invalid as exc:
        flt, error = None, str(exc)
    if flt is not None:
        with work(request, auth, PURPOSE) as ctx:
            entries, total = audit.browse(ctx, flt, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            rows = [_entry(e) for e in entries]
    pages = max(1, -(-total // PAGE_SIZE))
    query = {k: v for k, v in form.items() if v}
    return render(request, "audit/ledger.html", {
        "form": form, "rows": rows, "total": total, "page": page, "pages": pages, "error": error,
        "tags": TAG_CHOICES,
        "prev_url": f"/audit?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        "next_url": f"/audit?{urlencode({**query, 'page': page + 1})}" if page < pages else None,
    }, status=400 if error else 200)


@router.get("/integrity")
def integrity(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        entries, _ = audit.browse(ctx, audit.Filter(tag=str(LedgerTag.AuditLedgerVerified)), limit=10)
        runs = [_entry(e) for e in entries]
        # Read after browse() has done the access check (AuditLedgerRead).
        latest = latest_checkpoint(ctx.session)
        checkpoints = list(ctx.session.scalars(
            select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc()).limit(10)))
    return render(request, "audit/integrity.html", {"runs": runs, "latest": latest, "checkpoints": checkpoints})


@router.post("/verify")
def verify(request: Request, auth: PageDep):
    """Runs verification now; its result is a ledger entry, which the integrity page shows."""
    with work(request, auth, PURPOSE) as ctx:
        audit.verify(ctx)
    return redirect("/audit/integrity")


@router.post("/checkpoint")
def checkpoint(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        audit.checkpoint(ctx)
    return redirect("/audit/integrity")


def _alerts_page(request: Request, auth, view: str, error: str | None = None, error_seq: int | None = None,
                 status: int = 200, done: bool = False):
    with work(request, auth, PURPOSE) as ctx:
        found = audit.alerts(ctx, open_only=view != "signed", limit=500)
        rows = [{**_entry(e), "signoff": ({"by": s.by_name, "at": s.at, "note": s.note} if s else None)}
                for e, s in found if view != "signed" or s is not None]
    return render(request, "audit/alerts.html", {"rows": rows, "view": view, "error": error,
                                                 "error_seq": error_seq, "done": done,
                                                 "alert_tags": sorted(ALERT_TAGS)}, status=status)


@router.get("/alerts")
def alerts(request: Request, auth: PageDep, view: Annotated[str, Query(pattern="^(open|signed)$")] = "open",
           done: str = ""):
    return _alerts_page(request, auth, view, done=bool(done))


@router.post("/alerts/{seq}/sign-off")
def sign_off(request: Request, auth: PageDep, seq: int, note: Annotated[str, Form(max_length=2000)] = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            audit.sign_off(ctx, seq=seq, note=note)
    except Invalid as exc:
        return _alerts_page(request, auth, "open", str(exc), seq, 400)
    return redirect("/audit/alerts?done=1")
