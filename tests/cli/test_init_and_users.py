"""The CLI contract: init, user add/list/disable/reset-password, exit codes, one-line errors."""

import os
import stat

from kura.identity.totp import code_at  # noqa: F401  (the URI's secret is a real TOTP secret)


def _pw(tmp_path, text="Strong-pass-2026"):
    f = tmp_path / "pw.txt"
    f.write_text(text + "\n")
    return f


def test_init_creates_home_keys_0600_and_prints_otpauth(tmp_path, run_kura):
    home = tmp_path / "h"
    code, out, err = run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)
    assert code == 0, err
    assert out.startswith("otpauth://totp/kura:director?secret=")
    for key in ("master.key", "signing.key"):
        assert stat.S_IMODE(os.stat(home / "keys" / key).st_mode) == 0o600
    assert (home / "config.toml").exists()
    code, _, err = run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)
    assert code == 2 and "already a kura home" in err and len(err.strip().splitlines()) == 1


def test_r5_weak_password_refused_and_nothing_created(tmp_path, run_kura):
    home = tmp_path / "h"
    code, _, err = run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path, "director1")), home=home)
    assert code == 2 and "password" in err
    code, _, err = run_kura("init", "--admin", "boss", "--password-file", str(_pw(tmp_path, "12345678")), home=home)
    assert code != 0


def test_user_add_list_disable_reset(tmp_path, run_kura):
    home = tmp_path / "h"
    assert run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)[0] == 0
    code, out, err = run_kura("user", "add", "sato", "--role", "clerk,nurse", "--clearance", "R",
                              stdin="Another-pass-77\n", home=home)
    assert code == 0, err and out.startswith("otpauth://")
    code, out, _ = run_kura("user", "list", home=home)
    assert "sato\tclerk,nurse\tR\tactive" in out
    assert run_kura("user", "disable", "sato", home=home)[0] == 0
    assert "sato\tclerk,nurse\tR\tdisabled" in run_kura("user", "list", home=home)[1]
    code, out, _ = run_kura("user", "reset-password", "sato", "--password-file", str(_pw(tmp_path, "Reset-pass-2027")), home=home)
    assert code == 0 and out.startswith("otpauth://")


def test_bad_usage_exits_2_with_one_line(tmp_path, run_kura):
    home = tmp_path / "h"
    run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)
    for args in (["user", "add", "x", "--role", "wizard"], ["user", "add"], ["frobnicate"],
                 ["user", "add", "ｘ\u0430", "--role", "clerk"]):
        code, _, err = run_kura(*args, stdin="Strong-pass-2026\n", home=home)
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("kura: ")


def test_no_home_is_a_clear_error(tmp_path, run_kura):
    code, _, err = run_kura("user", "list", home=tmp_path / "nothing")
    assert code == 2 and "not a kura home" in err


def test_r12_password_is_never_a_command_line_argument(tmp_path, run_kura):
    code, _, err = run_kura("init", "--admin", "director", "--password", "Strong-pass-2026", home=tmp_path / "h")
    assert code == 2


def test_audit_verify_and_checkpoint(tmp_path, run_kura):
    home = tmp_path / "h"
    run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)
    code, out, _ = run_kura("audit", "checkpoint", home=home)
    assert code == 0 and out.startswith("kura-checkpoint v1 size=")
    code, out, _ = run_kura("audit", "verify", home=home)
    assert code == 0 and "ledger intact" in out


def test_refuses_a_newer_schema(tmp_path, run_kura):
    home = tmp_path / "h"
    run_kura("init", "--admin", "director", "--password-file", str(_pw(tmp_path)), home=home)
    import sqlite3
    con = sqlite3.connect(home / "kura.db")
    con.execute("INSERT INTO alembic_version (version_num) VALUES ('ffff_future')")
    con.commit()
    con.close()
    code, _, err = run_kura("user", "list", home=home)
    assert code != 0 and "newer than this kura" in err
