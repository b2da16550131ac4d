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


def cli_messages() -> tuple[set[str], set[str]]:
    """The fixed messages the CLI's modules pass to `fail` or `_`, and any f-strings passed instead."""
    import ast
    from pathlib import Path

    import kura.cli
    ids, formatted = set(), set()
    for path in Path(kura.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("fail", "_") \
                    and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    ids.add(first.value)
                elif isinstance(first, ast.JoinedStr):
                    formatted.add(f"{path.name}:{node.lineno}")
    return ids, formatted


def _catalogue(lang, domain):
    from babel.messages.pofile import read_po

    from kura.i18n import LOCALE_DIR
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return read_po(fh, locale=lang, abort_invalid=True)  # a malformed entry fails here


def test_every_cli_message_has_japanese_text_and_no_f_string():
    ids, formatted = cli_messages()
    assert len(ids) > 40
    assert not formatted, "pass fields as %(name)s, not in an f-string"
    ja = {m.id: m.string for domain in ("cli", "messages") for m in _catalogue("ja", domain) if m.id}
    assert not sorted(m for m in ids if not ja.get(m))


def test_the_english_cli_catalogue_lists_the_same_messages():
    assert {m.id for m in _catalogue("ja", "cli")} == {m.id for m in _catalogue("en", "cli")}


def test_a_core_summary_is_said_in_japanese(tmp_path, japanese, run_kura):
    (tmp_path / "pw").write_text("correct horse battery staple 2026\n")
    home = tmp_path / "home"
    assert run_kura("init", "--admin", "director", "--password-file", str(tmp_path / "pw"), home=home)[0] == 0
    code, out, _ = run_kura("audit", "verify", home=home)
    assert code == 0 and out.strip().startswith("台帳は正常です: ") and out.strip().endswith("チェックポイントを検証しました")
    code, out, _ = run_kura("audit", "verify", home=home, env={"KURA_LANG": "en"})
    assert code == 0 and out.strip().startswith("ledger intact: ")
