"""Fault injection for the crash tests: with DIRKIT_FAULT_KILL_AT=<point>, the process kills
itself (SIGKILL, as the OOM killer or a reboot would) when it reaches that point. Unset, each
point costs one environment lookup. The points: after-mkdirs, after-setowner (an HDFS home
half made), documents (between two output documents), file-temp (a temp file written, not
yet renamed: safe_files.write_atomic), state-save (inside the snapshot transaction)."""

from __future__ import annotations

import os
import signal

ENV = "DIRKIT_FAULT_KILL_AT"


def point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
