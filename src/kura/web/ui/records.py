"""The record screens: one record, its 確定 (with a preview of exactly what is confirmed),
correction with a reason, the version history with who/when/why and a side-by-side
difference, print view and PDF (watermarked, in the ledger), attachment download, and the
break-glass dialog. Every page reaches the core through records.service / printout; the
access decision and the ledger entry happen there.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Form, Query, Request
from starlette.datastructures import UploadFile
from fastapi.responses import Response

from kura.access.actions import Action
from kura.errors import Conflict, Denied, Invalid
from kura.limits import MAX_INT
from kura.records import printout, resources
from kura.records import service as records
from kura.records.fhir.validate import STORED_TYPES, WRITABLE_TYPES
from kura.records.store import Version
from kura.web.deps import Auth, kura_of, work
from kura.web.ui import forms
from kura.web.ui.render import PageDep, redirect, render

__all__ = ["router", "guarded", "BreakGlass", "pretty", "DONE", "version_row", "form_values",
           "attachment_of"]

router = APIRouter(prefix="/records", include_in_schema=False)

DONE = {"created": "Saved as a draft.", "updated": "The new version has been saved as a draft.",
        "confirmed": "Confirmed (確定).", "corrected": "The correction has been saved as a new version."}
STATUS = {"draft": "Draft", "confirmed": "Confirmed"}
ACTIVITY = {"create": "Created", "update": "Updated", "confirm": "Confirm (確定)"}

# The break-glass dialog posts its reason back to the page that needed it.
BreakGlass = Annotated[str, Form(max_length=500)]


def guarded(request: Request, auth: Auth, view: Callable[[Any], Any], break_glass: str = ""):
    """Run `view(ctx)` in the request's unit of work. A read beyond the user's clearance that
    break-glass could open (README) answers with the break-glass dialog instead of an
    error page; the dialog posts the reason back to this same URL."""
    reason = break_glass.strip() or None
    try:
        with work(request, auth, break_glass=reason) as ctx:
            request.state.uow = ctx  # render shows the open break-glass this page fell under
            return view(ctx)
    except Denied as exc:
        if not exc.needs_break_glass or reason:
            raise
        return render(request, "records/break_glass.html",
                      {"minutes": kura_of(request).settings.break_glass_minutes,
                       "cancel": "/images" if request.url.path.startswith("/images") else "/patients"}, status=403)


def pretty(v: Version) -> str:
    return json.dumps(v.resource(), ensure_ascii=False, indent=2, sort_keys=True)


def version_row(v: Version) -> dict:
    res = v.resource()
    return {"rtype": v.rtype, "id": v.id, "number": v.number, "status": v.status, "title": resources.title_of(res),
            "label": v.confidentiality, "at": v.at, "url": f"/records/{v.rtype}/{v.id}"}


def attachment_of(res: dict) -> dict | None:
    att = ((res.get("content") or [{}])[0] or {}).get("attachment") or {}
    url = att.get("url") or ""
    if url.startswith("Binary/"):
        return {"url": f"/records/attachments/{url.removeprefix('Binary/')}", "title": att.get("title", ""),
                "type": att.get("contentType", ""), "size": att.get("size")}
    return None


def form_values(rtype: str, v: Version) -> dict:
    return forms.values_of(v.resource(), v.confidentiality)


def _record_context(v: Version, infos: list | None = None) -> dict:
    res = v.resource()
    return {"v": v, "rtype": v.rtype, "id": v.id, "title": resources.title_of(res),
            "rows": resources.summary_rows(res), "json": pretty(v), "attachment": attachment_of(res),
            "writable": v.rtype in WRITABLE_TYPES, "infos": infos or [], "patient_id": v.patient_id,
            "status_label": STATUS.get(v.status, v.status)}


def _type(rtype: str) -> str:
    if rtype not in STORED_TYPES:
        raise Invalid(f"kura stores no {rtype}")
    return rtype


@router.get("/attachments/{att_id}")
def attachment(request: Request, auth: PageDep, att_id: str):
    """The authenticated URL of an attachment (DocumentReference content), never cached."""
    with work(request, auth) as ctx:
        data, ctype = records.read_attachment(ctx, att_id)
    return Response(content=data, media_type=ctype,
                    headers={"Content-Disposition": f'attachment; filename="{att_id}"', "Cache-Control": "no-store"})


# -- one record ---------------------------------------------------------------------------
@router.api_route("/{rtype}/{id}", methods=["GET", "POST"])
def record(request: Request, auth: PageDep, rtype: str, id: str, done: str = "", break_glass: BreakGlass = ""):
    rtype = _type(rtype)

    def view(ctx):
        v = records.read(ctx, rtype, id)
        target = printout.target_of_version(ctx, v)
        # Offer only what the policy would allow (the POSTs ask it again).
        can = {name: ctx.allows(action, target).allowed for name, action in (
            ("update", Action.RecordsRecordUpdate), ("confirm", Action.RecordsRecordConfirm),
            ("print", Action.RecordsRecordPrint))}
        return render(request, "records/record.html", {**_record_context(v), "done": DONE.get(done),
                                                       "break_glass": bool(break_glass.strip()), "can": can})

    return guarded(request, auth, view, break_glass)


# -- 確定 -----------------------------------------------------------------------------------
@router.get("/{rtype}/{id}/confirm")
def confirm_preview(request: Request, auth: PageDep, rtype: str, id: str):
    """Shows exactly what will be confirmed: the current version's stored content and SHA-256."""
    rtype = _type(rtype)
    with work(request, auth) as ctx:
        v = records.read(ctx, rtype, id)
    return render(request, "records/confirm.html", {**_record_context(v)})


