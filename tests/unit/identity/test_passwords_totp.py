"""Password rules (R5), Argon2id (RFC 9106), TOTP (RFC 6238) with drift and replay guard."""

import datetime as dt

import pytest

from kura.identity import passwords, totp
from kura.identity.service import normalise_username
from kura.errors import Invalid


@pytest.mark.parametrize("pw,problem", [
    ("short1!", "at least 8"),
    ("yamada-secret", "user name"),
    ("password", "too common"),
    ("Password123", "too common"),
    ("qwertyuiop", "too common"),
    ("aaaaaaaaaaaa", "too few different"),
    ("ok\x00password", "control"),
])
def test_r5_password_rules(pw, problem):
    assert problem in passwords.password_problem(pw, username="yamada", min_length=8)


def test_r5_good_password_and_configurable_minimum():
    assert passwords.password_problem("kura-niwa-4417", username="yamada", min_length=8) is None
    assert "at least 13" in passwords.password_problem("kura-niwa-44", username="yamada", min_length=13)


def test_argon2id_hashes_verify_and_never_store_plaintext():
    h = passwords.hash_password("kura-niwa-4417")
    assert h.startswith("$argon2id$") and "kura-niwa" not in h
    assert passwords.verify_password(h, "kura-niwa-4417")
    assert not passwords.verify_password(h, "kura-niwa-4418")
    assert not passwords.verify_password("garbage", "x")


def test_totp_accepts_one_step_of_drift_and_no_replay():
    secret = totp.new_secret()
    now = dt.datetime(2026, 11, 25, 9, 0, 15, tzinfo=dt.timezone.utc)
    step_now = int(now.timestamp()) // 30
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, now + dt.timedelta(seconds=30 * offset))
        assert totp.accepted_step(secret, code, now=now, last_step=0) == step_now + offset
    too_old = totp.code_at(secret, now - dt.timedelta(seconds=90))
    assert totp.accepted_step(secret, too_old, now=now, last_step=0) is None
    code = totp.code_at(secret, now)
    assert totp.accepted_step(secret, code, now=now, last_step=step_now) is None  # replay
    assert totp.accepted_step(secret, "12345", now=now, last_step=0) is None
    assert totp.accepted_step(secret, "abcdef", now=now, last_step=0) is None


@pytest.mark.parametrize("raw,name", [("Yamada", "yamada"), ("ＹＡＭＡＤＡ", "yamada"), (" sato.k ", "sato.k")])
def test_username_nfkc(raw, name):
    assert normalise_username(raw) == name


@pytest.mark.parametrize("raw", ["yаmada", "山田", "", "a b", "x" * 65, "'; drop table user_account; --"])
def test_username_lookalikes_and_junk_refused(raw):
    with pytest.raises(Invalid):
        normalise_username(raw)
