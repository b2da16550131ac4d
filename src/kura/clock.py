"""Time, always UTC-aware, behind a protocol so tests can fix it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = ["Clock", "SystemClock", "FixedClock", "utc"]

utc = dt.timezone.utc


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(utc)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime(2026, 4, 1, 0, 0, tzinfo=utc)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **kwargs: float) -> None:
        self._now += dt.timedelta(**kwargs)
