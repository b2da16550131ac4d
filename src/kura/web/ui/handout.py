"""Files handed out once: an export made by a POST is shown on a page (with its password, if
any) and downloaded by a link that works once, for the user who made it, for ten minutes.

Only this process holds them, in memory: what is kept is already what leaves the hospital
(an encrypted ZIP, a registered medium), never anything the user could not take anyway.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time

from fastapi.responses import Response

from kura.errors import NotFound

__all__ = ["Handout", "keep", "take", "SECONDS"]

SECONDS = 600
_READY: dict[str, tuple[str, float, Handout]] = {}
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Handout:
    data: bytes
    filename: str
    media_type: str
    sha256: str


def keep(user_id: str, item: Handout) -> str:
    token = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _LOCK:
        for t in [t for t, (_, exp, _) in _READY.items() if exp < now]:
            del _READY[t]
        _READY[token] = (user_id, now + SECONDS, item)
    return token


def take(user_id: str, token: str) -> Response:
    """The file, once. Raises NotFound when taken already, expired, or someone else's."""
    with _LOCK:
        held = _READY.get(token)
        if held is None or held[0] != user_id or held[1] < time.monotonic():
            raise NotFound("this file has been downloaded already or has expired; make it again")
        del _READY[token]
    item = held[2]
    return Response(content=item.data, media_type=item.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{item.filename}"',
                             "Cache-Control": "no-store", "X-Kura-SHA256": item.sha256})
