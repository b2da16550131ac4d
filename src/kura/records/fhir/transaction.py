"""FHIR R4 `batch` and `transaction` Bundles (FHIR R4 http.html#transaction), as the web
adapter's `POST /fhir` hands them over: the rules live here, in the records core.

Entries: POST `{type}` (create; `request.ifNoneExist` makes it conditional), PUT
`{type}/{id}` (update; `request.ifMatch`), POST `{type}/{id}/$confirm` (確定), GET
`{type}/{id}` and `{type}/{id}/_history/{n}` (read, vread). Every entry goes through the same
records.service call as its single-request route — access decision, version, Provenance and
ledger entry per change; nothing here writes on its own.

transaction: all entries in ONE unit of work (one commit, all or nothing). Creates are done
first (ordered so that an entry is created before the entries that reference its
`urn:uuid:` fullUrl), then updates, then `$confirm`s, then reads (FHIR's order: POST, PUT,
GET; an operation after the writes, so a Bundle can create a resource and confirm it).
`urn:uuid:` fullUrls are resolved in references and in request URLs
(`urn:uuid:…/$confirm` or `Patient/urn:uuid:…/$confirm`). The first failing entry fails the
whole Bundle: nothing is stored and the OperationOutcome names the entry (index from 0).

batch: each entry in its own unit of work, in order; each gets its own response status (and
an OperationOutcome when it failed). No references between entries.

The reason for correcting a confirmed resource (X-Kura-Reason on a single PUT) comes from the
entry's `request.extension` `urn:kura:reason` (valueString), else from an X-Kura-Reason
header on the Bundle request, which then applies to every PUT entry. X-Kura-On-Behalf-Of and
X-Kura-Break-Glass on the Bundle request apply to every entry. The body is bounded by
`json_max_bytes` like any FHIR JSON body.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any, Callable, ContextManager

from kura.errors import Conflict, Denied, Invalid, KuraError, NotFound, Unprocessable
from kura.limits import parse_index
from kura.operation import Context
from kura.records import service as records
from kura.records.fhir.wire import dumps as _j
from kura.records.fhir.wire import operation_outcome
from kura.records.store import Version, instant

__all__ = ["process", "REASON_EXTENSION"]

REASON_EXTENSION = "urn:kura:reason"

_STATUS = [(Denied, "403 Forbidden", "forbidden"), (NotFound, "404 Not Found", "not-found"),
           (Conflict, "409 Conflict", "conflict"), (Unprocessable, "422 Unprocessable Entity", "invalid"),
           (Invalid, "400 Bad Request", "invalid")]
_URN = re.compile(r"(?:([A-Za-z]+)/)?(urn:uuid:[0-9A-Fa-f-]{36})")
_ORDER = {"create": 0, "update": 1, "confirm": 2, "read": 3, "vread": 3}


@dataclasses.dataclass
class Op:
    index: int
    method: str
    url: str
    full_url: str = ""
    resource: Any = None
    if_none_exist: str | None = None
    if_match: int | None = None
    reason: str | None = None
    kind: str = ""
    rtype: str = ""
    id: str = ""
    vid: int | None = None

    def label(self) -> str:
        return f"entry {self.index} ({self.method} {self.url})"


def _fail(op: Op, exc: KuraError) -> KuraError:
    """The same error, its message naming the entry."""
    if isinstance(exc, Denied):
        return Denied(f"{op.label()}: {exc.reason}", needs_break_glass=exc.needs_break_glass)
    if isinstance(exc, Unprocessable):
        return Unprocessable(f"{op.label()}: {exc}", issues=_in_entry(op, exc.issues))
    return type(exc)(f"{op.label()}: {exc}")


def _in_entry(op: Op, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issues' expressions as paths in the Bundle (Bundle.entry[i].resource.…)."""
    return [{"expression": f"Bundle.entry[{op.index}].resource." + i["expression"].split(".", 1)[1],
             "diagnostics": f"{op.label()}: {i['diagnostics']}"} for i in issues]


