"""`kura key export` and `kura backup …` through the real command (R56, R58, R59).

The recovery kit is what a restore on another machine needs: the last test restores with
the kit alone, from a shell that has no kura home at all.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from sqlalchemy import select

from kura.app import build
from kura.config import load_settings
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.kit import parse_kit

from tests.support.homes import populate


def kura_cli(*args, home=None, stdout=subprocess.PIPE):
    env = {**os.environ, "KURA_ENV": "development"}
    cmd = [sys.executable, "-m", "kura", *(["--home", str(home)] if home else []), *args]
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout or "", proc.stderr


def test_r56_key_export_prints_the_kit_with_a_qr_code_and_ledgers_it(kura, home):
    code, out, err = kura_cli("key", "export", home=home)
    assert code == 0, err
    kit = parse_kit(out)
    assert kit.master_key == kura.master_key and kit.key_id == kura.signer.key_id
    assert "▀" in out or "█" in out  # the QR code, drawn with block characters
    with kura.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsKeyExported))).one()
    assert kura.master_key.hex() not in entry.detail and "KURA-KIT1" not in entry.detail


def test_r56_key_export_writes_a_file_only_with_mode_0600_and_never_over_one(home, tmp_path):
    target = tmp_path / "kit.txt"
    code, _, err = kura_cli("key", "export", "--out", str(target), home=home)
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    code, _, err = kura_cli("key", "export", "--out", str(target), home=home)
    assert code == 2 and "exists" in err
    # a shell redirection into a file others can read is refused
    loose = tmp_path / "loose.txt"
    with open(loose, "w") as fh:
        os.chmod(loose, 0o644)
        code, _, err = kura_cli("key", "export", home=home, stdout=fh)
    assert code == 2 and "--out" in err
    assert loose.read_text() == ""


def test_r59_backup_verify_restore_through_the_command_with_the_recovery_kit(kura, home, tmp_path):
    populate(kura)
    dest, kit = tmp_path / "dest", tmp_path / "kit.txt"
    assert kura_cli("key", "export", "--out", str(kit), home=home)[0] == 0
    code, out, err = kura_cli("backup", "create", str(dest), home=home)
    assert code == 0 and "complete" in out, err
    code, out, err = kura_cli("backup", "verify", str(dest), home=home)
    assert code == 0 and "intact" in out, err
    code, out, _ = kura_cli("backup", "list", str(dest), home=home)
    assert code == 0 and " ok" in out.splitlines()[1]
    # another machine: no home, only the kit
    into = tmp_path / "elsewhere"
    code, out, err = kura_cli("--home", str(tmp_path / "none"), "backup", "restore", str(dest),
                              "--into", str(into), "--key-file", str(kit))
    assert code == 0, err
    code, out, err = kura_cli("audit", "verify", "--deep", home=into)
    assert code == 0 and "deep" in out, err
    # and again into the same folder: refused, exit 2
    code, _, err = kura_cli("backup", "restore", str(dest), "--into", str(into), "--key-file", str(kit))
    assert code == 2 and "not empty" in err
    app = build(load_settings(into, env="development"))
    app.dispose()


def test_r62_backup_verify_exits_1_naming_the_damaged_file(kura, home, tmp_path):
    populate(kura)
    dest = tmp_path / "dest"
    assert kura_cli("backup", "create", str(dest), home=home)[0] == 0
    gen = next((dest / "generations").iterdir())
    os.chmod(gen, 0o700)
    os.chmod(gen / "db.sealed", 0o600)
    with open(gen / "db.sealed", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0\0\0\0")
    code, _, err = kura_cli("backup", "verify", str(dest), home=home)
    assert code == 1 and "db.sealed" in err and "differs" in err


def test_r58_a_kit_with_a_typo_is_refused(home, tmp_path):
    code, out, _ = kura_cli("key", "export", home=home)
    line = next(ln for ln in out.splitlines() if ln.startswith("KURA-KIT1:"))
    head, master, public, check = line.split(":")
    typo = master[:5] + ("A" if master[5] != "A" else "B") + master[6:]
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{head}:{typo}:{public}:{check}\n")
    code, _, err = kura_cli("backup", "restore", str(tmp_path / "d"), "--into", str(tmp_path / "x"),
                            "--key-file", str(bad), home=home)
    assert code == 2 and "check digits" in err
