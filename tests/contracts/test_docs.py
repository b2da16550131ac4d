"""The README stays true: every setting and every CLI command is documented."""

import re
from pathlib import Path

from kura.config import SETTINGS

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    for name, _, _ in SETTINGS:
        assert f"| `{name}` |" in README, name


def test_readme_opens_with_the_two_commands():
    head = README.split("```", 2)[1]
    assert "./scripts/demo" in head and "./scripts/test" in head


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "./scripts/test" in ci


def _documented_commands() -> set[str]:
    """The commands the README's command table names: in each backticked cell of the first
    column, the lowercase words before the first option or PLACEHOLDER."""
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    found = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        for cell in re.findall(r"`([^`]+)`", row.split(" | ")[0]):
            words = []
            for word in cell.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            if words:
                found.add(" ".join(words))
    return found


def _commands() -> set[str]:
    import typer.main

    import kura.cli as cli
    cli._register()
    group = typer.main.get_command(cli.app)
    out = set()
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        subs = getattr(command, "commands", None)
        if subs:
            out |= {f"{name} {sub}" for sub, c in subs.items() if not getattr(c, "hidden", False)}
        else:
            out.add(name)
    return out


def test_every_cli_command_is_in_the_readme():
    """Both ways: each command has a row of its own in the README's command table (a mention
    in prose is not enough), and the table names no command kura does not have."""
    commands, documented = _commands(), _documented_commands()
    assert commands == documented, (f"not in the README's command table: {sorted(commands - documented)}; "
                                    f"in the table but not a command: {sorted(documented - commands)}")
