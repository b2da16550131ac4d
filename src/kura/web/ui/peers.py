"""DICOM peers (admin and operations): list, add, change address and rights, disable.

The same service as `kura dicom-peer`; a change reaches the running DICOM server at once
(peers are read at association time). Ledger: AdminPeerAdded / AdminPeerChanged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from kura.access.actions import Action
from kura.errors import Invalid
from kura.imaging import peers
from kura.web.deps import work
from kura.web.ui.render import NAV, NavItem, PageDep, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/admin/peers", include_in_schema=False)

PURPOSE = "HSYSADMIN"
DONE = {"saved": "The DICOM peer has been saved.", "disabled": "The DICOM peer has been disabled."}

NAV.append(NavItem("/admin/peers", "DICOM peers", Action.AdminPeerRead, "DicomPeer",
                   "The DICOM nodes allowed to connect, and what each may do."))

Text = Annotated[str, Form(max_length=255)]


def _page(request: Request, auth, *, done: str = "", error: str | None = None, form: dict | None = None,
          status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = [{"ae_title": p.ae_title, "host": p.host, "port": p.port, "rights": sorted(p.right_set),
                 "updated_at": p.updated_at} for p in peers.list_peers(ctx)]
        may_edit = ctx.allows(Action.AdminPeerManage).allowed
    return render(request, "admin/peers.html", {
        "peers": rows, "rights": peers.RIGHTS, "may_edit": may_edit, "done": DONE.get(done), "error": error,
        "form": form or {"rights": list(peers.RIGHTS)}}, status=status)


@router.get("")
def index(request: Request, auth: PageDep, done: str = ""):
    return _page(request, auth, done=done)


@router.post("")
def save(request: Request, auth: PageDep, ae_title: Text = "", host: Text = "",
         port: Annotated[str, Form(max_length=5)] = "", rights: Annotated[list[str], Form()] = []):  # noqa: B006
    form = {"ae_title": ae_title, "host": host, "port": port, "rights": rights}
    try:
        if not port.isdigit():
            raise Invalid("port must be between 1 and 65535")
        with work(request, auth, PURPOSE) as ctx:
            peers.add_peer(ctx, ae_title=ae_title, host=host.strip(), port=int(port), rights=rights)
    except Invalid as exc:
        return _page(request, auth, error=str(exc), form=form, status=400)
    return redirect("/admin/peers?done=saved")


@router.post("/{ae_title}/disable")
def disable(request: Request, auth: PageDep, ae_title: str):
    with work(request, auth, PURPOSE) as ctx:
        peers.disable_peer(ctx, ae_title)
    return redirect("/admin/peers?done=disabled")
