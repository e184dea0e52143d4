"""`dirkit watch` on the lab's Samba DC (issue 34): what it hears (change notifications, the
rootDSE's highestCommittedUSN), and the service itself, started from config/dirkit-watch.service
the way systemd starts it (its ExecStart and Environment, a notify socket of ours): ready, a
user disabled in AD, the run recorded within seconds, stopped by its KillSignal."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from dirkit._directory.changes import Notifications, UsnProbe
from dirkit._state import StateStore
from dirkit_lab import seed

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "config" / "dirkit-watch.service"
WATCHED = f"CN=rangeuser11,{seed.HARD_OU}"


def _unit(path: Path) -> dict[str, list[str]]:
    """The [Service] keys of a systemd unit (each key's values in order)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


@pytest.fixture
def enabled_again(ad_admin: ldap3.Connection) -> Iterator[None]:
    yield
    assert ad_admin.modify(WATCHED, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]}), ad_admin.result


def test_the_dc_notifies_a_change_and_every_change_moves_its_usn(
    make_config: Any, ad_admin: ldap3.Connection, enabled_again: None
) -> None:
    # With the lab's sync account (svc-dirkit, Kerberos over LDAPS): ldap3's streaming
    # strategy binds as the reader's connections do, and Samba accepts the notification search
    # at the domain root. A deletion is not notified (measured for the issue), but moves the USN.
    cfg = make_config()
    probe = UsnProbe(cfg.ldap)
    url, before = probe.usn()
    wake = threading.Event()
    notes = Notifications(cfg.ldap, url, cfg.directory.base_dn, wake)
    notes.start()
    try:
        time.sleep(0.5)
        assert notes.alive, notes.why_not
        t0 = time.monotonic()
        assert ad_admin.modify(WATCHED, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
        assert wake.wait(20), "no notification within 20 s"
        took = time.monotonic() - t0
        assert notes.received >= 1 and notes.alive
        print(f"notified after {took:.2f}s")
        assert probe.usn()[1] > before
        dn = f"CN=dk-watch-gone,{seed.HARD_OU}"
        assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "dk-watch-gone"})
        moved = probe.usn()[1]
        assert ad_admin.delete(dn), ad_admin.result
        assert probe.usn()[1] > moved  # the deletion, seen by the USN
    finally:
        notes.stop()
        probe.close()
    assert not notes.alive


def test_a_refused_notification_search_says_why_and_the_usn_still_works(make_config: Any) -> None:
    # Windows refuses a subtree notification below a naming context's root; Samba refuses a
    # filter other than objectClass presence. A base that does not exist is refused by both:
    # the search ends, `alive` turns false with the DC's words, and nothing hangs.
    cfg = make_config()
    wake = threading.Event()
    notes = Notifications(cfg.ldap, cfg.ldap.urls[0], "DC=nowhere,DC=example", wake)
    notes.start()
    try:
        assert wake.wait(20) and not notes.alive
        assert notes.why_not, "the DC's answer is kept"
    finally:
        notes.stop()
    assert UsnProbe(cfg.ldap).usn()[1] > 0


class _NotifySocket:
    """What systemd listens on for a Type=notify service: the datagrams it sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.got: list[str] = []

    def wait_for(self, prefix: str, seconds: float) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            hit = next((m for m in self.got if m.startswith(prefix)), None)
            if hit:
                return hit
            try:
                self.got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass
        raise AssertionError(f"no {prefix} from the service within {seconds}s; got {self.got}")


def test_dirkit_watch_from_its_systemd_unit_applies_a_disable_within_seconds(
    make_config_file: Any, ad_admin: ldap3.Connection, enabled_again: None, tmp_path: Path
) -> None:
    unit = _unit(UNIT)
    assert unit["Type"] == ["notify"]
    config = make_config_file(watch={"poll_seconds": 1.0, "debounce_seconds": 0.5}, hdfs=None)
    env = dict(os.environ)
    for assignment in unit.get("Environment", []):
        k, v = assignment.split("=", 1)
        env[k] = v
    env["DIRKIT_CONFIG"] = str(config)  # the unit's points at /etc/dirkit
    env["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    argv = shlex.split(unit["ExecStart"][0])
    assert argv[0] == "/opt/dirkit/bin/dirkit" and argv[-1] == "watch"
    argv[0] = str(Path(sys.executable).with_name("dirkit"))  # the package's own entry point here
    listener = _NotifySocket(tmp_path / "notify")
    log = (tmp_path / "watch.log").open("w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        listener.wait_for("READY=1", 120)  # after its first run (a full read)
        t0 = time.monotonic()
        assert ad_admin.modify(WATCHED, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
        state = Path(tmp_path / "state.sqlite")
        applied = None
        while applied is None and time.monotonic() - t0 < 30:
            with StateStore(state) as store:
                for r in store.runs(5):
                    if r.details.plan and r.details.plan.counts.get("user_disabled"):
                        applied = time.monotonic() - t0
            time.sleep(0.2)
        assert applied is not None, (tmp_path / "watch.log").read_text()
        print(f"disable applied {applied:.2f}s after the change")
        assert applied < 10
        with StateStore(state) as store:  # the run applied this user's disable, not another change
            snapshot = store.last_snapshot()
        assert snapshot is not None
        watched = next(u for u in snapshot.users.values() if u.dn.lower() == WATCHED.lower())
        assert not watched.enabled
        kill = unit.get("KillSignal", ["SIGTERM"])[0]
        proc.send_signal(getattr(signal, kill))
        assert proc.wait(60) == 0
        listener.wait_for("STOPPING=1", 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "watch.log").read_text()
    assert '"watch_run"' in text or "watch_run " in text
    assert "watch_stopped" in text and "Traceback" not in text
