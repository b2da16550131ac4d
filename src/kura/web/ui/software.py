"""ソフトウェア審査 (regulation §9): submit the running build of kura for review (the self-check
runs and its SBOM is kept), approve or refuse it, and download a review's SBOM. The core
(kura.registers.software) checks access and writes the ledger."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, Invalid
from kura.registers import software
from kura.web.deps import work
from kura.web.ui.render import PageDep, redirect, render

__all__ = ["router", "DONE"]

router = APIRouter(prefix="/registers", include_in_schema=False)
PURPOSE = "HOPERAT"

DONE = {"submitted": "The running version has been submitted for review.",
        "approved": "The version has been approved for use.", "refused": "The version has been refused."}

Long = Annotated[str, Form(max_length=4000)]


def _page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = software.list_reviews(ctx)
        version, digest, approval = software.running_status(ctx)
        may_submit = ctx.allows(Action.OpsSelfcheckRun, Target(kind="Software")).allowed
        may_decide = ctx.allows(Action.OpsSoftwareApprove, Target(kind="Software")).allowed
    return render(request, "registers/software.html",
                  {"rows": [(r, json.loads(r.anomalies or "[]")) for r in rows], "version": version,
                   "digest": digest, "approval": approval, "may_submit": may_submit, "may_decide": may_decide,
                   "states": software.STATES, "done": DONE.get(done), "error": error}, status=status)


@router.get("/software")
def review_list(request: Request, auth: PageDep, done: str = ""):
    return _page(request, auth, done=done)


@router.post("/software")
def review_submit(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        software.submit(ctx)
    return redirect("/registers/software?done=submitted")


@router.post("/software/{review_id}/{decision}")
def review_decide(request: Request, auth: PageDep, review_id: str, decision: str, comment: Long = ""):
    if decision not in ("approve", "refuse"):
        raise Invalid("unknown decision")
    try:
        with work(request, auth, PURPOSE) as ctx:
            if decision == "approve":
                software.approve(ctx, review_id, comment=comment)
            else:
                software.refuse(ctx, review_id, comment=comment)
    except (Invalid, Conflict) as exc:
        return _page(request, auth, error=str(exc), status=409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/registers/software?done={'approved' if decision == 'approve' else 'refused'}")


@router.get("/software/{review_id}/sbom")
def review_sbom(request: Request, auth: PageDep, review_id: str):
    with work(request, auth, PURPOSE) as ctx:
        r = software.get(ctx, review_id)
        data = software.sbom(ctx, review_id)
        name = f"kura-{r.version}-{r.files_digest[:12]}.cdx.json"
    return Response(data, media_type="application/vnd.cyclonedx+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
