"""Fault injection for the crash tests: with DIRKIT_FAULT_KILL_AT=<point>, the process kills
itself (SIGKILL, as the OOM killer or a reboot would) when it reaches that point; with
DIRKIT_FAULT_KILL_AT=#N, at the N-th point it reaches, whichever it is. DIRKIT_FAULT_TRACE=<file>
appends the name of each point reached (the crash test picks its moments from a traced run).
Unset, each point costs one environment lookup.

The points, in the order a sync reaches them: ldap-page (a page of a search received), read
(the directory read), planned, homes-listed, after-mkdirs and after-setowner (an HDFS home half
made), documents (between two output documents), file-temp (a temp file written, not yet
renamed: safe_files.write_atomic), state-save (inside the snapshot transaction), state-saved,
recorded (the run's record written), metrics."""

from __future__ import annotations

import os
import signal
import threading

ENV = "DIRKIT_FAULT_KILL_AT"
TRACE = "DIRKIT_FAULT_TRACE"
_count = 0
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
            with open(trace, "a", encoding="utf-8") as f:
                f.write(name + "\n")
    if at == name or at == f"#{n}":
        os.kill(os.getpid(), signal.SIGKILL)
