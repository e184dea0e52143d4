"""A cluster node's SSSD, as EMR runs it on every node joined to AD: the AD provider with ID
mapping, binding with the node's host keytab (a computer account the lab creates).

Natively it runs in its own Debian root (mmdebstrap, cached under the lab directory) whose
nsswitch.conf says ``passwd: files sss``, so the host's name service is untouched; `id` and
`getent` run in that root. /dev and /proc are mounted for it in a private mount namespace
(``unshare --mount``): nothing is left mounted on the host when it stops. In the container lab
the image is the node's root (``DIRKIT_LAB_SSSD_ROOT=/``), and the host's side runs `id` in the
container (``DIRKIT_LAB_SSSD_EXEC``, e.g. ``podman exec dirkit-lab-sssd``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from dirkit._safe_files import write_atomic

from . import host
from . import settings as s
from .errors import LabError
from .settings import LabPaths

# libsasl2-modules-gssapi-mit: SSSD's GSSAPI bind ("Unknown authentication method" without it).
PACKAGES = (
    "ca-certificates",
    "sssd-ad",
    "sssd-ldap",
    "libnss-sss",
    "sssd-tools",
    "krb5-user",
    "libsasl2-modules-gssapi-mit",
)
SUITE = "bookworm"

# What EMR's nodes run, as far as it is known (emr-hue-hadoop-facts.md: the AWS reference
# scripts set case_sensitive = false and short names); everything else is SSSD's default.
DOMAIN = f"""[sssd]
domains = {s.AD_DOMAIN}
services = nss

