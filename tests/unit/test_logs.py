"""kura.logs: JSON lines with the bound fields; a file rotated at the configured size."""

from __future__ import annotations

import json
import logging

from kura import logs
from kura.config import load_settings


def test_file_from_settings_is_rotated(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[kura]\nlog_file = "logs/kura.log"\nlog_file_max_bytes = 400\n'
                                      'log_file_keep = 2\nlog_level = "warning"\n', encoding="utf-8")
    s = load_settings(home)
    handler = logs.configure(level=s.log_level, file=s.log_path, max_bytes=s.log_file_max_bytes,
                             keep=s.log_file_keep)
    try:
        log = logs.get("kura.test")
        with logs.bound(request_id="r-1", user="clerk1"):
            for i in range(20):
                log.warning("line %d", i)
            log.info("below the level")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in (home / "logs").iterdir())
    assert files == ["kura.log", "kura.log.1", "kura.log.2"]
    last = [json.loads(line) for line in (home / "logs" / "kura.log").read_text().splitlines()][-1]
    assert last["message"] == "line 19" and last["request_id"] == "r-1" and last["user"] == "clerk1"
    assert last["level"] == "WARNING" and last["ts"].endswith("+00:00")
    assert "below the level" not in "".join(p.read_text() for p in (home / "logs").iterdir())


def test_bad_level_is_refused(tmp_path):
    import pytest

    from kura.errors import Invalid
    with pytest.raises(Invalid, match="log_level"):
        load_settings(tmp_path, log_level="LOUD")
