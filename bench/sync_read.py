#!/usr/bin/env python3
"""Benchmark: a full `dirkit sync` against the floor of a raw `ldapsearch` dump, same run.

    .venv/bin/python bench/sync_read.py [--rounds 5] [--bulk 10000]

Brings the lab up with the bulk data (10,000 users, 500 groups, one 5,000-member group; built
once and cached), then alternates, round by round:
  floor:  ldapsearch -E pr=1000/noprompt of the same users and groups with the same attributes,
          sequentially, to /dev/null (LDAPS; the raw server dump)
  dirkit: `dirkit sync` with an empty state DB: full read + model + closure + state write
then `dirkit sync` again on that state (the steady state a cron job is in: the previous
snapshot balances the parallel USN ranges), and prints the median wall times, their ratios,
dirkit's LDAP search count and peak RSS.
Machines here are noisy: only the ratio measured within one run means anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import tomllib

from dirkit._directory.ldap import GROUP_ATTRS, USER_ATTRS
from dirkit_lab import Lab
from dirkit_lab import settings as s

REPO = Path(__file__).resolve().parents[1]


# A child forked from this (large) process starts with its address space, and Linux keeps that
# high-water mark in the child's ru_maxrss even after exec: measured directly, a dirkit run that
# used 60 MiB reported this bench's own 340 MiB. So the command runs as a grandchild of a small
# fresh interpreter, which reports the grandchild's peak alone.
# The shim times the command itself, so its own start is not counted.
_PEAK_SHIM = """
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {time.perf_counter() - t0}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one command."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_SHIM, peak.name, *argv], env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        out.seek(0)
        text = out.read().decode()
        kib, elapsed = (float(x) for x in (peak.read() or "0 0").split())
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}")
    return elapsed, int(kib) // 1024, text


def core_config(lab_cfg: dict[str, Any], state: Path) -> str:
    """The lab's [ldap], [kerberos] and [directory] only: the benchmark measures the sync core
    (read, model, closure, plan, state), not document rendering or HDFS homes."""
    lines = []
    for section in ("ldap", "kerberos", "directory"):
        lines.append(f"[{section}]")
        for k, v in lab_cfg[section].items():
            lines.append(f"{k} = {json.dumps(v)}")
    lines += ["[state]", f"path = {json.dumps(str(state))}"]
    return "\n".join(lines) + "\n"


def floor_commands(user_filter: str) -> tuple[list[str], list[str]]:
    """The floor: `ldapsearch` dumps of the users and the groups, with dirkit's attributes."""
    ldapsearch = [
        "ldapsearch",
        "-LLL",
        "-x",
        "-H",
        f"ldaps://{s.AD_HOST}",
        "-D",
        f"Administrator@{s.AD_REALM}",
        "-w",
        s.ADMIN_PASSWORD,
        "-b",
        s.AD_BASE,
        "-E",
        "pr=1000/noprompt",
        "-a",
        "never",
    ]
    users_cmd = [*ldapsearch, user_filter, *USER_ATTRS]
    groups_cmd = [*ldapsearch, "(objectClass=group)", *GROUP_ATTRS, "member"]
    return users_cmd, groups_cmd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bulk", type=int, default=10_000)
    a = ap.parse_args()

    lab = Lab()
    report = lab.up(bulk_users=a.bulk, progress=lambda m: print(m, file=sys.stderr))
    print(f"lab up in {report.seconds:.1f}s", file=sys.stderr)
    status = lab.status()
    cfg = tomllib.loads(Path(status["config"]).read_text())
    env = {**os.environ, "LDAPTLS_CACERT": status["ca_cert"], "KRB5_CONFIG": status["krb5_conf"]}
    users_cmd, groups_cmd = floor_commands(
        cfg["directory"].get("user_filter", "(&(objectCategory=person)(objectClass=user))")
    )
    dirkit = [str(REPO / ".venv" / "bin" / "dirkit"), "sync", "--json"]

    floor: list[float] = []
    ours: list[float] = []
    steady: list[float] = []
    rss: list[int] = []
    searches: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            tu, _, out_u = timed(users_cmd, env)
            tg, _, out_g = timed(groups_cmd, env)
            floor.append(tu + tg)
            state = Path(tmp) / f"state{r}.sqlite"
            conf = Path(tmp) / "dirkit.toml"
            conf.write_text(core_config(cfg, state))
            td, peak, out = timed(dirkit + ["-c", str(conf)], env)  # first run: empty state
            ts, peak2, out2 = timed(dirkit + ["-c", str(conf)], env)  # steady state, as under cron
            ours.append(td)
            steady.append(ts)
            rss += [peak, peak2]
            stats = json.loads(out)["stats"]
            searches.update((stats["ldap_searches"], json.loads(out2)["stats"]["ldap_searches"]))
            print(
                f"round {r + 1}: ldapsearch {floor[-1]:.2f}s ({out_u.count('dn: ')} users, "
                f"{out_g.count('dn: ')} groups)  dirkit sync first run {td:.2f}s, steady {ts:.2f}s  "
                f"peak RSS {max(peak, peak2)} MiB",
                file=sys.stderr,
            )
    f, d, st = statistics.median(floor), statistics.median(ours), statistics.median(steady)
    print(f"users={stats['users']} groups={stats['groups']} memberships={stats['memberships']}")
    print(f"floor (ldapsearch users+groups, median of {a.rounds}):      {f:.2f}s")
    print(f"dirkit sync, first run (empty state: everything new):   {d:.2f}s  ratio {d / f:.2f}")
    print(f"dirkit sync, steady state (previous snapshot, no change): {st:.2f}s  ratio {st / f:.2f}  (goal <= 1.5)")
    print(
        "(first run: full read + model + closure + full plan + snapshot write; steady state: full read +\n"
        " model + closure + plan digest equal to the stored one, so no snapshot load or write)"
    )
    print(f"LDAP searches per dirkit sync: {sorted(searches)}")
    print(f"dirkit peak RSS: {max(rss)} MiB")


if __name__ == "__main__":
    main()
