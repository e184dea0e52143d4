from click.testing import CliRunner

from dirkit.cli import main


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    for group in ("sync", "plan", "emr", "hue", "hadoop", "hdfs", "verify", "lab"):
        assert f"  {group} " in commands, group


def test_lab_help_has_examples() -> None:
    result = CliRunner().invoke(main, ["lab", "--help"])
    assert result.exit_code == 0
    assert "dirkit lab status --json" in result.output
