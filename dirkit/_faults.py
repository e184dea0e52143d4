"""Fault injection for the crash tests: with DIRKIT_FAULT_KILL_AT=<point>, the process kills
itself (SIGKILL, as the OOM killer or a reboot would) when it reaches that point; with
DIRKIT_FAULT_KILL_AT=#N, at the N-th point it reaches, whichever it is. DIRKIT_FAULT_TRACE=<file>
receives, when the process exits, the name of each point it reached (the crash test picks its moments from a traced run).
Unset, each point costs one environment lookup.

The points, in the order a sync reaches them: ldap-page (a page of a search received), read
(the directory read), planned, homes-listed, after-mkdirs and after-setowner (an HDFS home half
made), documents (between two output documents), file-temp (a temp file written, not yet
renamed: safe_files.write_atomic), state-save (inside the snapshot transaction), state-saved,
recorded (the run's record written), metrics."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from pathlib import Path

ENV = "DIRKIT_FAULT_KILL_AT"
TRACE = "DIRKIT_FAULT_TRACE"
_count = 0
_trace: list[str] = []
_lock = threading.Lock()


def point(name: str) -> None:
    at, trace = os.environ.get(ENV), os.environ.get(TRACE)
    if at is None and trace is None:
        return
    global _count
    with _lock:  # points are reached from worker threads too
        _count += 1
        n = _count
        if trace:
            if not _trace:
                atexit.register(_write_trace, Path(trace))
            _trace.append(name)
    if at == name or at == f"#{n}":
        os.kill(os.getpid(), signal.SIGKILL)


def _write_trace(path: Path) -> None:
    """At exit, through the one atomic writer (this process may run as root)."""
    from ._safe_files import write_atomic

    write_atomic(path, "".join(f"{name}\n" for name in _trace).encode(), 0o600)