[domain/{s.AD_DOMAIN}]
id_provider = ad
auth_provider = none
access_provider = permit
ad_domain = {s.AD_DOMAIN}
ad_server = {s.AD_HOST}
krb5_realm = {s.AD_REALM}
krb5_keytab = /etc/sssd/host.keytab
ldap_sasl_authid = {s.NODE_ACCOUNT.upper()}$@{s.AD_REALM}
ldap_id_mapping = true
case_sensitive = false
use_fully_qualified_names = false
ad_gpo_access_control = disabled
ldap_tls_cacert = /etc/ssl/lab/ca.pem
# The lab's DCs take no DNS updates from it (a write would move their USNs under the tests).
dyndns_update = false
"""


# The node's own environment: not this process's (a KRB5_CONFIG naming a host path, say).
NODE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def root(p: LabPaths) -> Path:
    return Path(os.environ.get("DIRKIT_LAB_SSSD_ROOT") or p.root / "sssd" / "root")


def _in_place(p: LabPaths) -> bool:
    return root(p) == Path("/")  # in the node's own container


def extra_file(p: LabPaths) -> Path:
    """The lines added to the node's domain section (shared with the container lab's node)."""
    return p.root / "sssd" / "extra.conf"


def pid_file(p: LabPaths) -> Path:
    return p.root / "sssd" / "sssd.pid"


def ensure_root(p: LabPaths) -> bool:
    """Build the node's root once (about 45 s); True when it was built now."""
    r = root(p)
    if _in_place(p):
        return False
    stamp = r.parent / "root.packages"
    want = " ".join(PACKAGES)
    if r.is_dir() and stamp.exists() and stamp.read_text() == want:
        return False
    host.require("mmdebstrap")
    tmp = r.with_name("root.tmp")
    host.run(["rm", "-rf", tmp, r])
    tmp.parent.mkdir(parents=True, exist_ok=True)
    host.run(
        ["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, tmp],
        log=p.logs / "sssd-root.log",
        timeout=900,
    )
    tmp.rename(r)
    stamp.write_text(want)
    return True


def configure(p: LabPaths, extra: str = "") -> None:
    """The node's files: the lab's krb5.conf, CA, host names and host keytab, and sssd.conf
    (``extra``: lines added to the domain section, e.g. dirkit's rendered block)."""
    r = root(p)
    (r / "etc/ssl/lab").mkdir(parents=True, exist_ok=True)
    for src, dst in (
        (p.ca_cert, "etc/ssl/lab/ca.pem"),
        (p.krb5_conf, "etc/krb5.conf"),
        (Path("/etc/hosts"), "etc/hosts"),
    ):
        (r / dst).write_bytes(src.read_bytes())
    # Private from the first byte (the keytab is the node's credential; sssd refuses a
    # readable sssd.conf).
    write_atomic(r / "etc/sssd/host.keytab", p.keytab(s.NODE_ACCOUNT).read_bytes(), 0o600)
    write_atomic(r / "etc/sssd/sssd.conf", (DOMAIN + extra).encode(), 0o600)


def start(p: LabPaths, extra: str | None = None) -> None:
    """Start sssd in the node's root with an empty cache (what it answers comes from AD now);
    ``extra`` (None: what the last start was given) is added to its domain section."""
    stop(p)
    ensure_root(p)
    extra_file(p).parent.mkdir(parents=True, exist_ok=True)
    if extra is None:
        extra = extra_file(p).read_text() if extra_file(p).exists() else ""
    extra_file(p).write_text(extra)
    configure(p, extra)
    r = root(p)
    for cache in ("var/lib/sss/db", "var/lib/sss/mc"):
        for f in (r / cache).glob("*"):
            f.unlink()
    (r / "run/sssd.pid").unlink(missing_ok=True)  # left by one that was killed
    script = f"mount --rbind /dev {r}/dev && mount -t proc proc {r}/proc && exec chroot {r} /usr/sbin/sssd -i -d 2"
    argv = (
        ["sh", "-c", "exec /usr/sbin/sssd -i -d 2"]
        if _in_place(p)
        else ["unshare", "--mount", "--fork", "sh", "-c", script]
    )
    with open(p.logs / "sssd.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends sssd and its children
            env=NODE_ENV,
        )
    pid_file(p).write_text(f"{proc.pid}\n")


def _reap(pid: int) -> None:
    # Started by this process (the tests), an ended sssd stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def running(p: LabPaths) -> bool:
    try:
        pid = int(pid_file(p).read_text())
        _reap(pid)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def query(p: LabPaths, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (``id``, ``getent``...) on the node: in its root, against its sssd."""
    exec_in = os.environ.get("DIRKIT_LAB_SSSD_EXEC", "").split()  # the container engine needs its environment
    runner = exec_in or ([] if _in_place(p) else ["chroot", str(root(p))])
    env = None if exec_in else NODE_ENV
    return subprocess.run([*runner, *argv], capture_output=True, text=True, timeout=60, env=env)


def ready(p: LabPaths) -> bool:
    """sssd is online: it resolves the sync account from AD (asked where it runs, so this
    holds for the container lab's node too)."""
    return query(p, "getent", "passwd", s.SYNC_ACCOUNT).returncode == 0


def wait_ready(p: LabPaths, timeout: float = 60) -> float:
    return host.wait_started(
        "SSSD (the cluster node)", lambda: running(p), lambda: ready(p), p.logs / "sssd.log", timeout, 3
    )


def _node_processes(p: LabPaths) -> set[int]:
    """The sssd processes running in the node's root. sssd puts itself and each responder in
    a process group of its own, so signalling the group this module started reaches none of
    them: old ones kept answering the node's `id` with the previous settings (seen in CI)."""
    r = str(root(p))
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().startswith("sssd") and os.readlink(entry / "root") == r:
                found.add(int(entry.name))
        except OSError:  # ended meanwhile, or not ours to look at
            continue
    return found


def _signal(pids: set[int], sig: int) -> set[int]:
    """Send ``sig`` (0: none) to each of ``pids``; those still there."""
    alive = set()
    for pid in pids:
        _reap(pid)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        alive.add(pid)
    return alive


def stop(p: LabPaths) -> None:
    """End the node's sssd: the process this module started and every sssd in the node's root."""
    try:
        leader = {int(pid_file(p).read_text())}
    except (OSError, ValueError):
        leader = set()
    try:
        alive = _signal(leader | _node_processes(p), signal.SIGTERM)
        for sig in (signal.SIGKILL, None):
            for _ in range(50):
                alive = _signal(alive, 0)
                if not alive:
                    break
                time.sleep(0.1)
            else:
                if sig is None:
                    raise LabError(f"sssd processes {sorted(alive)} outlived SIGKILL")
                alive = _signal(alive, sig)
    except PermissionError as exc:
        raise LabError(f"cannot stop sssd: {exc}") from exc
    pid_file(p).unlink(missing_ok=True)
