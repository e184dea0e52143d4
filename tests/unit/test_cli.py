"""The CLI: help, and each exit code it owns, without any service."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from seed_fixture import simple_config_file

from dirkit import Dirkit
from dirkit._cli import main
from dirkit._state import StateStore


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    for group in ("sync", "plan", "emr", "hue", "hadoop", "hdfs", "verify"):
        assert f"  {group} " in commands, group
    assert "  lab " not in commands  # the lab is its own command, dirkit-lab (issue 22)


def _config(tmp_path: Path, url: str = "ldaps://127.0.0.1:1") -> Path:
    return simple_config_file(tmp_path / "dirkit.toml", tmp_path / "state.sqlite", url)


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def test_exit_codes_without_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path)
    assert _run("sync", "--bogus")[0] == 2
    code, out = _run("plan", "-c", str(tmp_path / "missing.toml"))
    assert code == 4 and "cannot read config" in out
    code, out = _run("snapshot", "--from-state", "-c", str(cfg))
    assert code == 1 and "run `dirkit sync` first" in out and "Traceback" not in out
    monkeypatch.setenv("DIRKIT_TEST_UNSET_PASSWORD", "x")
    code, out = _run("plan", "-c", str(cfg))  # nothing listens on port 1
    assert code == 5 and "cannot connect" in out
    with StateStore(tmp_path / "state.sqlite") as store, store.lock():
        code, out = _run("sync", "-c", str(cfg))
    assert code == 6 and "another dirkit run" in out


def test_a_bug_is_one_line_and_exit_1_traceback_only_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Dirkit, limit: int = 20) -> None:
        raise KeyError("boom")

    # A stand-in for a bug: any non-dirkit exception escaping a command.
    monkeypatch.setattr(Dirkit, "history", broken)
    code, out = _run("history", "-c", str(_config(tmp_path)))
    assert code == 1 and "internal error (a bug in dirkit" in out and "KeyError" in out
    assert "Traceback" not in out
    code, out = _run("-v", "history", "-c", str(_config(tmp_path)))
    assert code == 1 and "Traceback" in out


YARN_TOML = """[yarn]
queues = { "root.default" = 30, "root.eng" = 70 }
[[yarn.mappings]]
queue = "root.eng"
groups = ["grp_data_engineering"]
"""


def test_yarn_config_and_explains_queue(tmp_path: Path) -> None:
    # Issue 36: `dirkit yarn config` renders the settings; `emr explain --user U` says U's
    # queue without --path when [yarn] is configured, and refuses without either.
    from seed_fixture import seed_directory

    from dirkit import MemorySource
    from dirkit._config import load

    plain = _config(tmp_path)
    code, out = _run("emr", "explain", "--user", "dataeng1", "-c", str(plain))
    assert code == 2 and "give --path" in out and "Traceback" not in out
    cfg = simple_config_file(tmp_path / "yarn.toml", tmp_path / "state.sqlite", extra=YARN_TOML)
    code, out = _run("yarn", "config", "-c", str(cfg))
    assert code == 0 and "<name>yarn.scheduler.capacity.queue-mappings</name>" in out
    assert "<value>g:grp_data_engineering:root.eng,u:%user:root.default</value>" in out
    code, out = _run("yarn", "config", "--format", "classification", "-c", str(cfg))
    assert code == 0 and '"Classification": "capacity-scheduler"' in out
    Dirkit(load(cfg), source=MemorySource(seed_directory())).sync()
    code, out = _run("emr", "explain", "--user", "DataEng1", "--from-state", "-c", str(cfg))
    assert code == 0 and "queue:  root.eng  (g:grp_data_engineering:root.eng)" in out, out
    code, out = _run("emr", "explain", "--user", "admin1", "--from-state", "--json", "-c", str(cfg))
    import json

    doc = json.loads(out)
    assert doc["user"] == "admin1" and doc["queue"]["queue"] == "root.default" and doc["queue"]["mapping_index"] is None
