"""監査レビュー報告 and ID・権限の棚卸 on screen: the audit manager's review reports (R27) and
the system administrator's rights review (R11). Each page calls one kura.reviews service in
the request's unit of work; the services check access and write the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from kura.access.actions import Action
from kura.access.policy import Target
from kura.access.purpose import Purpose
from kura.errors import Conflict, Invalid, SamePerson
from kura.oversight import lookup
from kura.reviews import findings as F
from kura.reviews import reports, rights
from kura.web.deps import kura_of, work
from kura.web.ui.render import LOCAL_TZ, PageDep, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/reviews", include_in_schema=False)
PURPOSE = Purpose.HSYSADMIN

Text = Annotated[str, Form(max_length=4000)]
Day = Annotated[str, Form(max_length=10)]
DONE = {"generated": "The review report has been made.", "signed": "The review report has been signed off.",
        "started": "The rights review has been started.", "marked": "The decision has been recorded.",
        "review-signed": "The rights review has been signed off."}


def _day(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{field}: not a date") from None


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}.pdf"', "Cache-Control": "no-store"})


def _sig(line: str, name: str) -> Response:
    return Response(line + "\n", media_type="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{name}.sig"', "Cache-Control": "no-store"})


# -- review reports (audit manager) -------------------------------------------------------------
def _reports_page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = reports.list_reports(ctx)
        may = ctx.allows(Action.AuditReportGenerate, Target(kind="ReviewReport")).allowed
    yesterday = (kura_of(request).clock.now().astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)).isoformat()
    listed = [{"row": r, "counts": _counts(json.loads(r.findings or "[]"))} for r in rows]
    return render(request, "reviews/reports.html", {
        "rows": listed, "may_generate": may, "names": F.KIND_NAMES, "yesterday": yesterday, "kinds": reports.KIND_JA,
        "done": DONE.get(done), "error": error}, status=status)


def _counts(found: list[dict]) -> dict[str, int]:
    return {k: n for k in F.KINDS if (n := sum(1 for f in found if f["kind"] == k))}


@router.get("/reports")
def reports_page(request: Request, auth: PageDep, done: str = ""):
    return _reports_page(request, auth, done=done)


@router.post("/reports")
def generate(request: Request, auth: PageDep, since: Day = "", until: Day = ""):
    try:
        first, last = _day(since, "from"), _day(until, "until")
        start = dt.datetime.combine(first, dt.time(), tzinfo=LOCAL_TZ)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ)
        with work(request, auth, PURPOSE) as ctx:
            row = reports.generate(ctx, start=start, end=end)
            report_id = row.id
    except Invalid as exc:
        return _reports_page(request, auth, error=str(exc), status=400)
    return redirect(f"/reviews/reports/{report_id}?done=generated")


def _report_page(request: Request, auth, report_id: str, *, done: str = "", error: str | None = None,
                 status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        row = reports.get(ctx, report_id)
        may = ctx.allows(Action.AuditReportSignoff, Target(kind="ReviewReport")).allowed
        me = ctx.actor.name if ctx.actor else ""
        found = reports.findings_of(row)
        # the patients shown (the first few of each finding) by number and name, as the
        # ledger screens show them; each one shown is itself a ledger entry (lookup)
        shown = [p for f in found for p in (f.get("patients") or [])[:5]]
        names = ({i: ref.label for i, ref in lookup.patients_of(ctx, shown, why="review report").items()}
                 if shown and ctx.allows(Action.AuditPatientIdentify, Target(kind="Patient")).allowed else {})
    groups = [{"kind": k, "names": F.KIND_NAMES[k], "items": [
        {**f, "text": reports.detail_text(f)} for f in found if f["kind"] == k]} for k in F.KINDS]
    return render(request, "reviews/report.html", {
        "r": row, "groups": groups, "names": names, "total": len(found), "kinds": reports.KIND_JA,
        "thresholds": json.loads(row.thresholds or "{}"), "local": reports.local,
        "threshold_names": reports.THRESHOLDS_JA,
        "may_sign": may and row.signed_at is None, "mine": me in F.subjects_of(found),
        "done": DONE.get(done), "error": error}, status=status)


@router.get("/reports/{report_id}")
def report_page(request: Request, auth: PageDep, report_id: str, done: str = ""):
    return _report_page(request, auth, report_id, done=done)


@router.post("/reports/{report_id}/sign-off")
def sign_off(request: Request, auth: PageDep, report_id: str, comment: Text = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            reports.sign_off(ctx, report_id, comment=comment)
    except SamePerson:
        return _report_page(request, auth, report_id, status=403,
                            error="The report's findings are about you: another audit manager signs it off.")
    except (Invalid, Conflict) as exc:
        return _report_page(request, auth, report_id, error=str(exc),
                            status=409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/reviews/reports/{report_id}?done=signed")


@router.get("/reports/{report_id}/report.pdf")
def report_pdf(request: Request, auth: PageDep, report_id: str):
    with work(request, auth, PURPOSE) as ctx:
        pdf, _ = reports.document(ctx, report_id)
    return _pdf(pdf, f"review-report-{report_id}")


@router.get("/reports/{report_id}/report.sig")
def report_sig(request: Request, auth: PageDep, report_id: str):
    with work(request, auth, PURPOSE) as ctx:
        _, sig = reports.document(ctx, report_id)
    return _sig(sig.line(), f"review-report-{report_id}")


# -- rights review (system administrator; the audit manager reads) --------------------------------
def _rights_page(request: Request, auth, *, done: str = "", error: str | None = None, status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = rights.list_reviews(ctx)
        may = ctx.allows(Action.AdminReviewManage, Target(kind="RightsReview")).allowed
    return render(request, "reviews/rights.html", {"rows": rows, "may_manage": may, "done": DONE.get(done),
                                                   "error": error}, status=status)


@router.get("/rights")
def rights_page(request: Request, auth: PageDep, done: str = ""):
    return _rights_page(request, auth, done=done)


@router.post("/rights")
def start_review(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        review_id = rights.start(ctx).id
    return redirect(f"/reviews/rights/{review_id}?done=started")


def _review_page(request: Request, auth, review_id: str, *, done: str = "", error: str | None = None,
                 error_user: str = "", status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        review, items = rights.get(ctx, review_id)
        may = ctx.allows(Action.AdminReviewManage, Target(kind="RightsReview")).allowed
    rows = [{"i": i, "unused_rights": json.loads(i.unused_rights or "[]")} for i in items]
    return render(request, "reviews/review.html", {
        "review": review, "rows": rows, "decisions": rights.DECISIONS, "local": reports.local,
        "may_manage": may and review.signed_at is None, "open": sum(1 for i in items if not i.decision),
        "flagged": sum(1 for i in items if i.unused), "done": DONE.get(done), "error": error,
        "error_user": error_user}, status=status)


@router.get("/rights/{review_id}")
def review_page(request: Request, auth: PageDep, review_id: str, done: str = ""):
    return _review_page(request, auth, review_id, done=done)


@router.post("/rights/{review_id}/accounts/{username}")
def mark(request: Request, auth: PageDep, review_id: str, username: str,
         decision: Annotated[str, Form(max_length=16)] = "", note: Text = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            rights.mark(ctx, review_id, username=username, decision=decision, note=note)
    except (Invalid, Conflict) as exc:
        return _review_page(request, auth, review_id, error=str(exc), error_user=username,
                            status=409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/reviews/rights/{review_id}?done=marked#account-{username}")


@router.post("/rights/{review_id}/sign-off")
def sign_review(request: Request, auth: PageDep, review_id: str, comment: Text = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            rights.sign_off(ctx, review_id, comment=comment)
    except (Invalid, Conflict) as exc:
        return _review_page(request, auth, review_id, error=str(exc),
                            status=409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/reviews/rights/{review_id}?done=review-signed")


@router.get("/rights/{review_id}/review.pdf")
def review_pdf(request: Request, auth: PageDep, review_id: str):
    with work(request, auth, PURPOSE) as ctx:
        pdf, _ = rights.document(ctx, review_id)
    return _pdf(pdf, f"rights-review-{review_id}")


@router.get("/rights/{review_id}/review.sig")
def review_sig(request: Request, auth: PageDep, review_id: str):
    with work(request, auth, PURPOSE) as ctx:
        _, sig = rights.document(ctx, review_id)
    return _sig(sig.line(), f"rights-review-{review_id}")

