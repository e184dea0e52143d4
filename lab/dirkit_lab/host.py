"""Host plumbing for the lab: Debian packages, loopback aliases, /etc/hosts names, subprocesses."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from . import settings as s
from .errors import LabError

DEBIAN_PACKAGES = (
    "samba",
    "samba-ad-dc",
    "samba-ad-provision",
    "samba-dsdb-modules",
    "winbind",
    "krb5-kdc",
    "krb5-admin-server",
    "krb5-user",
    "ldap-utils",
    "ldb-tools",
    "libsasl2-modules-gssapi-mit",
    "iproute2",
)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise LabError with the tail of its output (or its log)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [str(a) for a in argv],
        input=input,
        env=full_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        # Even lab passwords stay out of logs: --adminpass=..., -P ..., -w ... are masked.
        shown = re.sub(
            r"(--\w*pass\w*=)\S+|(?<=\s-[Pw]\s)\S+",
            lambda m: (m.group(1) or "") + "***",
            " ".join(str(a) for a in argv),
        )
        with log.open("a") as f:
            f.write(f"$ {shown}\n{proc.stdout}\n")
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-8:])
        raise LabError(
            f"`{Path(str(argv[0])).name} {' '.join(str(a) for a in argv[1:3])}` failed "
            f"(exit {proc.returncode}):\n{tail}"
        )
    return proc


def missing_packages() -> list[str]:
    missing = []
    for pkg in DEBIAN_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_packages(log: Path) -> list[str]:
    """Install the Debian packages the lab needs (only the missing ones). Needs root."""
    missing = missing_packages()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise LabError(f"missing Debian packages {', '.join(missing)}; run as root or install them")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], log=log, env=env, timeout=600)
    run(["apt-get", "install", "-y", "-qq", *missing], log=log, env=env, timeout=1200)
    return missing


def ensure_network(names: Mapping[str, str] | None = None) -> None:
    """Loopback aliases (Samba binds only to addresses that are on an interface) and host names
    in /etc/hosts: the lab's fixed ones plus ``names`` (name -> IP). The block is rewritten
    only when it differs."""
    shown = run(["ip", "-4", "addr", "show", "dev", "lo"]).stdout
    for ip, label in ((s.AD_IP, "lo:dkdc"), (s.KDC_IP, "lo:dkkdc"), (s.DC2_IP, "lo:dkdc2")):
        if f" {ip}/" not in shown:
            added = run(["ip", "addr", "add", f"{ip}/8", "dev", "lo", "label", label], check=False)
            # Lab containers share the host's network and start together: another may have
            # added it a moment ago ("File exists"), which is as good.
            if added.returncode != 0 and f" {ip}/" not in run(["ip", "-4", "addr", "show", "dev", "lo"]).stdout:
                raise LabError(f"cannot add {ip} to the loopback interface: {added.stdout.strip()}")
    block = (
        f"{s.HOSTS_BEGIN} (dirkit lab; `dirkit-lab down --purge` removes it)\n"
        f"{s.AD_IP} {s.AD_HOST} dc1\n"
        f"{s.DC2_IP} {s.DC2_HOST} dc2\n"
        f"{s.KDC_IP} {s.KDC_HOST}\n"
        + "".join(f"{ip} {name}\n" for name, ip in sorted((names or {}).items()))
        + f"{s.HOSTS_END}\n"
    )
    hosts = Path("/etc/hosts")
    old = hosts.read_text()
    kept = _without_block(old)
    new = kept + ("" if not kept or kept.endswith("\n") else "\n") + block
    if new != old:
        hosts.write_text(new)


def _without_block(text: str) -> str:
    keep, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(s.HOSTS_BEGIN):
            inside = True
        elif inside and line.startswith(s.HOSTS_END):
            inside = False
        elif not inside:
            keep.append(line)
    return "".join(keep)


def remove_network() -> None:
    for ip in (s.AD_IP, s.KDC_IP, s.DC2_IP):
        subprocess.run(["ip", "addr", "del", f"{ip}/8", "dev", "lo"], capture_output=True)
    hosts = Path("/etc/hosts")
    hosts.write_text(_without_block(hosts.read_text()))


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid_file: Path) -> int | None:
    """The PID in ``pid_file`` if that process is alive (not a zombie), else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state == "Z" else pid


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def stop_pid(pid_file: Path, timeout: float = 10) -> None:
    """Stop the daemon in ``pid_file`` and every process of its group (its workers), so that
    nothing is still writing its files when this returns."""
    pid = pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = pid
    own_group = pgid == pid  # daemons run in their own group; never signal ours
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_alive(pid_file) is None and (not own_group or not _group_members(pgid)):
            break
        time.sleep(0.1)
    else:
        for sig_target in [pgid] if own_group else []:
            try:
                os.killpg(sig_target, 9)
            except OSError:
                pass
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        for _ in range(50):
            if not own_group or not _group_members(pgid):
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll ``check()`` until true; return seconds waited or raise LabError naming ``what``."""
    t0 = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - t0 < timeout:
        try:
            if check():
                return time.monotonic() - t0
        except LabError:
            raise  # a definite failure (the process died): no point in waiting
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
        time.sleep(interval)
    raise LabError(f"{what} not ready after {timeout:.0f}s" + (f": {last}" if last else ""))


def wait_started(
    what: str,
    running: Callable[[], bool],
    ready: Callable[[], bool],
    log: Path,
    timeout: float,
    grace: float,
    interval: float = 0.5,
) -> float:
    """Wait until a daemon just started is ``ready()``. One that is not ``running()`` after
    ``grace`` seconds (daemons write their PID file a moment after they start) died during
    start-up: LabError with the last lines of its log, without waiting for the timeout."""
    t0 = time.monotonic()

    def check() -> bool:
        if not running() and time.monotonic() - t0 > grace:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            raise LabError(f"{what} exited during start-up; last log lines:\n" + "\n".join(tail))
        return running() and ready()

    return wait_until(check, timeout, what, interval=interval)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise LabError(f"`{tool}` not found on PATH; run `dirkit-lab up` as root to install it")
    return path
