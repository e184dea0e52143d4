"""systemd's service notification protocol (sd_notify(3)), for `dirkit watch` as a Type=notify
unit: one datagram per state ("READY=1", "WATCHDOG=1", "STATUS=..."), sent to $NOTIFY_SOCKET.
Outside systemd there is no socket and nothing is sent."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` to systemd; False when not run by systemd (or it did not take it)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            # Never wait for the listener: a datagram queue it does not read (10 deep by
            # default) would otherwise block the service at its next status line.
            s.send(state.encode(), socket.MSG_DONTWAIT)
    except OSError:  # (BlockingIOError included: the state is dropped, the service goes on)
        return False
    return True


def watchdog_seconds() -> float | None:
    """The unit's WatchdogSec (systemd passes it as $WATCHDOG_USEC), if it is meant for us."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6
