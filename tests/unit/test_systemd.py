"""sd_notify for `dirkit watch` (dirkit/_systemd.py): datagrams as systemd reads them, and never a
wait on a listener that does not read (found by bench/revocation.py: the watcher hung in its
11th status line, the queue of an unread socket being 10 deep, and ignored SIGTERM)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from dirkit import _systemd as systemd


def test_states_reach_the_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert systemd.notify("READY=1") and systemd.notify("STATUS=last run 3")
        assert [listener.recv(100), listener.recv(100)] == [b"READY=1", b"STATUS=last run 3"]
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not systemd.notify("READY=1")  # not run by systemd: nothing to tell


def test_a_listener_that_does_not_read_never_blocks_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        sent: list[bool] = []
        t = threading.Thread(target=lambda: sent.extend(systemd.notify(f"STATUS={i}") for i in range(100)), daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), "notify blocked on a full queue"
        assert sent[0] and not all(sent)  # the first ones queued, the rest dropped


def test_the_watchdog_interval_is_ours_only_when_systemd_meant_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_seconds() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert systemd.watchdog_seconds() is None
