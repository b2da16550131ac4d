"""Operations logs: one JSON object per line (python-json-logger), on stderr or a rotating file.

Each line carries what ties it to an event: the request id (the same id as the ledger's
request_id and the one quoted on a 500 page), the user, the DICOM association and its peer.
They are bound once per request or association (`bound`) in a context variable, so code that
logs need not pass them. Lines name ids, kinds, sizes, durations and statuses — never a
password, token, key or patient content: no request body, query string or dataset is logged,
and the database engine hides statement parameters in its errors (kura.db.engine).

Imports nothing from kura: `configure` takes plain values (the CLI passes the settings).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import IO, Any, Iterator

from pythonjsonlogger.json import JsonFormatter

__all__ = ["configure", "bound", "bind_thread", "annotate", "get", "mark_logged", "LEVELS"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FIELDS = ("request_id", "user", "assoc", "peer")
_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("kura_log", default=None)
_MARK = "_kura_handler"


def get(name: str) -> logging.Logger:
    """The logger for a kura module (`get(__name__)`)."""
    return logging.getLogger(name)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[dict[str, Any]]:
    """Add `fields` (request_id, user, assoc, peer) to every line logged inside the block.

    The dict yielded is shared with threads started inside (they copy the context), so
    `annotate` there (e.g. the user, once the session is resolved) is seen by the block."""
    current = _CONTEXT.get() or {}
    fresh = {**current, **{k: v for k, v in fields.items() if v is not None}}
    token = _CONTEXT.set(fresh)
    try:
        yield fresh
    finally:
        _CONTEXT.reset(token)


def bind_thread(**fields: Any) -> None:
    """Tag every later line of the current thread (one that serves one DICOM association
    from start to end: a new thread starts with no fields)."""
    _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def annotate(**fields: Any) -> None:
    """Add fields to the innermost `bound` block; does nothing outside one."""
    current = _CONTEXT.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def mark_logged(exc: BaseException) -> None:
    """Note that `exc` has been logged with its traceback, so that a server which logs it
    again as it passes (uvicorn's "Exception in ASGI application") does not repeat it."""
    with contextlib.suppress(AttributeError, TypeError):
        exc.__kura_logged__ = True  # type: ignore[attr-defined]


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and getattr(exc, "__kura_logged__", False) and record.name.startswith("uvicorn"):
            return False
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        for key, value in (_CONTEXT.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def formatter() -> logging.Formatter:
    # ts: ISO 8601 in UTC, like the ledger's times
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="ts",
                         rename_fields={"levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)


def configure(*, level: str = "INFO", file: Path | None = None, max_bytes: int = 10 * 1024 * 1024,
              keep: int = 5, stream: IO[str] | None = None) -> logging.Handler:
    """Send kura's (and uvicorn's, pynetdicom's) log records to stderr, or to `file` rotated at
    `max_bytes` with `keep` old files. Replaces the handler of an earlier call. Returns it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=keep,
                                                       encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter())
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pynetdicom narrates every PDU at INFO; its warnings and handler tracebacks still pass.
    logging.getLogger("pynetdicom").setLevel("DEBUG" if level.upper() == "DEBUG" else "WARNING")
    return handler
