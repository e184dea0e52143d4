"""Issue 34, item 2: after a run that revoked someone, the configured commands tell the cluster's
caches at once; each is bounded and recorded, a failure never fails the run. The commands here
are a real program that records its argv (a stand-in for `hdfs dfsadmin` and `sss_cache`: the
lab test runs the real ones against the lab's NameNode and SSSD node)."""

from __future__ import annotations

import json
import shlex
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from seed_fixture import seed_config, seed_directory
from test_sync_outcomes import kit, without_users

from dirkit._directory.source import MemorySource
from dirkit._revocation import MAX_INVALIDATIONS, RevokedNames, node_argv
from dirkit.errors import ConfigError


def _recorder(tmp_path: Path, exit_code: int = 0, sleep: float = 0) -> Path:
    script = tmp_path / "record-argv"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys, time\n"
        f"time.sleep({sleep})\n"
        f"open({str(tmp_path / 'calls.jsonl')!r}, 'a').write(json.dumps([sys.argv[1:], 'KRB5CCNAME' in os.environ]) + '\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _calls(tmp_path: Path) -> list[Any]:
    f = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def _disabled(d: Any, sam: str) -> Any:
    users = {g: (replace(u, enabled=False) if u.sam == sam else u) for g, u in d.users.items()}
    return replace(d, users=users)


def test_a_run_that_disables_a_user_flushes_the_caches_and_records_it(tmp_path: Path) -> None:
    prog = _recorder(tmp_path)
    revocation = {"refresh_commands": [[str(prog), "dfsadmin"]], "node_commands": [[str(prog), "node1"]]}
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, revocation=revocation)
    k.sync()
    assert _calls(tmp_path) == []  # a first run revokes no one
    source.directory = _disabled(source.directory, "dataeng1")
    r = k.sync()
    assert [(a.action, a.ok) for a in r.revocation] == [("refresh", True), ("node_cache", True)]
    assert _calls(tmp_path) == [[["dfsadmin"], False], [["node1", "sss_cache", "--user=dataeng1"], False]]
    record = k.history(1)[0].details
    assert record.revocation is not None and [a.program for a in record.revocation] == [str(prog)] * 2
    assert r.to_json()["revocation"][0]["action"] == "refresh"
    assert k.sync().revocation == ()  # nothing more revoked: nothing run


def test_a_failing_or_hanging_action_is_reported_and_the_run_still_applies(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    failing = _recorder(tmp_path / "a", exit_code=3)
    slow = _recorder(tmp_path / "b", sleep=5)
    revocation = {"refresh_commands": [[str(failing)], [str(slow)], ["/nonexistent/hdfs"]], "timeout_seconds": 0.5}
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, revocation=revocation)
    k.sync()
    source.directory = without_users(source.directory, "dataeng1")
    r = k.sync()
    assert r.applied and k.history(1)[0].outcome == "applied"
    errors = [a.error for a in r.revocation]
    assert errors[0].startswith("exit 3") and errors[1] == "timed out after 0.5s" and errors[2]
    assert not any(a.ok for a in r.revocation)


def test_many_names_invalidate_the_whole_node_cache_in_one_call() -> None:
    few = RevokedNames(["u1", "u2"], ["g1"])
    assert node_argv(["chroot", "/node"], few) == [
        ["chroot", "/node", "sss_cache", "--user=u1"],
        ["chroot", "/node", "sss_cache", "--user=u2"],
        ["chroot", "/node", "sss_cache", "--group=g1"],
    ]
    many = RevokedNames([f"u{i}" for i in range(MAX_INVALIDATIONS + 1)], [])
    assert node_argv(["ssh", "n1"], many) == [["ssh", "n1", "sss_cache -U -G"]]


def test_an_ad_name_stays_one_argument_through_ssh_and_is_never_an_option() -> None:
    # ssh hands its arguments, joined, to the node's shell: a name AD allows (`;`, `$(...)`,
    # spaces, a leading '-') must reach sss_cache as one value.
    hostile = "x; touch /tmp/owned $(id)"
    [call] = node_argv(["ssh", "admin@node1", "sudo"], RevokedNames([hostile], []))
    assert call[:3] == ["ssh", "admin@node1", "sudo"] and len(call) == 4
    assert shlex.split(call[3]) == ["sss_cache", f"--user={hostile}"]
    [call] = node_argv(["chroot", "/node"], RevokedNames(["-E"], []))
    assert call == ["chroot", "/node", "sss_cache", "--user=-E"]  # not sss_cache's -E (everything)


def test_a_principal_without_its_keytab_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"revocation\.principal and revocation\.keytab"):
        seed_config(revocation={"principal": "hdfs/nn@EMR.DIRKIT.TEST"})


def test_a_name_the_node_has_not_cached_is_not_a_failure(tmp_path: Path) -> None:
    # sss_cache -u NAME exits 2 "No cache object matched the specified search" when the node
    # never looked NAME up (seen on the lab's SSSD 2.8): nothing to forget. Any other exit 2 fails.
    script = tmp_path / "sss"
    script.write_text('#!/bin/sh\necho "No cache object matched the specified search" >&2\nexit 2\n')
    script.chmod(0o755)
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, revocation={"node_commands": [[str(script)]], "refresh_commands": [[str(script)]]})
    k.sync()
    source.directory = _disabled(source.directory, "dataeng1")
    done = {a.action: a for a in k.sync().revocation}
    assert done["node_cache"].ok and not done["refresh"].ok