def _parse(index: int, entry: Any, reason_header: str | None) -> Op:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise Invalid(f"entry {index}: needs a request (method, url)")
    req = entry["request"]
    method, url = str(req.get("method") or "").upper(), str(req.get("url") or "")
    op = Op(index=index, method=method, url=url, full_url=str(entry.get("fullUrl") or ""),
            resource=entry.get("resource"))
    if not url:
        raise Invalid(f"{op.label()}: request.url is missing")
    path = url.split("?", 1)[0]
    if "/fhir/" in path and path.startswith(("http://", "https://")):
        path = path.split("/fhir/", 1)[1]
    op.url = path
    parts = [p for p in path.split("/") if p]
    if method == "POST" and len(parts) == 1:
        op.kind, op.rtype = "create", parts[0]
        if not isinstance(op.resource, dict) or op.resource.get("resourceType") != op.rtype:
            raise Invalid(f"{op.label()}: the resource must be a {op.rtype}")
        op.if_none_exist = req.get("ifNoneExist") or None
    elif method == "POST" and len(parts) == 3 and parts[-1] == "$confirm":
        op.kind, op.rtype, op.id = "confirm", parts[0], parts[1]  # Type/id or Type/urn:uuid:…
    elif method == "POST" and len(parts) == 2 and parts[-1] == "$confirm" and parts[0].startswith("urn:uuid:"):
        op.kind, op.id = "confirm", parts[0]  # urn:uuid:…/$confirm: the type comes with the resolution
    elif method == "PUT" and len(parts) == 2:
        op.kind, op.rtype, op.id = "update", parts[0], parts[1]
        if not isinstance(op.resource, dict):
            raise Invalid(f"{op.label()}: a PUT needs the resource")
        if req.get("ifMatch"):
            digits = str(req["ifMatch"]).strip().removeprefix("W/").strip('"')
            if not digits.isdigit():
                raise Invalid(f'{op.label()}: ifMatch must be W/"<version>"')
            op.if_match = parse_index(digits, f"{op.label()}: ifMatch", default=0)
        ext = [e.get("valueString") for e in req.get("extension") or []
               if isinstance(e, dict) and e.get("url") == REASON_EXTENSION]
        op.reason = ext[0] if ext and ext[0] else reason_header
    elif method == "GET" and len(parts) == 2:
        op.kind, op.rtype, op.id = "read", parts[0], parts[1]
    elif method == "GET" and len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit() \
            and len(parts[3]) <= 10:
        op.kind, op.rtype, op.id, op.vid = "vread", parts[0], parts[1], int(parts[3])
    else:
        raise Invalid(f"{op.label()}: kura supports POST {{type}}, PUT {{type}}/{{id}}, "
                      "POST {type}/{id}/$confirm and GET {type}/{id}[/_history/{n}] in a Bundle")
    return op


