import os
import subprocess
import sys

import pytest


@pytest.fixture
def run_kura(tmp_path):
    """Run the real `kura` command in a subprocess; returns (code, stdout, stderr)."""
    def _run(*args, stdin: str | None = None, home=None, env=None):
        full_env = {**os.environ, "KURA_ENV": "development", **(env or {})}
        home_args = ["--home", str(home)] if home is not None else []
        proc = subprocess.run([sys.executable, "-m", "kura", *home_args, *args], input=stdin,
                              capture_output=True, text=True, env=full_env, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr
    return _run
