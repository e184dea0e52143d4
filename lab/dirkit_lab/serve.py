"""One lab service in the foreground: the entry point of the lab's container images.

    dirkit-lab serve dc1|dc2|mit-kdc|namenode|hiveserver2     run it until stopped
    dirkit-lab serve --check <service>                        exit 0 when it answers

Each service is brought up by the same functions as ``dirkit-lab up`` (same seed, same trust,
same readiness checks: a Kerberos-authenticated answer), in the lab directory shared with the
host at the same path. A service that needs another (dc2 needs dc1, the NameNode and
HiveServer2 need the MIT KDC's keytabs) waits for it to answer, whatever the compose engine
does with ``depends_on``. SIGTERM stops the daemon; a daemon that dies ends the container.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from dirkit._safe_files import write_atomic

from . import ad_dc as samba
from . import hiveserver, host, kdc, namenode, sssd, tls
from . import settings as s
from .errors import LabError
from .settings import LabPaths

WAIT_FOR_OTHERS = 900.0  # seconds; dc1's first provisioning (+ join) is the slow one


def _log(msg: str) -> None:
    print(f"dirkit-lab: {msg}", file=sys.stderr, flush=True)


def _common(p: LabPaths) -> None:
    for d in (p.root, p.logs, p.ccaches, p.keytabs):
        d.mkdir(parents=True, exist_ok=True)
    host.ensure_network()  # host networking: the aliases land on the host's loopback
    # Every container writes it as it starts, while the host's tests use it: atomically.
    write_atomic(p.krb5_conf, kdc.client_krb5_conf().encode(), 0o644)


def _bulk() -> int:
    return int(os.environ.get("DIRKIT_LAB_BULK", "0"))


def _start_dc1(p: LabPaths) -> None:
    tls.ensure(p.tls)
    if not samba.database_current(p, _bulk()):
        # prepare() stops both DCs by their pid files; dc2's, if any, is another container's
        # (it waits for this database before it starts): never a process of this one.
        p.dc("dc2").pid.unlink(missing_ok=True)
        samba.prepare(p, _bulk(), fresh=False, progress=_log)
    host.ensure_network(samba.ntds_names(p))
    samba.start(p, "dc1")
    samba.wait_ready(p, "dc1")


def _start_dc2(p: LabPaths) -> None:
    host.wait_until(
        lambda: samba.database_current(p, _bulk()) and samba.ready(p, "dc1"), WAIT_FOR_OTHERS, "dc1 (for dc2)", 2
    )
    host.ensure_network(samba.ntds_names(p))
    samba.start(p, "dc2")
    samba.wait_ready(p, "dc2")
    samba.pair(p)


def _start_kdc(p: LabPaths) -> None:
    if not kdc.initialised(p):
        kdc.create(p)
    kdc.start(p)
    host.wait_until(lambda: kdc.ready(p), 30, "MIT KDC")


def _after_kdc(start: Callable[[LabPaths], None], wait: Callable[[LabPaths], float]) -> Callable[[LabPaths], None]:
    def run(p: LabPaths) -> None:
        host.wait_until(lambda: kdc.initialised(p) and kdc.ready(p), WAIT_FOR_OTHERS, "the MIT KDC", 2)
        start(p)
        wait(p)

    return run


def _start_namenode(p: LabPaths) -> None:
    _after_kdc(namenode.start, namenode.wait_ready)(p)
    namenode.ensure_user_prefix(p)


def _start_sssd(p: LabPaths) -> None:
    # The node joins dc1's domain: its computer account and keytab come with dc1's database,
    # in place before dc1 answers. (Not database_current(): its cache key includes Samba's
    # version, and this image has no Samba.)
    host.wait_until(
        lambda: samba.ready(p, "dc1") and p.keytab(s.NODE_ACCOUNT).exists(), WAIT_FOR_OTHERS, "dc1 (for the node)", 2
    )
    sssd.start(p)
    sssd.wait_ready(p)


@dataclass(frozen=True)
class Service:
    start: Callable[[LabPaths], None]
    running: Callable[[LabPaths], bool]
    stop: Callable[[LabPaths], None]
    ready: Callable[[LabPaths], bool]
    pid_files: Callable[[LabPaths], Sequence[Path]]


SERVICES = {
    "dc1": Service(
        _start_dc1,
        lambda p: samba.running(p, "dc1"),
        lambda p: samba.stop(p, "dc1"),
        lambda p: samba.ready(p, "dc1"),
        lambda p: [p.dc("dc1").pid],
    ),
    "dc2": Service(
        _start_dc2,
        lambda p: samba.running(p, "dc2"),
        lambda p: samba.stop(p, "dc2"),
        lambda p: samba.ready(p, "dc2"),
        lambda p: [p.dc("dc2").pid],
    ),
    "mit-kdc": Service(_start_kdc, kdc.running, kdc.stop, kdc.ready, kdc.pid_files),
    "namenode": Service(
        _start_namenode, namenode.running, namenode.stop, namenode.ready, lambda p: [namenode.pid_file(p)]
    ),
    "hiveserver2": Service(
        _after_kdc(hiveserver.start, hiveserver.wait_ready),
        hiveserver.running,
        hiveserver.stop,
        hiveserver.ready,
        lambda p: [hiveserver.pid_file(p)],
    ),
    "sssd": Service(_start_sssd, sssd.running, sssd.stop, sssd.ready, lambda p: [sssd.pid_file(p)]),
}


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(name: str, p: LabPaths) -> int:
    svc = SERVICES[name]
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # A new container has a new PID namespace: a pid file left by a container that was killed
    # names a process of that one, never of this. Left in place, it could make this start skip
    # (a live PID here with that number) or stop something else.
    for f in svc.pid_files(p):
        f.unlink(missing_ok=True)
    try:
        _common(p)
        svc.start(p)
        _log(f"{name} ready")
        while svc.running(p):
            time.sleep(2)
        _log(f"{name} exited; see {p.logs}")
        return 1
    except LabError as exc:
        _log(f"{name} failed: {exc}")
        return 1
    finally:
        svc.stop(p)


def check(name: str, p: LabPaths) -> int:
    try:
        return 0 if SERVICES[name].ready(p) else 1
    except Exception as exc:  # noqa: BLE001 - a health check answers yes or no
        _log(f"{name} not ready: {exc}")
        return 1