@router.post("/{rtype}/{id}/confirm")
def confirm(request: Request, auth: PageDep, rtype: str, id: str,
            version: Annotated[int, Form()], sha256: Annotated[str, Form(max_length=64)]):
    rtype = _type(rtype)
    try:
        with work(request, auth) as ctx:
            cur = records.read(ctx, rtype, id)
            ctx.require(Action.RecordsRecordConfirm, printout.target_of_version(ctx, cur))
            # Confirm what the user saw, not whatever is current by now.
            if cur.number != version or cur.sha256 != sha256:
                raise Conflict("the record changed after the preview; look at it again before confirming")
            records.confirm(ctx, rtype, id)
    except Conflict as exc:
        with work(request, auth) as ctx:
            v = records.read(ctx, rtype, id)
        return render(request, "records/confirm.html", {**_record_context(v), "error": str(exc)}, status=409)
    return redirect(f"/records/{rtype}/{id}?done=confirmed")


# -- edit / correction ----------------------------------------------------------------------
def _edit_page(request: Request, v: Version, values: dict, error: str | None = None, status: int = 200):
    return render(request, "records/edit.html", {**_record_context(v), "fields": forms.FORMS[v.rtype],
                                                 "values": values, "error": error,
                                                 "correction": v.status == "confirmed"}, status=status)


@router.get("/{rtype}/{id}/edit")
def edit(request: Request, auth: PageDep, rtype: str, id: str):
    rtype = _type(rtype)
    if rtype not in forms.FORMS:
        raise Invalid(f"{rtype} is written by kura itself")
    with work(request, auth) as ctx:
        v = records.read(ctx, rtype, id)
        ctx.require(Action.RecordsRecordUpdate, printout.target_of_version(ctx, v))
    return _edit_page(request, v, form_values(rtype, v))


