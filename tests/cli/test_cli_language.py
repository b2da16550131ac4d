"""The CLI speaks Japanese first: the home's settings.language, else $KURA_LANG's, else ja;
a failure is one line in that language (issue 12: every message a user sees has Japanese text)."""

from __future__ import annotations

import pytest

from tests.support.cli import kura_cmd


@pytest.fixture
def japanese(monkeypatch):
    monkeypatch.delenv("KURA_LANG", raising=False)  # tests/conftest.py sets en for the others


def test_a_failure_is_one_japanese_line_by_default(tmp_path, japanese):
    code, out, err = kura_cmd(tmp_path / "nowhere", "user", "list")
    assert code == 2 and out == ""
    assert err == f"kura: {tmp_path / 'nowhere'} は kura のホームではありません。先に `kura init --admin 名前` を実行してください\n"


def test_kura_lang_en_gives_the_english_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KURA_LANG", "en")
    code, _, err = kura_cmd(tmp_path / "nowhere", "user", "list")
    assert code == 2
    assert err == f"kura: {tmp_path / 'nowhere'} is not a kura home: run `kura init --admin NAME` first\n"


def test_an_unknown_kura_lang_falls_back_to_japanese(tmp_path, monkeypatch):
    monkeypatch.setenv("KURA_LANG", "fr")
    _, _, err = kura_cmd(tmp_path / "nowhere", "user", "list")
    assert "ホームではありません" in err


def test_a_core_message_reads_as_the_screens_show_it(tmp_path, japanese, run_kura):
    (tmp_path / "pw").write_text("correct horse battery staple 2026\n")
    code, _, err = run_kura("init", "--admin", "Bad Name!", "--password-file", str(tmp_path / "pw"),
                            home=tmp_path / "home")
    assert code == 2
    assert err == "kura: ユーザー名は 1〜64 文字の英小文字・数字・'.'・'-'・'_' で入力してください\n"


def test_the_homes_language_setting_chooses_english(tmp_path, japanese, run_kura):
    from kura.app import create_home
    create_home(tmp_path / "home", '[kura]\nlanguage = "en"\n')
    (tmp_path / "pw").write_text("correct horse battery staple 2026\n")
    code, _, err = run_kura("user", "add", "Bad Name!", "--role", "clerk", "--password-file", str(tmp_path / "pw"),
                            home=tmp_path / "home")
    assert code == 2
    assert err == "kura: user name must be 1–64 characters: letters a–z, digits, '.', '-', '_'\n"

