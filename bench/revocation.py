#!/usr/bin/env python3
"""Benchmark: how long a revoked AD user keeps access, end to end, with `dirkit watch` running.

    .venv/bin/python bench/revocation.py [--users 10000] [--trials 10] [--idle 60]
    .venv/bin/python bench/revocation.py --container --users 100000   # (a) and idle, Samba 4.22

The native lab with ``--users`` bulk users (NameNode with dirkit's rendered LdapGroupsMapping,
the SSSD node with dirkit's rendered block, HiveServer2), and `dirkit watch` started as a process
from the lab's config plus [watch] and [revocation] (Hadoop's own DFSAdmin
-refreshUserToGroupsMappings as the NameNode's superuser, `sss_cache` on the node). Per trial, a
different bulk user, the NameNode's and the node's caches warmed with X's groups first; from the
moment the admin's command returns:
  disable (`samba-tool user disable X`):
    (a) the watcher's run applied (its run record shows X disabled)
    (b) the NameNode's answer (`hdfs groups X`, Hadoop's GetGroups: one JVM per poll, ~1 s) is none
    (c) the node's `id X` says no such user
    (d) `dirkit verify --revoked --since T` proves X refused (a whole process, polled)
  group removal (`samba-tool group removemembers G X`):
    (a) the watcher's run applied (X's membership of G removed)
    (b) the NameNode's answer for X no longer lists G
    (c) the node's `id X` no longer lists G
(b), (c) and (d) are polled side by side, each as often as it can run.
Then the idle watcher: CPU (user+system) and RSS over --idle seconds with AD quiet, open fds;
with --soak MINUTES, RSS and open fds sampled over that many minutes of changes (a soak: not CI).
Prints median and max per measure. Everything is put back afterwards (users enabled, members back).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_read import REPO

from dirkit._state import StateStore
from dirkit_lab import Lab, namenode, sssd
from dirkit_lab import settings as s
from dirkit_lab.settings import LabPaths


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise TypeError(v)


def _config(p: LabPaths, tmp: Path, cluster: bool = True) -> Path:
    """The lab's sync account and scope, [watch]; with ``cluster``, [verify] and [revocation] too."""
    import tomllib

    lab = tomllib.loads(p.config.read_text())
    watch = {"poll_seconds": 1.0, "debounce_seconds": 0.5}
    if not cluster:
        state = {"path": str(tmp / "state.sqlite")}
        dc_only = {k: lab[k] for k in ("ldap", "kerberos", "directory")}
        return _write(tmp, {**dc_only, "state": state, "safety": {"max_removal_percent": 100}, "watch": watch})
    dfsadmin = tmp / "hdfs-dfsadmin"
    dfsadmin.write_text("#!/bin/sh\nexec " + " ".join(f"'{a}'" for a in namenode.admin_command(p)) + ' "$@"\n')
    dfsadmin.chmod(0o755)
    status = json.loads(subprocess.run([str(REPO / ".venv/bin/dirkit-lab"), "status", "--json"],
                                       capture_output=True, text=True, check=True).stdout)  # fmt: off
    sections: dict[str, dict[str, Any]] = {k: lab[k] for k in ("ldap", "kerberos", "directory")}
    sections["verify"] = {
        k: v for k, v in lab["verify"].items() if not isinstance(v, (dict, list)) or k == "node_command"
    }
    sections["verify.hive"] = lab["verify"]["hive"]
    sections["state"] = {"path": str(tmp / "state.sqlite")}
    sections["safety"] = {"max_removal_percent": 100, "max_membership_removal_percent": 100}
    sections["watch"] = watch
    sections["revocation"] = {
        "refresh_commands": [[str(dfsadmin), "-refreshUserToGroupsMappings"]],
        "principal": status["principals"]["nn"],
        "keytab": status["keytabs"]["nn-localhost"],
        "node_commands": [lab["verify"]["node_command"]],
        "timeout_seconds": 120,
    }
    return _write(tmp, sections)


def _write(tmp: Path, sections: dict[str, dict[str, Any]]) -> Path:
    out = tmp / "dirkit.toml"
    out.write_text(
        "".join(f"[{k}]\n" + "".join(f"{kk} = {_toml(vv)}\n" for kk, vv in v.items()) for k, v in sections.items())
    )
    return out


