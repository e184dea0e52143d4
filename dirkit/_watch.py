"""`dirkit watch`: a service that runs a delta sync within seconds of each change in AD.

Each run is an ordinary `dirkit sync` run (lock, run record, deadline, metrics, notifier), started
by what the watcher hears (changes.py): a change notification (a burst of them makes one run),
a moved highestCommittedUSN, or the clock (``watch.run_every_minutes``, as cron would). One
process, one Dirkit: each delta starts from the snapshot the last run kept in memory, so a run
costs what changed, not a load of the whole snapshot.

It never stops on a failed run (the run's record and the notifier say what failed; the next
run converges), nor on a DC that cannot be reached (polled again, backing off to a minute).
SIGTERM/SIGINT end it between runs; SIGHUP reads the config file again (a bad one is reported
and the old one kept).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import _systemd as systemd
from ._config import LdapConfig
from ._directory.changes import Notifications, UsnProbe
from ._log import event
from .errors import ConfigError, DirectoryError, DirkitError, LockedError

if TYPE_CHECKING:
    from ._api import Dirkit

log = logging.getLogger("dirkit")

MAX_BACKOFF_SECONDS = 60.0  # a DC that cannot be reached is polled at most this far apart
NOTIFY_RETRY_SECONDS = 600.0  # a refused or lost notification search is tried again this often


class Probe(Protocol):
    """What the watcher polls: changes.UsnProbe (a DC's rootDSE)."""

    url: str

    def usn(self) -> tuple[str, int]: ...

    def close(self) -> None: ...


@dataclass
class WatchStats:
    """What the watcher did since it started (logged when it stops; for tests and `--json`)."""

    runs: int = 0
    failed_runs: int = 0
    polls: int = 0
    failed_polls: int = 0
    notifications: int = 0


class Watcher:
    """The watch loop over ``kit`` (``Dirkit.watcher``). ``load`` makes the Dirkit a SIGHUP
    switches to (the config file read again); ``probe`` what is polled (a DC's rootDSE)."""

    def __init__(
        self,
        kit: Dirkit,
        load: Callable[[], Dirkit],
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[LdapConfig], Probe] = UsnProbe,
    ) -> None:
        self.load = load
        self.kit = kit
        self.clock = clock
        self.probe = probe
        self.wake = threading.Event()
        self.stats = WatchStats()
        self._stopping = False
        self._reloading = False
        self._probe = probe(self.kit.config.ldap)
        self._notes: Notifications | None = None
        self._notes_seen = 0
        self._next_notes_try = 0.0
        self._seen: tuple[str, int] | None = None  # (DC, highestCommittedUSN) at the last poll
        self._poll_failures = 0
        self._next_poll = 0.0
        self._last_run = float("-inf")
        self._pending = ""  # a run that could not start (the lock was held): tried again

    # -- signals (called from the signal handlers) ----------------------------------------
    def stop(self) -> None:
        """End the watch: at once when idle, after it when a run is going (safe in a signal handler)."""
        self._stopping = True
        self._wake_up()

    def reload(self) -> None:
        """Switch to the Dirkit ``load`` makes, between runs (safe in a signal handler)."""
        self._reloading = True
        self._wake_up()

    def _wake_up(self) -> None:
        # A signal handler runs in the main thread, which may be holding the event's own lock
        # (inside wait() or clear()): setting it from here could deadlock. Another thread waits
        # for that lock instead, and the loop reads the flags above once it wakes.
        threading.Thread(target=self.wake.set, name="dirkit-watch-wake", daemon=True).start()

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> WatchStats:
        """Watch until stopped."""
        w = self.kit.config.watch
        event(log, "watch_started", poll_seconds=w.poll_seconds, notifications=w.notifications)
        self._poll()  # before the first run: a change during it moves the USN past this one
        self._sync("started")
        systemd.notify("READY=1")
        watchdog = systemd.watchdog_seconds()
        while not self._stopping:
            self._hold_notifications()
            heard = self.wake.wait(self._timeout(watchdog))
            self.wake.clear()
            if watchdog:
                systemd.notify("WATCHDOG=1")
            if self._stopping:
                break
            reason, self._pending = self._pending, ""
            if self._reloading:
                reason = self._reload() or reason
            if heard and self._notes is not None and self._notes.received != self._notes_seen:
                self._debounce()
                self.stats.notifications += self._notes.received - self._notes_seen
                self._notes_seen = self._notes.received
                reason = reason or "notified"
            if self.clock() >= self._next_poll:
                reason = self._poll() or reason
            if not reason and self.clock() - self._last_run >= self.kit.config.watch.run_every_minutes * 60:
                reason = "scheduled"
            if reason:
                self._sync(reason)
        systemd.notify("STOPPING=1")
        self._close()
        event(log, "watch_stopped", **vars(self.stats))
        return self.stats

    def _timeout(self, watchdog: float | None) -> float:
        w = self.kit.config.watch
        until = min(self._next_poll, self._last_run + w.run_every_minutes * 60) - self.clock()
        if watchdog:
            until = min(until, watchdog / 2)
        return max(0.0, until)

    def _debounce(self) -> None:
        """Wait for a quiet ``watch.debounce_seconds`` (at most ten of them): one run per burst."""
        quiet = self.kit.config.watch.debounce_seconds
        end = self.clock() + 10 * quiet
        while quiet and not self._stopping and self.clock() < end:
            if not self.wake.wait(min(quiet, max(0.0, end - self.clock()))):
                break
            self.wake.clear()

    def _poll(self) -> str:
        """Ask the DC for its highestCommittedUSN: why to run ("" when it has not moved)."""
        w = self.kit.config.watch
        self.stats.polls += 1
        try:
            seen = self._probe.usn()
        except DirectoryError as exc:
            self.stats.failed_polls += 1
            self._poll_failures += 1
            backoff = min(MAX_BACKOFF_SECONDS, w.poll_seconds * 2**self._poll_failures)
            self._next_poll = self.clock() + backoff
            level = logging.WARNING if self._poll_failures == 1 else logging.DEBUG
            event(log, "watch_poll_failed", level, error=str(exc), retry_seconds=round(backoff, 1))
            return ""
        if self._poll_failures:
            event(log, "watch_poll_recovered", dc=seen[0], failures=self._poll_failures)
        self._poll_failures = 0
        self._next_poll = self.clock() + w.poll_seconds
        before, self._seen = self._seen, seen
        if before is None or before == seen:
            return ""
        return "highestCommittedUSN moved" if before[0] == seen[0] else f"now polling {seen[0]}"

    def _hold_notifications(self) -> None:
        """Keep a notification search held when configured; say so when one ends."""
        if not self.kit.config.watch.notifications:
            return
        if self._notes is not None:
            if self._notes.alive:
                return
            why = self._notes.why_not or "the connection was closed"
            event(
                log,
                "watch_notifications_ended",
                logging.WARNING,
                why=why,
                meanwhile=self._meanwhile(),
                retry_seconds=NOTIFY_RETRY_SECONDS,
            )
            self._notes.stop()
            self._notes = None
            self._next_notes_try = self.clock() + NOTIFY_RETRY_SECONDS
        if self.clock() < self._next_notes_try:
            return
        url = self._probe.url or self.kit.config.ldap.urls[0]
        notes = Notifications(self.kit.config.ldap, url, self.kit.config.directory.base_dn, self.wake)
        try:
            notes.start()
        except DirectoryError as exc:
            event(
                log,
                "watch_notifications_failed",
                logging.WARNING,
                error=str(exc),
                meanwhile=self._meanwhile(),
                retry_seconds=NOTIFY_RETRY_SECONDS,
            )
            notes.stop()
            self._next_notes_try = self.clock() + NOTIFY_RETRY_SECONDS
            return
        self._notes, self._notes_seen = notes, 0

    def _meanwhile(self) -> str:
        """What still finds changes while no notification search is held (for the log line)."""
        return f"changes are still found by polling highestCommittedUSN every {self.kit.config.watch.poll_seconds:g}s"

    def _sync(self, reason: str) -> None:
        """One sync run; its failure is recorded by the run and logged here, never raised."""
        self._last_run = self.clock()
        self.stats.runs += 1
        systemd.notify(f"STATUS=run {self.stats.runs}: {reason}")
        try:
            result = self.kit._sync(command="watch")
        except LockedError:
            event(log, "watch_run_waits", reason=reason, why="another run holds the lock")
            self._pending = reason
            return
        except DirkitError as exc:  # its record, metrics and notifier say it already
            self.stats.failed_runs += 1
            event(log, "watch_run_failed", logging.ERROR, reason=reason, error=str(exc).splitlines()[0])
            return
        event(
            log,
            "watch_run",
            reason=reason,
            run_id=result.run_id,
            read=result.read.kind,
            changes=len(result.plan.changes),
            seconds=round(result.seconds, 3),
        )
        systemd.notify(f"STATUS=last run {result.run_id} ({reason}): {len(result.plan.changes)} change(s)")

    def _reload(self) -> str:
        """SIGHUP: the config file read again; the DC connections opened again from it."""
        self._reloading = False
        systemd.notify("RELOADING=1")
        try:
            kit = self.load()
        except ConfigError as exc:
            event(log, "watch_reload_failed", logging.ERROR, error=str(exc), kept="the config in use")
            systemd.notify("READY=1")
            return ""
        self._close()
        self.kit, self._probe = kit, self.probe(kit.config.ldap)
        self._seen, self._next_poll, self._next_notes_try = None, 0.0, 0.0
        self._poll()
        event(log, "watch_reloaded")
        systemd.notify("READY=1")
        return "config reloaded"

    def _close(self) -> None:
        self._probe.close()
        if self._notes is not None:
            self._notes.stop()
            self._notes = None
