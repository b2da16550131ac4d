"""機器台帳 (regulation §7): the equipment inventory, each item's inspection log, the overdue
inspections and open follow-ups. Each page is kura.registers.inventory calls in the request's
unit of work; the service checks access and writes the ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from kura.access.actions import Action
from kura.access.policy import Target
from kura.disposal.retention import today
from kura.errors import Conflict, Invalid
from kura.registers import equipment, inventory
from kura.web.deps import work
from kura.web.ui.render import PageDep, redirect, render

__all__ = ["router", "DONE", "LABELS"]

router = APIRouter(prefix="/registers", include_in_schema=False)
PURPOSE = "HOPERAT"

DONE = {"added": "The item has been added to the inventory.", "changed": "The item has been changed.",
        "inspected": "The inspection has been recorded.", "closed": "The follow-up has been closed."}
# form field -> its label (the "Fill in" message names the label, never the field)
LABELS = {"asset_no": "Asset number", "name": "Device or medium", "location": "Location",
          "responsible": "Person responsible", "serial": "Serial number", "installed_on": "Installed on",
          "inspected_on": "Inspection date", "inspector": "Inspector", "note": "Note"}

Short = Annotated[str, Form(max_length=400)]
Long = Annotated[str, Form(max_length=4000)]


def _missing(form: dict, *fields: str) -> str | None:
    for f in fields:
        if not (form.get(f) or "").strip():
            return f"Fill in: {LABELS[f]}"
    return None


def _words() -> dict:
    return {"kinds": inventory.KINDS, "states": inventory.STATES, "results": inventory.RESULTS}


def _list_page(request: Request, auth, *, done: str = "", error: str | None = None, form: dict | None = None,
               status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        rows = inventory.list_items(ctx)
        day = today(ctx)
        late = inventory.overdue(ctx, day)
        follow = inventory.open_follow_ups(ctx)
        may = ctx.allows(Action.RegisterEquipmentManage, Target(kind="Equipment")).allowed
    return render(request, "registers/inventory.html",
                  {"rows": rows, "late": late, "late_ids": {e.id for e in late}, "follow": follow, "may": may,
                   "day": day.isoformat(), "form": form or {"kind": "server", "state": "active"},
                   "done": DONE.get(done), "error": error, **_words()}, status=status)


@router.get("/inventory")
def inventory_list(request: Request, auth: PageDep, done: str = ""):
    return _list_page(request, auth, done=done)


@router.post("/inventory")
def inventory_add(request: Request, auth: PageDep, asset_no: Short = "", kind: Short = "", name: Short = "",
                  location: Short = "", responsible: Short = "", serial: Short = "", installed_on: Short = "",
                  state: Short = "active", interval_days: Short = "0", note: Long = ""):
    form = dict(asset_no=asset_no, kind=kind, name=name, location=location, responsible=responsible, serial=serial,
                installed_on=installed_on, state=state, interval_days=interval_days, note=note)
    missing = _missing(form, "asset_no", "name", "location", "responsible", "serial", "installed_on")
    if missing:
        return _list_page(request, auth, error=missing, form=form, status=400)
    if state == "retired":  # retiring goes through the item's page, which links the disposal entry
        return _list_page(request, auth, error="a retired item needs its entry in the disposal register", form=form,
                          status=400)
    try:
        with work(request, auth, PURPOSE) as ctx:
            e = inventory.add(ctx, **form)
            eid = e.id
    except (Invalid, Conflict) as exc:
        return _list_page(request, auth, error=str(exc), form=form, status=409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/registers/inventory/{eid}?done=added")


def _item_page(request: Request, auth, equipment_id: str, *, done: str = "", error: str | None = None,
               status: int = 200):
    with work(request, auth, PURPOSE) as ctx:
        e = inventory.get(ctx, equipment_id)
        log = inventory.inspections(ctx, equipment_id)
        may = ctx.allows(Action.RegisterEquipmentManage, Target(kind="Equipment", id=equipment_id)).allowed
        disposals = equipment.list_entries(ctx)
        day = today(ctx).isoformat()
    linked = next((d for d in disposals if d.id == e.disposal_id), None)
    return render(request, "registers/inventory_item.html",
                  {"e": e, "log": log, "may": may, "disposals": disposals, "linked": linked, "day": day,
                   "overdue": bool(e.next_due and e.next_due < day), "done": DONE.get(done), "error": error,
                   **_words()}, status=status)


@router.get("/inventory/{equipment_id}")
def inventory_item(request: Request, auth: PageDep, equipment_id: str, done: str = "", error: str = ""):
    return _item_page(request, auth, equipment_id, done=done, error=error or None)


@router.post("/inventory/{equipment_id}")
def inventory_change(request: Request, auth: PageDep, equipment_id: str, asset_no: Short = "", kind: Short = "",
                     name: Short = "", location: Short = "", responsible: Short = "", serial: Short = "",
                     installed_on: Short = "", state: Short = "", interval_days: Short = "0",
                     disposal_id: Short = "", note: Long = ""):
    form = dict(asset_no=asset_no, kind=kind, name=name, location=location, responsible=responsible, serial=serial,
                installed_on=installed_on, state=state, interval_days=interval_days,
                disposal_id=disposal_id if state == "retired" else "", note=note)
    missing = _missing(form, "asset_no", "name", "location", "responsible", "serial", "installed_on")
    if missing:
        return _item_page(request, auth, equipment_id, error=missing, status=400)
    try:
        with work(request, auth, PURPOSE) as ctx:
            inventory.change(ctx, equipment_id, **form)
    except (Invalid, Conflict) as exc:
        return _item_page(request, auth, equipment_id, error=str(exc), status=400)
    return redirect(f"/registers/inventory/{equipment_id}?done=changed")


@router.post("/inventory/{equipment_id}/inspections")
def inventory_inspect(request: Request, auth: PageDep, equipment_id: str, inspected_on: Short = "",
                      inspector: Short = "", result: Short = "", findings: Long = "", follow_up: Long = ""):
    missing = _missing({"inspected_on": inspected_on, "inspector": inspector}, "inspected_on", "inspector")
    if missing:
        return _item_page(request, auth, equipment_id, error=missing, status=400)
    try:
        with work(request, auth, PURPOSE) as ctx:
            inventory.inspect(ctx, equipment_id, inspected_on=inspected_on, inspector=inspector, result=result,
                              findings=findings, follow_up=follow_up)
    except Invalid as exc:
        return _item_page(request, auth, equipment_id, error=str(exc), status=400)
    return redirect(f"/registers/inventory/{equipment_id}?done=inspected")


@router.post("/inventory/{equipment_id}/inspections/{inspection_id}/close")
def inspection_close(request: Request, auth: PageDep, equipment_id: str, inspection_id: str, note: Long = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            inventory.close_follow_up(ctx, inspection_id, note=note, equipment_id=equipment_id)
    except (Invalid, Conflict) as exc:
        return _item_page(request, auth, equipment_id, error=str(exc), status=400)
    return redirect(f"/registers/inventory/{equipment_id}?done=closed")