def _samba_tool(p: LabPaths, *args: str, where: Sequence[str] = ()) -> float:
    """Run samba-tool (``where``: in the bulk DC's container); when it returned."""
    subprocess.run([*where, "samba-tool", *args, f"--configfile={p.smb_conf}"], check=True, capture_output=True)
    return time.monotonic()


def _start_watch(p: LabPaths, cfg: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`dirkit watch` as a process, once it said READY=1 (its first run, a full read, is over)."""
    env = {
        **os.environ,
        "DIRKIT_CONFIG": str(cfg),
        "NOTIFY_SOCKET": str(tmp / "notify"),
        "KRB5_CONFIG": str(p.krb5_conf),
    }
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp / "notify"))
    log = (tmp / "watch.log").open("w")
    watcher = subprocess.Popen([str(REPO / ".venv/bin/dirkit"), "watch"], env=env, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    listener.settimeout(1800)
    while listener.recv(4096) != b"READY=1":
        pass
    listener.close()  # (the watcher never waits for a listener: its states are dropped)
    print(f"watch ready after {time.monotonic() - t0:.1f}s (its first run: a full read)", file=sys.stderr)
    return watcher, env


def _enabled_bulk_users(p: LabPaths, n: int) -> list[str]:
    """``n`` bulk users AD has enabled now (a disable of a disabled one changes nothing)."""
    from delta_read import admin

    conn = admin(str(p.ca_cert))
    flt = "(&(sAMAccountName=bulkuser*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
    conn.search(s.AD_BASE, flt, attributes=["sAMAccountName"], size_limit=n)
    return sorted(str(e.sAMAccountName) for e in conn.entries)[:n]


def _enabled_members(p: LabPaths, group: str) -> list[str]:
    """The direct members of ``group`` that AD has enabled now, by name."""
    from delta_read import admin

    conn = admin(str(p.ca_cert))
    conn.search(s.AD_BASE, f"(&(objectClass=group)(sAMAccountName={group}))", attributes=["distinguishedName"])
    dn = str(conn.entries[0].distinguishedName)
    conn.search(s.AD_BASE, f"(&(objectClass=user)(memberOf={dn})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
                attributes=["sAMAccountName"])  # fmt: off
    return sorted(str(e.sAMAccountName) for e in conn.entries)


def _soak(p: LabPaths, pid: int, minutes: float) -> str:
    """--soak: a change every 10 s for ``minutes`` (one user disabled, then enabled again: a run
    with the revocation actions, then one without), the watcher's RSS and open descriptors
    sampled every 30 s."""
    samples: list[tuple[float, float, int]] = []
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < minutes * 60:
        n += 1
        _samba_tool(p, "user", "disable" if n % 2 else "enable", "bulkuser00099")
        if not samples or time.monotonic() - t0 - samples[-1][0] >= 30:
            samples.append((time.monotonic() - t0, _rss_mib(pid), len(os.listdir(f"/proc/{pid}/fd"))))
        time.sleep(10)
    if n % 2:
        _samba_tool(p, "user", "enable", "bulkuser00099")
    rss = [r for _, r, _ in samples]
    fds = [f for _, _, f in samples]
    return (f"soak {minutes:g} min, {n} changes: RSS first {rss[0]:.0f}, last {rss[-1]:.0f}, max {max(rss):.0f} MiB; "
            f"fds first {fds[0]}, last {fds[-1]}, max {max(fds)}; samples (s/MiB/fds): "
            + " ".join(f"{t:.0f}/{r:.0f}/{f}" for t, r, f in samples))  # fmt: off


def _idle(pid: int, seconds: float) -> str:
    """The watcher's CPU (user + system) and RSS over ``seconds`` with AD quiet, its open fds."""
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    rss = [_rss_mib(pid)]
    while time.monotonic() - t0 < seconds:
        time.sleep(min(5.0, seconds))
        rss.append(_rss_mib(pid))
    cpu = (_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return f"{100 * cpu:.2f} % of a core over {seconds:.0f}s, RSS {min(rss):.0f}-{max(rss):.0f} MiB, {fds} open fds"


def _wait(what: Any, timeout: float = 120) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if what():
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout}s")


def _applied(state: Path, kind: str, after: int) -> bool:
    """A run after run ``after`` applied a change of ``kind`` (the trials change one user at a time)."""
    with StateStore(state) as store:
        for r in store.runs(5):
            if r.id > after and r.details.plan and r.details.plan.counts.get(kind):
                return True
    return False


def _last_run(state: Path) -> int:
    with StateStore(state) as store:
        runs = store.runs(1)
        return runs[0].id if runs else 0


def _disabled_applied(p: LabPaths, state: Path, user: str, where: Sequence[str] = ()) -> tuple[float, float]:
    """Disable ``user``: (when samba-tool returned, seconds until the watcher's run applied it)."""
    run = _last_run(state)
    t0 = _samba_tool(p, "user", "disable", user, where=where)
    return t0, _wait(lambda: _applied(state, "user_disabled", run), 600) - t0


def _warm(p: LabPaths, user: str, group: str) -> None:
    """The NameNode's and the node's caches hold ``user`` in ``group`` (the stale answers the
    revocation actions are for)."""
    assert group in namenode.groups(p, user)[user], user
    assert group in sssd.query(p, "id", "-Gn", user).stdout.split(), user


def _side_by_side(t0: float, *checks: Callable[[], bool]) -> list[float]:
    """Seconds from ``t0`` until each check first held, the checks polled in parallel."""
    with ThreadPoolExecutor(len(checks)) as pool:
        return [f.result() - t0 for f in [pool.submit(_wait, c) for c in checks]]


def _disable_trial(p: LabPaths, state: Path, env: dict[str, str], user: str, group: str) -> list[float]:
    """(a), (b), (c) and (d) for disabling ``user`` (a member of ``group``)."""
    _warm(p, user, group)
    # --since takes whole seconds: the window starts at the next one, before the change.
    start = math.ceil(time.time())
    time.sleep(start + 0.05 - time.time())
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    run = _last_run(state)
    t0 = _samba_tool(p, "user", "disable", user)
    verify = [str(REPO / ".venv/bin/dirkit"), "-q", "verify", "--revoked", "--since", since, "--json"]

    def proven() -> bool:
        r = subprocess.run(verify, env=env, capture_output=True, text=True)
        return r.returncode == 0 and any(x["user"] == user for x in json.loads(r.stdout or "[]"))

    return _side_by_side(
        t0,
        lambda: _applied(state, "user_disabled", run),
        lambda: namenode.groups(p, user)[user] == [],
        lambda: sssd.query(p, "id", "--", user).returncode != 0,
        proven,
    )


def _removal_trial(p: LabPaths, state: Path, group: str, user: str) -> list[float]:
    """(a), (b) and (c) for taking ``user`` out of ``group``."""
    _warm(p, user, group)
    run = _last_run(state)
    t0 = _samba_tool(p, "group", "removemembers", group, user)
    return _side_by_side(
        t0,
        lambda: _applied(state, "membership_removed", run),
        lambda: group not in namenode.groups(p, user)[user],
        lambda: group not in sssd.query(p, "id", "-Gn", user).stdout.split(),
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def on_container(a: argparse.Namespace) -> None:
    """--container: the bulk DC alone (Debian 13's Samba, slope.py's container): (a) of the
    disable trials and the idle watcher (no NameNode, node or HiveServer2 there)."""
    from slope import CONTAINER_LAB

    from dirkit_lab import containers

    docker, log = REPO / "docker", CONTAINER_LAB.parent / "dirkit-lab-bulk13.log"
    Lab().down()  # the container's dc1 takes the native dc1's address
    took = containers.bulk_dc(docker, CONTAINER_LAB, a.users, log)
    print(f"bulk DC ({a.users} users) ready: {took}", file=sys.stderr)
    p = LabPaths(CONTAINER_LAB)
    Lab(p).write_client_files(with_dc2=False)
    where = ["podman", "exec", containers.BULK_DC]
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-bench-revocation-"))
    os.chmod(tmp, 0o700)
    state = tmp / "state.sqlite"
    disabled: list[str] = []
    applied: list[float] = []
    try:
        watcher, _ = _start_watch(p, _config(p, tmp, cluster=False), tmp)
        try:
            for t, user in enumerate(_enabled_bulk_users(p, a.trials)):
                disabled.append(user)
                applied.append(_disabled_applied(p, state, user, where)[1])
                print(f"disable {t + 1}: (a) {applied[-1]:.2f}s", file=sys.stderr)
            idle = _idle(watcher.pid, a.idle)
        finally:
            for user in disabled:
                _samba_tool(p, "user", "enable", user, where=where)
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(300)
    finally:
        containers.stop_bulk_dc(docker, log)
    print(
        f"dirkit watch at {a.users} users (Samba 4.22 in a container), {a.trials} trials, seconds from samba-tool returning"
    )
    print(f"disable: (a) watcher's run applied: median {statistics.median(applied):.2f}, max {max(applied):.2f}")
    print(f"idle watcher: {idle}; exit {code} on SIGTERM")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--soak", type=float, default=0, help="then this many minutes of changes: RSS and fds sampled")
    ap.add_argument(
        "--container", action="store_true", help="the bulk DC in a container (Samba 4.22): (a) and idle only"
    )
    a = ap.parse_args()
    if a.container:
        on_container(a)
        return
    lab = Lab()
    lab.up(bulk_users=a.users, progress=lambda m: print(m, file=sys.stderr))
    p = lab.paths
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-bench-revocation-"))
    os.chmod(tmp, 0o700)
    cfg = _config(p, tmp)
    state = tmp / "state.sqlite"
    block = subprocess.run([str(REPO / ".venv/bin/dirkit"), "sssd", "config"], env={**os.environ, "DIRKIT_CONFIG": str(p.config)},
                           capture_output=True, text=True, check=True).stdout  # fmt: off
    lab.start_sssd("\n".join(ln for ln in block.splitlines() if ln and not ln.startswith(("#", "["))) + "\n")
    watcher, env = _start_watch(p, cfg, tmp)
    group = "bulkgrp001"
    disable: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    removal: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    disabled: list[str] = []
    removed: list[str] = []
    try:
        pool = _enabled_members(p, group)
        if len(pool) < 2 * a.trials:
            raise SystemExit(f"{group} has {len(pool)} enabled bulk members, {2 * a.trials} needed")
        for t, user in enumerate(pool[: a.trials]):
            disabled.append(user)
            for k, took in zip("abcd", _disable_trial(p, state, env, user, group), strict=True):
                disable[k].append(took)
            print(
                f"disable {t + 1}: " + " ".join(f"({k}) {v[-1]:.2f}s" for k, v in disable.items()),
                file=sys.stderr,
            )
        for t, user in enumerate(pool[a.trials : 2 * a.trials]):
            removed.append(user)
            for k, took in zip("abc", _removal_trial(p, state, group, user), strict=True):
                removal[k].append(took)
            print(f"removal {t + 1}: (a) {removal['a'][-1]:.2f}s (b) {removal['b'][-1]:.2f}s (c) {removal['c'][-1]:.2f}s",
                  file=sys.stderr)  # fmt: off
        idle = _idle(watcher.pid, a.idle)  # AD quiet (the put-back comes after)
        soak = _soak(p, watcher.pid, a.soak) if a.soak else ""
    finally:
        for user in disabled:
            _samba_tool(p, "user", "enable", user)
        if removed:
            _samba_tool(p, "group", "addmembers", group, ",".join(removed))
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(120)
        lab.start_sssd()  # the node as EMR leaves it, as the lab starts it
    print(f"dirkit watch at {a.users} users, {a.trials} trials each, seconds from the admin's command returning")
    print(f"{'measure':<58} {'median':>7} {'max':>7}")
    rows = [
        ("disable: (a) watcher's run applied", disable["a"]),
        ("disable: (b) the NameNode's answer has no groups", disable["b"]),
        ("disable: (c) the node's id says no such user", disable["c"]),
        ("disable: (d) verify --revoked proves it", disable["d"]),
        ("group removal: (a) watcher's run applied", removal["a"]),
        ("group removal: (b) the NameNode's answer without the group", removal["b"]),
        ("group removal: (c) the node's id without the group", removal["c"]),
    ]
    for label, xs in rows:
        print(f"{label:<58} {statistics.median(xs):>7.2f} {max(xs):>7.2f}")
    print(f"idle watcher: {idle}; exit {code} on SIGTERM")
    if soak:
        print(soak)


if __name__ == "__main__":
    main()