def _rewrite(value: Any, resolved: dict[str, str]) -> Any:
    """References to `urn:uuid:` fullUrls of this Bundle, replaced by `Type/id`."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, resolved) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in resolved:
            out["reference"] = resolved[ref]
        return out
    if isinstance(value, list):
        return [_rewrite(v, resolved) for v in value]
    return value


def _refs(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            found.add(ref)
        for v in value.values():
            _refs(v, found)
    elif isinstance(value, list):
        for v in value:
            _refs(v, found)
    return found


def _resolve_target(op: Op, resolved: dict[str, str]) -> None:
    """`urn:uuid:X` (or `Type/urn:uuid:X`) in a request URL, as the entry it names."""
    key = op.id if op.id.startswith("urn:uuid:") else ""
    if not key:
        return
    if key not in resolved:
        raise Invalid(f"{op.label()}: {key} is not the fullUrl of a resource created in this transaction")
    rtype, rid = resolved[key].split("/", 1)
    if op.rtype and op.rtype != rtype:
        raise Invalid(f"{op.label()}: {key} is a {rtype}, not a {op.rtype}")
    op.rtype, op.id = rtype, rid


def _transaction_order(ops: list[Op]) -> list[Op]:
    creates = [o for o in ops if o.kind == "create"]
    by_url = {o.full_url: o for o in creates if o.full_url.startswith("urn:uuid:")}
    deps = {o.index: {by_url[r].index for r in _refs(o.resource, set()) if r in by_url} - {o.index}
            for o in creates}
    done: set[int] = set()
    ordered: list[Op] = []
    while len(ordered) < len(creates):
        ready = [o for o in creates if o.index not in done and deps[o.index] <= done]
        if not ready:
            raise Invalid("the transaction's creates reference each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0].index)
    rest = sorted((o for o in ops if o.kind != "create"), key=lambda o: (_ORDER[o.kind], o.index))
    return ordered + rest


def _run(ctx: Context, op: Op, on_behalf_of: str | None) -> tuple[str, Version]:
    if op.kind == "create":
        v = records.create(ctx, op.resource, on_behalf_of=on_behalf_of, if_none_exist=op.if_none_exist)
        return ("201 Created" if v.created else "200 OK"), v
    if op.kind == "update":
        return "200 OK", records.update(ctx, op.rtype, op.id, op.resource, reason=op.reason,
                                        if_match=op.if_match, on_behalf_of=on_behalf_of)
    if op.kind == "confirm":
        return "200 OK", records.confirm(ctx, op.rtype, op.id)
    if op.kind == "read":
        return "200 OK", records.read(ctx, op.rtype, op.id)
    return "200 OK", records.vread(ctx, op.rtype, op.id, op.vid or 0)


def _ok_entry(base: str, status: str, v: Version, minimal: bool, write: bool) -> bytes:
    resp = {"status": status, "etag": v.etag, "lastModified": instant(v.at)}
    if write:
        resp["location"] = f"{v.rtype}/{v.id}/_history/{v.number}"
    out = b'{"fullUrl":' + _j(f"{base}/{v.rtype}/{v.id}")
    if not minimal:
        out += b',"resource":' + v.content
    return out + b',"response":' + _j(resp) + b"}"


def _error_entry(exc: Exception) -> bytes:
    status, code = next(((s, c) for cls, s, c in _STATUS if isinstance(exc, cls)),
                        ("500 Internal Server Error", "exception"))
    message = f"denied: {exc.reason}" if isinstance(exc, Denied) else str(exc)
    if status.startswith("500"):
        message = "internal error"
    more = [{"severity": "error", "code": "code-invalid", "diagnostics": i["diagnostics"],
             "expression": [i["expression"]]} for i in getattr(exc, "issues", [])]
    return b'{"response":' + _j({"status": status,
                                 "outcome": operation_outcome(message, code=code, more=more)}) + b"}"


def _response(kind: str, parts: list[bytes], at: str) -> bytes:
    head = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"lastUpdated": at}, "type": kind}
    return _j(head)[:-1] + b',"entry":[' + b",".join(parts) + b"]}"


def process(body: Any, *, base: str, work: Callable[[], ContextManager[Context]],
            reason: str | None = None, on_behalf_of: str | None = None, minimal: bool = False) -> bytes:
    """Run a batch or transaction Bundle; returns the response Bundle's bytes.

    `work()` opens one unit of work for the caller (the request's subject, purpose, origin,
    break-glass). Raises KuraError (naming the entry) when a transaction fails."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Invalid("POST /fhir takes a Bundle of type batch or transaction")
    btype = body.get("type")
    if btype not in ("batch", "transaction"):
        raise Invalid(f"Bundle.type must be batch or transaction, not {btype!r}")
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise Invalid("Bundle.entry must be a list")
    if btype == "transaction":
        return _transaction(entries, base=base, work=work, reason=reason, on_behalf_of=on_behalf_of,
                            minimal=minimal)
    parts: list[bytes] = []
    at = ""
    for i, entry in enumerate(entries):
        try:
            op = _parse(i, entry, reason)
            if (op.kind == "create" and _refs(op.resource, set())) or op.id.startswith("urn:uuid:"):
                raise Invalid(f"{op.label()}: urn:uuid references between entries need a transaction")
            with work() as ctx:
                status, v = _run(ctx, op, on_behalf_of)
                at = instant(ctx.now())
            parts.append(_ok_entry(base, status, v, minimal, op.kind not in ("read", "vread")))
        except KuraError as exc:
            parts.append(_error_entry(exc))
    if not at:
        with work() as ctx:  # no entry succeeded: the time from the clock all units of work use
            at = instant(ctx.now())
    return _response("batch-response", parts, at)


def _transaction(entries: list[Any], *, base: str, work: Callable[[], ContextManager[Context]],
                 reason: str | None, on_behalf_of: str | None, minimal: bool) -> bytes:
    ops = [_parse(i, e, reason) for i, e in enumerate(entries)]
    seen: set[str] = set()
    for op in ops:
        if op.full_url:
            if op.full_url in seen:
                raise Invalid(f"{op.label()}: fullUrl {op.full_url} appears twice in the transaction")
            seen.add(op.full_url)
    results: dict[int, tuple[str, Version]] = {}
    resolved: dict[str, str] = {}
    with work() as ctx:
        for op in _transaction_order(ops):
            try:
                _resolve_target(op, resolved)
                if op.resource is not None and resolved:
                    op.resource = _rewrite(op.resource, resolved)
                results[op.index] = _run(ctx, op, on_behalf_of)
            except KuraError as exc:
                raise _fail(op, exc) from None
            if op.kind == "create" and op.full_url:
                v = results[op.index][1]
                resolved[op.full_url] = f"{v.rtype}/{v.id}"
        at = instant(ctx.now())
    parts = [_ok_entry(base, *results[op.index], minimal, op.kind not in ("read", "vread")) for op in ops]
    return _response("transaction-response", parts, at)
