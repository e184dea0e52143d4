"""A run's overall deadline (``run.deadline_seconds``).

Timeouts bound each socket read, not a run: an LDAP server or a NameNode that sends one byte a
second never trips them, and a run that never ends holds the lock, so every later cron run
exits 6. So a run also gets one deadline. In the main thread, SIGALRM raises ``Expired``
wherever the run is blocked: an LDAP or WebHDFS read, a child process (``subprocess.run`` kills
it), Python code. ``Expired`` is a BaseException, so no library's ``except Exception`` swallows
it; ``limit`` turns it into ``DeadlineExceeded`` (exit 5) for the caller.

Work that must not stop half-way (the state transaction, the run's own record) runs
``shielded``: an alarm there waits until the section ends. Parallel work runs on daemon
threads (``parallel``), so a worker stuck on a dripping socket cannot keep the process alive
after the deadline ended the run (ThreadPoolExecutor's workers are joined at exit).

Kerberos calls into the C library (a TGT, a service ticket) are interrupted only when they
return; the library's own KDC timeouts bound them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from .errors import DeadlineExceeded, DeadlineSignal

T = TypeVar("T")
KEY = "run.deadline_seconds"


Expired = DeadlineSignal  # the deadline passed: raised in the main thread by the alarm


class _State:
    seconds: float | None = None  # the armed deadline; None: none armed
    shield_depth = 0
    pending = False  # the alarm fired inside a shielded section


_state = _State()


def _fire(signum: int, frame: Any) -> None:
    if _state.shield_depth:
        _state.pending = True
        return
    raise Expired(f"the run passed its deadline ({KEY} = {_state.seconds:g})")


@contextmanager
def limit(seconds: float | None) -> Iterator[None]:
    """Bound everything inside to ``seconds`` of wall time; on expiry raise DeadlineExceeded
    with what the run said about its state. Nested limits keep the outer one. Outside the
    main thread (signals only reach it) nothing is armed."""
    if seconds is None or _state.seconds is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _fire)
    _state.seconds, _state.pending = seconds, False
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Expired as exc:
        raise DeadlineExceeded(str(exc)) from None
    finally:
        stop()
        signal.signal(signal.SIGALRM, previous)
        _state.seconds = None


def stop() -> None:
    """Disarm: the run's work is over (recording its outcome is not cut short)."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    _state.pending = False


@contextmanager
def shielded() -> Iterator[None]:
    """Work that must finish once started (a state transaction, a run record): an alarm
    during it is raised when it ends."""
    _state.shield_depth += 1
    try:
        yield
    finally:
        _state.shield_depth -= 1
    if not _state.shield_depth and _state.pending and _state.seconds is not None:
        _state.pending = False
        raise Expired(f"the run passed its deadline ({KEY} = {_state.seconds:g})")


@contextmanager
def parallel(calls: Sequence[Callable[[], T]], workers: int, name: str) -> Iterator[list[Future[T]]]:
    """Run ``calls`` on up to ``workers`` daemon threads; yields their futures, in order.
    Leaving the block cancels the calls not started yet (a failed or expired run starts no
    more work)."""
    futures: list[Future[T]] = [Future() for _ in calls]
    todo: SimpleQueue[int] = SimpleQueue()
    for i in range(len(calls)):
        todo.put(i)

    def work() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except Empty:
                return
            if not futures[i].set_running_or_notify_cancel():
                continue
            try:
                futures[i].set_result(calls[i]())
            except BaseException as exc:  # noqa: BLE001 - not swallowed: the caller's f.result() raises it
                futures[i].set_exception(exc)

    for n in range(min(workers, len(calls))):
        threading.Thread(target=work, name=f"{name}-{n}", daemon=True).start()
    try:
        yield futures
    finally:
        for f in futures:
            f.cancel()