async def _form(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    return values, (upload if upload is not None and not isinstance(upload, str) and upload.filename else None)


async def uploaded(upload: UploadFile | None) -> dict | None:
    if upload is None:
        return None
    data = await upload.read()
    if not data:
        return None
    return {"data": base64.b64encode(data).decode(), "contentType": upload.content_type or "application/octet-stream"}


@router.post("/{rtype}/{id}/edit")
async def save_edit(request: Request, auth: PageDep, rtype: str, id: str):
    rtype = _type(rtype)
    values, upload = await _form(request)
    att = await uploaded(upload)
    reason = values.get("reason", "").strip()
    try:
        with work(request, auth) as ctx:
            cur = records.read(ctx, rtype, id)
            ctx.require(Action.RecordsRecordUpdate, printout.target_of_version(ctx, cur))
            if cur.status == "confirmed" and not reason:
                raise Invalid("a correction of a confirmed record needs a reason")
            old = cur.resource()
            if rtype == "DocumentReference" and att is None:
                keep = ((old.get("content") or [{}])[0] or {}).get("attachment") or {}
                att = {"url": keep.get("url"), "contentType": keep.get("contentType")} if keep.get("url") else None
            built = forms.build(rtype, values, patient_id=cur.patient_id, attachment=att, id=id)
            if not values.get("label") and old.get("meta", {}).get("security"):
                built.setdefault("meta", {})["security"] = old["meta"]["security"]
            merged = {**{k: x for k, x in old.items() if k != "meta"}, **built}
            records.update(ctx, rtype, id, merged, reason=reason or None, if_match=int(values.get("version") or 0) or None)
            was_confirmed = cur.status == "confirmed"
    except (Invalid, Conflict) as exc:
        with work(request, auth) as ctx:
            v = records.read(ctx, rtype, id)
        return _edit_page(request, v, {**values, "reason": reason}, str(exc), 409 if isinstance(exc, Conflict) else 400)
    return redirect(f"/records/{rtype}/{id}?done={'corrected' if was_confirmed else 'updated'}")


# -- history and difference (R43) ----------------------------------------------------------
@router.api_route("/{rtype}/{id}/history", methods=["GET", "POST"])
def history(request: Request, auth: PageDep, rtype: str, id: str, break_glass: BreakGlass = ""):
    rtype = _type(rtype)

    def view(ctx):
        v = records.read(ctx, rtype, id)
        infos = records.version_history(ctx, rtype, id)
        # Open on the last change of content (a 確定 repeats its predecessor's content).
        changed = [i.number for i in infos if i.activity != "confirm" and i.number > 1]
        b = changed[-1] if changed else infos[-1].number
        return render(request, "records/history.html", {**_record_context(v, infos), "activity": ACTIVITY,
                                                        "statuses": STATUS, "pick_a": max(1, b - 1), "pick_b": b})

    return guarded(request, auth, view, break_glass)


# FHIR paths as the form names them (indices dropped; the first name is kanji, the second kana).
_FIELDS = {"name.family": "姓", "name.given": "名", "name.text": "氏名", "birthDate": "生年月日", "gender": "性別",
           "identifier.value": "番号", "period.start": "開始", "period.end": "終了", "subscriberId": "記号・番号",
           "payor.identifier.value": "保険者番号", "payor.display": "保険者", "status": "状態",
           "serviceType.text": "診療科", "code.coding.code": "診療行為コード", "code.coding.display": "診療行為",
           "quantity.value": "回数", "occurrenceDateTime": "実施日", "date": "日付", "totalGross.value": "請求額",
           "description": "説明", "content.attachment.title": "表題", "type.coding.code": "種別",
           "type.coding.display": "種別", "note.text": "点数", "meta.security.code": "機密区分"}


def field_label(path: str) -> str:
    """A FHIR path (name[1].given[0]) as a person reads it (カナ氏名: 名)."""
    plain = re.sub(r"\[\d+\]", "", path)
    label = _FIELDS.get(plain, path)
    if plain.startswith("name."):
        label = ("カナ氏名" if path.startswith("name[1]") else "氏名") + ("" if plain == "name.text" else f": {label}")
    return label


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@router.api_route("/{rtype}/{id}/diff", methods=["GET", "POST"])
def diff(request: Request, auth: PageDep, rtype: str, id: str, a: Annotated[int, Query(ge=1, le=MAX_INT)],
         b: Annotated[int, Query(ge=1, le=MAX_INT)], break_glass: BreakGlass = ""):
    rtype = _type(rtype)

    def view(ctx):
        va, vb, changes = records.diff(ctx, rtype, id, a, b)
        infos = {i.number: i for i in records.version_history(ctx, rtype, id)}
        rows = [{"path": field_label(p), "before": _flat(x), "after": _flat(y)} for p, x, y in changes]
        left = json.dumps(va, ensure_ascii=False, indent=2, sort_keys=True).splitlines()
        right = json.dumps(vb, ensure_ascii=False, indent=2, sort_keys=True).splitlines()
        return render(request, "records/diff.html", {
            "rtype": rtype, "id": id, "a": a, "b": b, "rows": rows, "ia": infos.get(a), "ib": infos.get(b),
            "title": resources.title_of(vb), "lines": _side_by_side(left, right), "activity": ACTIVITY,
            "statuses": STATUS, "patient_id": _patient_of(vb)})

    return guarded(request, auth, view, break_glass)


def _patient_of(res: dict) -> str | None:
    if res.get("resourceType") == "Patient":
        return res.get("id")
    ref = (res.get("subject") or res.get("beneficiary") or {}).get("reference", "")
    return ref.removeprefix("Patient/") or None


def _side_by_side(left: list[str], right: list[str]) -> list[dict]:
    import difflib
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            lt = left[i1 + k] if i1 + k < i2 else ""
            rt = right[j1 + k] if j1 + k < j2 else ""
            out.append({"op": op, "left": lt, "right": rt})
    return out


# -- print view and PDF (R47, R69, R72) ---------------------------------------------------
@router.get("/{rtype}/{id}/print")
def print_view(request: Request, auth: PageDep, rtype: str, id: str):
    """The browser's print view, watermarked on every printed page; a ledger entry."""
    rtype = _type(rtype)
    with work(request, auth) as ctx:
        v = records.read(ctx, rtype, id)
        infos = records.version_history(ctx, rtype, id)
        mark = printout.watermark_text(auth.username, ctx.now())
        printout.record_printed(ctx, printout.target_of_version(ctx, v), digest=v.sha256,
                                detail={"format": "html", "version": v.number, "watermark": mark})
        sections = printout.record_sections(v, infos, class_name=printout.class_name(ctx, v))
    return render(request, "records/print.html", {**_record_context(v, infos), "mark": mark, "sections": sections})


@router.get("/{rtype}/{id}/pdf")
def pdf(request: Request, auth: PageDep, rtype: str, id: str, version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None):
    rtype = _type(rtype)
    with work(request, auth) as ctx:
        out = printout.print_record(ctx, rtype, id, version=version)
    return Response(content=out.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{out.filename}"', "Cache-Control": "no-store",
                             "X-Kura-SHA256": out.sha256})

