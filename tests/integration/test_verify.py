"""`dirkit verify` against the lab: Samba AD, MIT KDC, the NameNode and HiveServer2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dirkit import _sync as sync
from dirkit._homes import provision as homes
from dirkit._verify import checks as verify
from dirkit.errors import EXIT_CHECKS_FAILED


@pytest.fixture
def provisioned(make_config: Any) -> Any:
    """Config + snapshot with the seed homes provisioned under /user (the lab's prefix)."""
    cfg = make_config()
    d = sync.read(cfg)
    done = homes.provision(cfg.hdfs, d)
    assert not done.failed, done.failed  # a home that failed here fails the hdfs check later
    return cfg, d


def _by_check(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


def _failures(report: Any) -> str:
    """The failing checks, each named with its whole detail (the full list was cut by pytest
    before the failing check, issue 19 item 11)."""
    return f"{report.user}: " + "; ".join(
        f"{c.name} {c.status}: {c.detail}" for c in report.checks if c.status != "pass"
    )


def test_dataeng1_passes_every_check(provisioned: Any) -> None:
    cfg, d = provisioned
    [r] = verify.verify(cfg, d, ["dataeng1"])
    checks = _by_check(r)
    assert r.ok and all(c.status == "pass" for c in r.checks), _failures(r)
    assert "krbtgt/EMR.DIRKIT.TEST@AD.DIRKIT.TEST" in checks["kerberos"].detail  # the cross-realm path
    assert checks["hive"].detail.startswith("current_user() = dataeng1")
    assert "dirkit-data-engineering" in checks["emrfs"].detail


def test_disabled_user_fails_at_kerberos_with_the_reason(provisioned: Any) -> None:
    cfg, d = provisioned
    [r] = verify.verify(cfg, d, ["disabled1"])
    checks = _by_check(r)
    assert checks["kerberos"].status == "fail" and "disabled or locked out" in checks["kerberos"].detail
    assert checks["hdfs"].status == "skip" and checks["hive"].status == "skip" and not r.ok


def test_user_without_a_home_fails_hdfs(make_config: Any, hdfs_scratch: str) -> None:
    cfg = make_config(hdfs={"prefix": hdfs_scratch})
    [r] = verify.verify(cfg, sync.read(cfg), ["datascientist1"])
    checks = _by_check(r)
    assert checks["kerberos"].status == "pass"
    assert checks["hdfs"].status == "fail" and "no home at" in checks["hdfs"].detail


def test_wrong_password_fails_cleanly(make_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRKIT_TEST_WRONG_PW", "not-it")
    cfg = make_config(verify={"users": [{"name": "datascientist1", "password": "env:DIRKIT_TEST_WRONG_PW"}]})
    [r] = verify.verify(cfg, sync.read(cfg))
    k = _by_check(r)["kerberos"]
    assert k.status == "fail" and "wrong password" in k.detail and "not-it" not in k.detail


def test_hiveserver_down_gives_a_clear_error_within_the_timeout(provisioned: Any, make_config: Any) -> None:
    _, d = provisioned
    # A port that accepts connections and then says nothing: the worst case for a client.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        cfg = make_config(verify={"timeout_seconds": 4, "hive": {"host": "localhost", "port": port}})
        t0 = time.monotonic()
        [r] = verify.verify(cfg, d, ["dataeng1"])
        took = time.monotonic() - t0
    finally:
        stop.set()
        silent.close()
    hive = _by_check(r)["hive"]
    assert hive.status == "fail" and "did not answer within 4s" in hive.detail
    assert took < 4 + 10
    closed = make_config(verify={"timeout_seconds": 4, "hive": {"host": "localhost", "port": 1}})
    [r] = verify.verify(closed, d, ["dataeng1"])
    assert "HiveServer2 localhost:1" in _by_check(r)["hive"].detail


def test_two_users_at_once_use_separate_credential_caches(provisioned: Any) -> None:
    cfg, d = provisioned
    reports = verify.verify(cfg, d, ["dataeng1", "datascientist1"])
    assert len({r.ccache for r in reports}) == 2
    for r in reports:
        assert r.ok, _failures(r)
        assert _by_check(r)["hive"].detail.startswith(f"current_user() = {r.user}")
        assert not Path(r.ccache.removeprefix("FILE:")).exists()  # removed afterwards


def test_cli_matrix_and_exit_code(provisioned: Any, lab_status: dict[str, Any]) -> None:
    env = {**os.environ, "DIRKIT_CONFIG": lab_status["config"]}
    r = subprocess.run(
        [sys.executable, "-m", "dirkit._cli", "verify", "--user", "dataeng1", "--user", "disabled1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == EXIT_CHECKS_FAILED, r.stderr
    out = {u["user"]: u for u in json.loads(r.stdout)}
    assert out["dataeng1"]["ok"] and not out["disabled1"]["ok"]
