"""Capture kura's operations log (kura.logs) as parsed JSON lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from kura import logs


class Captured:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def captured_logs():
    """kura.logs configured as `kura serve` does, writing to a buffer; restored afterwards."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = logs.configure(level="INFO", stream=stream)
    yield Captured(stream)
    root.removeHandler(handler)
    root.setLevel(level)
