"""`dirkit watch`'s loop (issue 34) over the in-memory directory: what makes it run, what it
does when a run cannot go, and how it stops. The DC it polls is stood in for by the in-memory
source's USN (``_Probe``); tests/integration/test_watch.py runs the same loop against the lab's
Samba DC (notifications and the rootDSE), from the systemd unit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from seed_fixture import BASE, seed_config

from dirkit import Dirkit
from dirkit._config import LdapConfig
from dirkit._directory.build import RawUser
from dirkit._directory.names import NamePolicy
from dirkit._directory.source import MemoryDeltaSource
from dirkit._state import StateStore
from dirkit._watch import Watcher
from dirkit.errors import ConfigError

DC = "ldaps://dc1.ad.dirkit.test:636"


def _source() -> MemoryDeltaSource:
    users = [
        RawUser(f"g{i}", f"CN=u{i},OU=People,{BASE}", f"u{i}", f"S-1-5-21-1-2-3-{1000 + i}", None, None, 512, None, 1)
        for i in range(10)
    ]
    return MemoryDeltaSource(users, [], NamePolicy(), [BASE], DC)


class _Probe:
    """The DC's rootDSE as the source holds it: its highestCommittedUSN (a stand-in: the lab
    test polls a real DC)."""

    source: MemoryDeltaSource
    broken = False

    def __init__(self, cfg: LdapConfig) -> None:
        self.url = cfg.urls[0]

    def usn(self) -> tuple[str, int]:
        from dirkit.errors import DirectoryUnreachable

        if _Probe.broken:
            raise DirectoryUnreachable(f"{self.url}: connection refused")
        return self.url, _Probe.source.usn

    def close(self) -> None:
        pass


def _watcher(tmp_path: Path, source: MemoryDeltaSource, **watch: Any) -> Watcher:
    _Probe.source, _Probe.broken = source, False
    settings = {"notifications": False, "poll_seconds": 0.2, "debounce_seconds": 0, **watch}
    cfg = seed_config(state={"path": str(tmp_path / "state.sqlite")}, watch=settings)
    return Watcher(Dirkit(cfg, source=source), lambda: Dirkit(cfg, source=source), probe=_Probe)


def _in_background(steps: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=steps, daemon=True)
    t.start()
    return t


def _until(what: Callable[[], bool], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not what():
        if time.monotonic() > end:
            raise AssertionError("the watcher did not get there in time")
        time.sleep(0.02)


def _runs(tmp_path: Path) -> list[tuple[str, dict[str, int]]]:
    with StateStore(tmp_path / "state.sqlite") as store:
        return [(r.outcome, r.details.plan.counts if r.details.plan else {}) for r in reversed(store.runs())]


def test_a_change_in_ad_makes_one_delta_run_and_a_stop_ends_the_watch(tmp_path: Path) -> None:
    source = _source()
    w = _watcher(tmp_path, source)

    def steps() -> None:
        _until(lambda: w.stats.runs == 1 and w.stats.polls >= 2)  # started, and quiet since
        source.change(users=[replace(source.users["g3"], uac=514)])
        _until(lambda: w.stats.runs == 2)
        time.sleep(0.5)  # no change: no run
        w.stop()

    t = _in_background(steps)
    stats = w.run()
    t.join()
    assert stats.runs == 2 and stats.failed_runs == 0
    runs = _runs(tmp_path)
    assert [o for o, _ in runs] == ["applied", "applied"]
    assert runs[1][1].get("user_disabled") == 1


def test_a_run_that_finds_the_lock_held_is_run_again_once_it_is_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A cron `dirkit sync` (or an admin's) holds the lock when a change comes: the watcher's run
    # waits for the next poll instead of being lost.
    caplog.set_level(logging.INFO, "dirkit")
    source = _source()
    w = _watcher(tmp_path, source)
    held = threading.Event()

    def steps() -> None:
        _until(lambda: w.stats.runs == 1)
        with StateStore(tmp_path / "state.sqlite") as store, store.lock():
            source.change(users=[replace(source.users["g1"], uac=514)])
            _until(lambda: "watch_run_waits" in caplog.text)
            held.set()
        _until(lambda: any(c.get("user_disabled") for _, c in _runs(tmp_path)))
        w.stop()

    t = _in_background(steps)
    w.run()
    t.join()
    assert held.is_set()
    assert [c.get("user_disabled", 0) for _, c in _runs(tmp_path)] == [0, 1]


def test_an_unreachable_dc_is_polled_again_and_a_quiet_ad_still_gets_its_scheduled_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dirkit")
    source = _source()
    w = _watcher(tmp_path, source, run_every_minutes=0.02)  # 1.2 s

    def steps() -> None:
        _until(lambda: w.stats.runs == 1)
        _Probe.broken = True
        _until(lambda: w.stats.failed_polls >= 1)
        _Probe.broken = False
        _until(lambda: w.stats.runs >= 2)  # the clock's run: AD said nothing
        w.stop()

    t = _in_background(steps)
    stats = w.run()
    t.join()
    assert stats.failed_polls >= 1 and stats.failed_runs == 0
    assert "watch_poll_failed" in caplog.text and "watch_poll_recovered" in caplog.text
    assert [o for o, _ in _runs(tmp_path)][1:] == ["no-changes"] * (stats.runs - 1)


def test_a_reload_with_a_bad_config_keeps_the_config_in_use(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "dirkit")
    source = _source()
    w = _watcher(tmp_path, source)
    good = w.load

    def load() -> Dirkit:
        raise ConfigError("dirkit.toml: watch.poll_seconds: Input should be greater than or equal to 0.2")

    def steps() -> None:
        _until(lambda: w.stats.runs == 1)
        w.load = load
        w.reload()
        _until(lambda: "watch_reload_failed" in caplog.text)
        source.change(users=[replace(source.users["g2"], uac=514)])
        _until(lambda: w.stats.runs == 2)
        w.load = good
        w.reload()
        _until(lambda: "watch_reloaded" in caplog.text and w.stats.runs == 3)
        w.stop()

    t = _in_background(steps)
    stats = w.run()
    t.join()
    assert stats.runs == 3 and stats.failed_runs == 0
    assert [c.get("user_disabled", 0) for _, c in _runs(tmp_path)] == [0, 1, 0]
