"""The page after login: what this user's roles let them do, as links — and, for those who
manage incidents, the reports to the 個人情報保護委員会 still to be filed (R75)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kura.access.actions import Action
from kura.web.deps import work
from kura.web.ui.render import PageDep, can, nav_for, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, auth: PageDep):
    items = [item for item in nav_for(request, auth) if item.url != "/"]
    due = []
    if can(auth, Action.RegisterIncidentManage, "Incident"):
        from kura.disposal.retention import today
        from kura.registers import incidents
        from kura.web.ui.registers import REPORTS
        with work(request, auth) as ctx:
            due = incidents.reminders(ctx, today(ctx))
        return render(request, "home.html", {"items": items, "due": due, "reports": REPORTS})
    return render(request, "home.html", {"items": items, "due": due})
