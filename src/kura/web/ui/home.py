"""The page after login: what this user's roles let them do, as links — and, for those who
manage incidents, the reports to the 個人情報保護委員会 still to be filed (R75); for those who
operate the system, a build without an approved software review (§9) and overdue inspections (§7)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kura.access.actions import Action
from kura.web.deps import work
from kura.web.ui.render import PageDep, can, nav_for, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _training(request: Request, auth) -> dict | None:
    """The user's own annual security training, when `training_rule` asks for a warning."""
    from kura.identity import lifecycle, training
    from kura.identity import service as identity

    if request.app.state.kura.settings.training_rule == "off":
        return None
    with work(request, auth, "HOPERAT") as ctx:
        s = training.standing(ctx, identity.get_user(ctx, auth.username))
        state = s.state(lifecycle.today(ctx))
    return None if state == "ok" else {"state": state, "expires_on": s.expires_on}


@router.get("/")
def home(request: Request, auth: PageDep):
    items = [item for item in nav_for(request, auth) if item.url != "/"]
    due = []
    duties: dict = {}
    if can(auth, Action.OpsStatusRead, "Operations"):
        from kura.web.ui.ops import register_duties
        with work(request, auth) as ctx:
            duties = register_duties(ctx)
    training = _training(request, auth)
    if can(auth, Action.RegisterIncidentManage, "Incident"):
        from kura.disposal.retention import today
        from kura.registers import incidents
        from kura.web.ui.registers import REPORTS
        with work(request, auth) as ctx:
            due = incidents.reminders(ctx, today(ctx))
        return render(request, "home.html", {"items": items, "due": due, "reports": REPORTS, "training": training,
                                             **duties})
    return render(request, "home.html", {"items": items, "due": due, "training": training, **duties})
