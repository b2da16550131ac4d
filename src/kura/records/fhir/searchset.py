"""The searchset and history Bundles, assembled around stored bytes.

Each entry embeds the version's canonical bytes as stored, so a resource inside a Bundle is
the very same JSON a vread returns. Pure. (batch/transaction: transaction.py; the JSON
encoding and the OperationOutcome: wire.py.)
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence
from urllib.parse import urlencode

from kura.records.fhir.wire import dumps as _j

__all__ = ["searchset", "history", "Entry"]


class Entry:
    """One resource for a Bundle: its stored bytes and what the Bundle says about it."""

    __slots__ = ("rtype", "id", "number", "content", "at", "activity")

    def __init__(self, rtype: str, id: str, number: int, content: bytes, at: str = "", activity: str = ""):
        self.rtype, self.id, self.number, self.content = rtype, id, number, content
        self.at, self.activity = at, activity


def _links(base: str, path: str, params: Sequence[tuple[str, str]], offset: int, count: int,
           total: int | None, shown: int) -> list[dict[str, Any]]:
    kept = [(k, v) for k, v in params if k not in ("_offset", "_count")]

    def url(off: int) -> str:
        return f"{base}/{path}?" + urlencode([*kept, ("_count", str(count)), ("_offset", str(off))])

    links = [{"relation": "self", "url": url(offset)}]
    more = (offset + shown < total) if total is not None else shown >= count > 0
    if more and count > 0:
        links.append({"relation": "next", "url": url(offset + count)})
    if offset > 0 and count > 0:
        links.append({"relation": "previous", "url": url(max(0, offset - count))})
    return links


def searchset(*, base: str, path: str, params: Sequence[tuple[str, str]], entries: Iterable[Entry],
              total: int, offset: int, count: int, bundle_id: str, at: str,
              include: Iterable[Entry] = ()) -> bytes:
    entries = list(entries)
    head = {"resourceType": "Bundle", "id": bundle_id, "meta": {"lastUpdated": at}, "type": "searchset",
            "total": total, "link": _links(base, path, params, offset, count, total, len(entries))}
    parts = [b'{"fullUrl":' + _j(f"{base}/{e.rtype}/{e.id}") + b',"resource":' + e.content
             + b',"search":{"mode":"match"}}' for e in entries]
    parts += [b'{"fullUrl":' + _j(f"{base}/{e.rtype}/{e.id}") + b',"resource":' + e.content
              + b',"search":{"mode":"include"}}' for e in include]
    return _j(head)[:-1] + b',"entry":[' + b",".join(parts) + b"]}"


_METHOD = {"create": "POST", "update": "PUT", "confirm": "POST"}


def history(*, base: str, path: str, params: Sequence[tuple[str, str]], entries: Iterable[Entry],
            total: int, offset: int, count: int, bundle_id: str, at: str) -> bytes:
    entries = list(entries)
    head = {"resourceType": "Bundle", "id": bundle_id, "meta": {"lastUpdated": at}, "type": "history",
            "total": total, "link": _links(base, path, params, offset, count, total, len(entries))}
    parts = []
    for e in entries:
        url = f"{e.rtype}/{e.id}/$confirm" if e.activity == "confirm" else (
            e.rtype if e.activity == "create" else f"{e.rtype}/{e.id}")
        req = {"method": _METHOD.get(e.activity, "PUT"), "url": url}
        resp = {"status": "201 Created" if e.number == 1 else "200 OK",
                "etag": f'W/"{e.number}"', "lastModified": e.at}
        parts.append(b'{"fullUrl":' + _j(f"{base}/{e.rtype}/{e.id}/_history/{e.number}") + b',"resource":'
                     + e.content + b',"request":' + _j(req) + b',"response":' + _j(resp) + b"}")
    return _j(head)[:-1] + b',"entry":[' + b",".join(parts) + b"]}"
