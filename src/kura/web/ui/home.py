"""The page after login: what this user's roles let them do, as links."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kura.web.ui.render import PageDep, nav_for, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, auth: PageDep):
    items = [item for item in nav_for(request, auth) if item.url != "/"]
    return render(request, "home.html", {"items": items})
