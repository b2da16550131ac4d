"""Operations log lines of the DICOM adapter (kura.logs): the association and its peer on
every line, and every failure status with its traceback.

Handlers call `begin` when an association is requested (its thread then tags each line with
`assoc` and `peer`), `end` when it is released or aborted, and `failed` wherever an exception
becomes a status: a refusal (Invalid, Denied) is an INFO line, anything else an ERROR line
with the traceback. Nothing from the data set is logged.
"""

from __future__ import annotations

import time
import uuid

from kura import logs
from kura.errors import Denied, Invalid

__all__ = ["begin", "end", "failed", "log"]

log = logs.get("kura.dicom")


def _peer(event) -> str:
    requestor = event.assoc.requestor
    aet = (requestor.primitive.calling_ae_title if requestor.primitive else requestor.ae_title) or ""
    return f"{aet.strip()}@{requestor.address}"


def begin(event, *, accepted: bool, reason: str = "calling AE title not registered") -> None:
    """Tag this association's thread (pynetdicom runs each association in its own) and log it."""
    assoc = event.assoc
    assoc.kura_log_id = uuid.uuid4().hex[:12]
    assoc.kura_log_started = time.perf_counter()
    logs.bind_thread(assoc=assoc.kura_log_id, peer=_peer(event))
    if accepted:
        log.info("dicom association requested")
    else:
        log.warning("dicom association rejected: %s", reason)


def end(event, how: str) -> None:
    """Log the end of an association (`released` or `aborted`) and how long it lasted."""
    started = getattr(event.assoc, "kura_log_started", None)
    ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    log.info("dicom association %s", how, extra={"ms": ms})


def failed(exc: BaseException, status: int, *, what: str = "", **fields) -> int:
    """Log the exception that became failure `status` (with its traceback unless it is a
    refusal) and return `status`. `fields` name the association when logged from another
    thread (the group-commit writer): assoc=…, peer=…"""
    refusal = isinstance(exc, (Invalid, Denied))
    extra = {"status": f"0x{status:04X}", "error": type(exc).__name__, **fields}
    message = f"dicom {what or 'operation'} {'refused' if refusal else 'failed'}"
    if refusal:
        log.info(message, extra=extra)
    else:
        # logged already where it happened (the writer thread): the line here adds the association
        log.error(message, exc_info=None if getattr(exc, "__kura_logged__", False) else exc, extra=extra)
    return status
