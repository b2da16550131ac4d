"""The README stays true: every setting and every CLI command is documented."""

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


def test_every_cli_command_is_in_the_readme():
    import kura.cli as cli
    cli._register()
    import typer.main
    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None)
        if subs:
            for sub in subs:
                assert f"`{name} {sub}" in README or f"`{sub}" in README and name in README, f"{name} {sub}"
        else:
            assert f"`{name}" in README, name
