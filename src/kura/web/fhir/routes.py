"""The /fhir routes. Each: parse → `work(...)` → one records.service call → stored bytes."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from itertools import accumulate
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kura.audit import fhir as auditevents
from kura.errors import Invalid, NotFound
from kura.limits import parse_index
from kura.records import service as records
from kura.records.fhir import searchset as bundle
from kura.records.fhir import transaction
from kura.records.fhir.params import date_range
from kura.records.fhir.validate import STORED_TYPES
from kura.records.store import Version, instant
from kura.web.deps import AuthDep, PublicDep, header_text, work
from kura.web.fhir.capability import capability_statement

__all__ = ["router", "FHIR_JSON"]

FHIR_JSON = "application/fhir+json"
REASON_HEADER = "x-kura-reason"
ON_BEHALF_HEADER = "x-kura-on-behalf-of"

router = APIRouter(prefix="/fhir", tags=["fhir"])


async def _body(request: Request) -> bytes:
    return await request.body()


BodyDep = Annotated[bytes, Depends(_body)]


MAX_JSON_DEPTH = 64  # a Bundle of resources nested records.fhir.validate.MAX_DEPTH deep fits
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing it (strings
    removed first, so brackets inside them do not count)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _json(request: Request, raw: bytes):
    """The body as JSON. The size is bounded by the middleware (json_max_bytes, 413) and the
    nesting here before parsing: deep nesting would make the parser and the FHIR models
    recurse until Python gives up. Raises Invalid."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (FHIR_JSON, "application/json"):
        raise Invalid(f"Content-Type must be {FHIR_JSON}, not {ctype or 'missing'}")
    if _depth(raw) > MAX_JSON_DEPTH:
        raise Invalid(f"the body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Invalid(f"the body is not JSON: {exc}") from None


def _type(rtype: str) -> str:
    if rtype not in STORED_TYPES:
        raise NotFound(f"kura stores no {rtype} resources")
    return rtype


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _resource(v: Version, status: int = 200, request: Request | None = None) -> Response:
    headers = {"ETag": v.etag, "Last-Modified": v.at.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    if status == 201 and request is not None:
        headers["Location"] = f"{_base(request)}/{v.rtype}/{v.id}/_history/{v.number}"
    return Response(content=v.content, status_code=status, media_type=FHIR_JSON, headers=headers)


def _entry(v: Version) -> bundle.Entry:
    return bundle.Entry(v.rtype, v.id, v.number, v.content, instant(v.at), v.activity)


def _bundle(body: bytes) -> Response:
    return Response(content=body, media_type=FHIR_JSON)


def _start(value: str) -> dt.datetime | None:
    """The first second a FHIR date/dateTime denotes, in UTC (for ge/lt bounds)."""
    if not value:
        return None
    return dt.datetime.fromisoformat(date_range(value)[0]).replace(tzinfo=dt.timezone.utc)


def _int(value: str | None, name: str, default: int) -> int:
    return parse_index(value, name, default=default)


# -- whole system -------------------------------------------------------------------------
@router.get("/metadata")
def metadata(request: Request, _: PublicDep):
    """Public (CONTRACT.md): clients read it before they sign in. It describes the server,
    never a patient."""
    return Response(content=json.dumps(capability_statement(_base(request)), ensure_ascii=False),
                    media_type=FHIR_JSON)


@router.post("")
@router.post("/")
def batch_or_transaction(request: Request, auth: AuthDep, raw: BodyDep):
    """A batch or transaction Bundle (kura.records.fhir.transaction): each entry through the same
    records.service call as its own route; a transaction in one unit of work."""
    body = _json(request, raw)
    minimal = "return=minimal" in request.headers.get("prefer", "").replace(" ", "")
    out = transaction.process(body, base=_base(request), work=lambda: work(request, auth),
                          reason=header_text(request, REASON_HEADER),
                          on_behalf_of=header_text(request, ON_BEHALF_HEADER), minimal=minimal)
    return _bundle(out)


# -- attachments --------------------------------------------------------------------------
@router.post("/Binary")
def upload(request: Request, auth: AuthDep, raw: BodyDep):
    """A separate attachment upload: raw bytes, ?patient=<id>; name it in a DocumentReference
    as `Binary/{id}`."""
    patient = request.query_params.get("patient", "").removeprefix("Patient/")
    if not patient:
        raise Invalid("name the patient: POST /fhir/Binary?patient=<id>")
    with work(request, auth) as ctx:
        att = records.upload_attachment(ctx, patient_id=patient, data=raw,
                                        content_type=request.headers.get("content-type", ""))
        body = {"resourceType": "Binary", "id": att.id, "contentType": att.content_type}
    return Response(content=json.dumps(body), status_code=201, media_type=FHIR_JSON,
                    headers={"Location": f"{_base(request)}/Binary/{att.id}"})


@router.get("/Binary/{id}")
def download(id: str, request: Request, auth: AuthDep):
    with work(request, auth) as ctx:
        data, ctype = records.read_attachment(ctx, id)
    return Response(content=data, media_type=ctype,
                    headers={"Content-Disposition": "attachment", "Cache-Control": "no-store"})


# -- AuditEvent (read-only, audit manager) ---------------------------------------------------
@router.get("/AuditEvent")
def audit_search(request: Request, auth: AuthDep):
    qp = request.query_params
    allowed = {"patient", "date", "agent", "_count", "_offset", "_format"}
    unknown = set(qp) - allowed
    if unknown:
        raise Invalid(f"unknown search parameter(s) for AuditEvent: {', '.join(sorted(unknown))}")
    ge = lt = ""
    for value in qp.getlist("date"):
        if value.startswith("ge"):
            ge = value[2:]
        elif value.startswith("lt"):
            lt = value[2:]
        else:
            raise Invalid("AuditEvent date takes ge<date> and lt<date>")
    count, offset = _int(qp.get("_count"), "_count", 50), _int(qp.get("_offset"), "_offset", 0)
    with work(request, auth, "HOPERAT") as ctx:
        events, total = auditevents.search(ctx, patient=qp.get("patient", ""), agent=qp.get("agent", ""),
                                           since=_start(ge), until=_start(lt), offset=offset, count=count)
        now = instant(ctx.now())
    entries = [bundle.Entry("AuditEvent", e["id"], 1, json.dumps(e, ensure_ascii=False).encode()) for e in events]
    return _bundle(bundle.searchset(base=_base(request), path="AuditEvent", params=list(qp.multi_items()),
                                    entries=entries, total=total, offset=offset, count=count,
                                    bundle_id=str(uuid.uuid4()), at=now))


@router.get("/AuditEvent/{id}")
def audit_read(id: str, request: Request, auth: AuthDep):
    with work(request, auth, "HOPERAT") as ctx:
        event = auditevents.read(ctx, id)
    return Response(content=json.dumps(event, ensure_ascii=False), media_type=FHIR_JSON)


# -- Patient/$everything -------------------------------------------------------------------
@router.get("/Patient/{id}/$everything")
def everything(id: str, request: Request, auth: AuthDep):
    with work(request, auth) as ctx:
        found = records.everything(ctx, id)
        now = instant(ctx.now())
    return _bundle(bundle.searchset(base=_base(request), path=f"Patient/{id}/$everything", params=[],
                                    entries=[_entry(v) for v in found], total=len(found), offset=0,
                                    count=len(found), bundle_id=str(uuid.uuid4()), at=now))


# -- type level ---------------------------------------------------------------------------
@router.get("/{rtype}/_history")
def type_history(rtype: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    qp = request.query_params
    count, offset = _int(qp.get("_count"), "_count", 20), _int(qp.get("_offset"), "_offset", 0)
    since = _start(qp.get("_since", ""))
    with work(request, auth) as ctx:
        page = records.type_history(ctx, rtype, count=min(count, 500), offset=offset, since=since)
        now = instant(ctx.now())
    return _bundle(bundle.history(base=_base(request), path=f"{rtype}/_history", params=list(qp.multi_items()),
                                  entries=[_entry(v) for v in page.versions], total=page.total,
                                  offset=offset, count=page.count, bundle_id=str(uuid.uuid4()), at=now))


@router.get("/{rtype}")
def search(rtype: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    pairs = list(request.query_params.multi_items())
    with work(request, auth) as ctx:
        page = records.search(ctx, rtype, pairs)
        now = instant(ctx.now())
    return _bundle(bundle.searchset(base=_base(request), path=rtype, params=pairs,
                                    entries=[_entry(v) for v in page.versions], total=page.total,
                                    offset=page.offset, count=page.count, bundle_id=str(uuid.uuid4()), at=now))


@router.post("/{rtype}")
def create(rtype: str, request: Request, auth: AuthDep, raw: BodyDep):
    rtype = _type(rtype)
    resource = _json(request, raw)
    if isinstance(resource, dict) and resource.get("resourceType") != rtype:
        raise Invalid(f"resourceType must be {rtype} for POST /fhir/{rtype}")
    with work(request, auth) as ctx:
        v = records.create(ctx, resource, on_behalf_of=header_text(request, ON_BEHALF_HEADER),
                           if_none_exist=request.headers.get("if-none-exist"))
    return _resource(v, 201 if v.created else 200, request)


# -- instance level -----------------------------------------------------------------------
@router.get("/{rtype}/{id}")
def read(rtype: str, id: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    with work(request, auth) as ctx:
        v = records.read(ctx, rtype, id)
    return _resource(v)


@router.put("/{rtype}/{id}")
def update(rtype: str, id: str, request: Request, auth: AuthDep, raw: BodyDep):
    rtype = _type(rtype)
    resource = _json(request, raw)
    if_match = request.headers.get("if-match")
    version = None
    if if_match:
        digits = if_match.strip().removeprefix("W/").strip('"')
        if not digits.isdigit():
            raise Invalid('If-Match must be W/"<version>"')
        version = parse_index(digits, "If-Match", default=0)
    with work(request, auth) as ctx:
        v = records.update(ctx, rtype, id, resource, reason=header_text(request, REASON_HEADER),
                           if_match=version, on_behalf_of=header_text(request, ON_BEHALF_HEADER))
    return _resource(v)


@router.post("/{rtype}/{id}/$confirm")
def confirm(rtype: str, id: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    with work(request, auth) as ctx:
        v = records.confirm(ctx, rtype, id)
    return _resource(v)


@router.get("/{rtype}/{id}/_history")
def instance_history(rtype: str, id: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    qp = request.query_params
    count, offset = _int(qp.get("_count"), "_count", 100), _int(qp.get("_offset"), "_offset", 0)
    with work(request, auth) as ctx:
        page = records.history(ctx, rtype, id, count=min(count, 500), offset=offset)
        now = instant(ctx.now())
    return _bundle(bundle.history(base=_base(request), path=f"{rtype}/{id}/_history",
                                  params=list(qp.multi_items()), entries=[_entry(v) for v in page.versions],
                                  total=page.total, offset=offset, count=page.count,
                                  bundle_id=str(uuid.uuid4()), at=now))


@router.get("/{rtype}/{id}/_history/{vid}")
def vread(rtype: str, id: str, vid: str, request: Request, auth: AuthDep):
    rtype = _type(rtype)
    if not vid.isdigit() or len(vid) > 10:
        raise NotFound(f"{rtype}/{id}/_history/{vid[:20]} not found")
    with work(request, auth) as ctx:
        v = records.vread(ctx, rtype, id, int(vid))
    return _resource(v)
