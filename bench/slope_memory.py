#!/usr/bin/env python3
"""Benchmark: the whole sync pipeline at 10k, 100k and 1M users, from an in-memory directory.

    .venv/bin/python bench/slope_memory.py [--sizes 10000,100000,1000000]

No AD can be loaded that big here in minutes, so the directory comes through the same seam the
unit tests use (``DirectorySource``: a synthetic directory, 5 % as many groups as users, three
groups per user, a quarter of the groups nested in another), and HDFS through the homes seam
(an in-memory NameNode answering LISTSTATUS with WebHDFS's own FileStatus fields, turned into
dirkit's FileStatus values one by one, as WebHdfs parses a JSON answer); everything else is dirkit's real code: the model and closure,
the plan against the stored snapshot, the state save and load, the documents (hue.ini,
core-site.xml and their classifications) and the HDFS homes plan and its apply. Each size runs
in its own process, so its peak RSS is its own:
  first:   the first sync (build + plan + state save + documents + every home made)
  1%:      a delta sync with 1 % of the users disabled (through the delta path: state load,
           incremental apply, plan, save, documents, homes plan)
  1 user:  a delta sync with one more user disabled
  none:    a sync with nothing changed (the source's USN has not moved)
  1 user, new process: one more user disabled, synced by a new Dirkit (what a cron run does:
           the stored snapshot is loaded first; the three rows above run in one process, as
           `dirkit watch` does, each delta starting from the snapshot the last one kept)
Prints seconds and peak RSS per size, and per 1,000 users (a flat column = a linear slope).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from dirkit._directory.build import RawGroup, RawUser
from dirkit._homes.file_status import FileStatus

BASE = "DC=example,DC=com"


def synthetic(n: int) -> tuple[list[RawUser], list[RawGroup]]:
    """Raw users and groups: deterministic, no randomness needed for a shape this regular."""
    users = [
        RawUser(f"{i:08x}-0000-4000-8000-000000000000", f"CN=user{i},OU=People,{BASE}", f"user{i}",
                f"S-1-5-21-1-2-3-{1000 + i}", f"user{i}@EXAMPLE.COM", None, 512, 513, i + 1)
        for i in range(n)
    ]  # fmt: off
    n_groups = max(10, n // 20)
    members: list[list[str]] = [[] for _ in range(n_groups)]
    for i, u in enumerate(users):
        for k in (i % n_groups, (i * 7 + 3) % n_groups, (i * 13 + 5) % n_groups):
            members[k].append(u.dn)
    for j in range(n_groups // 4):  # nesting: group j is a member of group j + n/4
        members[j + n_groups // 4].append(f"CN=grp{j},OU=Groups,{BASE}")
    groups = [
        RawGroup(f"{j:08x}-1111-4000-8000-000000000000", f"CN=grp{j},OU=Groups,{BASE}", f"grp{j}",
                 f"S-1-5-21-1-2-3-{10_000_000 + j}", j + 1, tuple(dict.fromkeys(members[j])))
        for j in range(n_groups)
    ]  # fmt: off
    groups.append(RawGroup("domain-users", f"CN=Domain Users,{BASE}", "Domain Users", "S-1-5-21-1-2-3-513", 1, ()))
    return users, groups


class _NameNode:
    """An in-memory HDFS for the homes seam, compact in itself (a tuple per directory) so that
    what is measured is dirkit's side: the listing it gets is built per call, as WebHDFS's JSON
    answer would be parsed."""

    def __init__(self) -> None:
        self.requests = 0
        self.dirs: dict[str, tuple[str, str, str]] = {"/user": ("hdfs", "supergroup", "755")}
        self.mtime = 1764547200000  # /user's modificationTime: moves when an entry is made or renamed

    def _status(self, path: str) -> FileStatus:
        owner, group, perm = self.dirs[path]
        # What WebHdfs keeps of each FileStatus object of the JSON answer, parsed the same way.
        return FileStatus.from_json(
            {"accessTime": 0, "blockSize": 0, "childrenNum": 0, "fileId": 16386, "group": group, "length": 0,
             "modificationTime": 1764547200000, "owner": owner, "pathSuffix": path.rsplit("/", 1)[1],
             "permission": perm, "replication": 0, "storagePolicy": 0, "type": "DIRECTORY"}
        )  # fmt: off

    def status(self, path: str) -> FileStatus | None:
        self.requests += 1
        if path not in self.dirs:
            return None
        st = self._status(path)
        return replace(st, mtime=self.mtime) if path == "/user" else st

    def list(self, path: str) -> list[FileStatus] | None:
        self.requests += 1
        return [self._status(p) for p in sorted(self.dirs) if p.rsplit("/", 1)[0] == path]

    def mkdirs(self, path: str, permission: str) -> bool:
        self.requests += 1
        self.dirs.setdefault(path, ("nn", "supergroup", permission))
        self.mtime += 1
        return True

    def set_owner(self, path: str, owner: str, group: str) -> None:
        self.requests += 1
        self.dirs[path] = (owner, group, self.dirs[path][2])

    def set_permission(self, path: str, permission: str) -> None:
        self.requests += 1
        self.dirs[path] = (*self.dirs[path][:2], permission)

    def rename(self, path: str, destination: str) -> None:
        self.dirs[destination] = self.dirs.pop(path)
        self.mtime += 1

    def set_quota(self, path: str, namespace: int | None, space: int | None) -> None:
        pass

    def quota(self, path: str) -> tuple[int, int]:
        return (-1, -1)

    def close(self) -> None:
        pass


def one_size(n: int) -> dict[str, float]:
    """Run in a child process: both syncs at ``n`` users; seconds and peak RSS (MiB)."""
    from dirkit import Dirkit
    from dirkit import _config as config
    from dirkit._directory.names import NamePolicy
    from dirkit._directory.source import MemoryDeltaSource

    users, groups = synthetic(n)
    source = MemoryDeltaSource(users, groups, NamePolicy(), [BASE], "ldaps://dc.example.com")
    del users, groups
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        cfg = config.from_dict(
            {
                "ldap": {"urls": ["ldaps://dc.example.com"], "bind": "simple", "bind_dn": "x", "password": "env:X"},
                "directory": {"base_dn": BASE, "realm": "EXAMPLE.COM"},
                "state": {"path": f"{tmp}/state.sqlite"},
                "safety": {"max_removals": 10**9, "max_removal_percent": 100},
                "output": {"directory": f"{tmp}/out"},
                "hue": {"server_name": "ad", "ldap_cert": "/etc/hue/ca.pem", "bind_dn": "x@example.com",
                        "bind_password_script": "/etc/hue/pw.sh"},
                "hadoop": {"bind_user": "x@example.com", "bind_password_file": "/etc/hadoop/pw",
                           "truststore": "/etc/hadoop/ad.p12", "truststore_password_file": "/etc/hadoop/p12.pw"},
                "hdfs": {"url": "https://nn.example.com:9871/webhdfs/v1", "principal": "nn/nn@EXAMPLE.COM",
                         "keytab": "/etc/nn.keytab"},
            }
        )  # fmt: off
        namenode = _NameNode()
        kit = Dirkit(cfg, source=source, homes_target=namenode)
        t0 = time.perf_counter()
        kit.sync()
        first = time.perf_counter() - t0
        peak_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        disabled = list(source.users.values())[: max(1, n // 100)]
        source.change(users=[replace(u, uac=u.uac | 2) for u in disabled])
        t0 = time.perf_counter()
        result = kit.sync()
        steady = time.perf_counter() - t0
        assert result.read.kind == "delta" and source.reads == 1, (result.read, source.reads)
        assert result.plan.counts()["user_disabled"] == len(disabled)
        assert result.homes is not None and result.homes.plan.wanted == n - len(disabled)
        one = list(source.users.values())[-1]
        source.change(users=[replace(one, uac=one.uac | 2)])
        t0 = time.perf_counter()
        result = kit.sync()
        single = time.perf_counter() - t0
        assert result.plan.counts()["user_disabled"] == 1
        assert result.homes is not None and result.homes.scope == "scoped"
        t0 = time.perf_counter()
        result = kit.sync()
        nothing = time.perf_counter() - t0
        assert not result.plan.changes
        # What a cron run pays: a new process (here a new Dirkit) loads the stored snapshot first.
        one = list(source.users.values())[-2]
        source.change(users=[replace(one, uac=one.uac | 2)])
        t0 = time.perf_counter()
        result = Dirkit(cfg, source=source, homes_target=namenode).sync()
        cold = time.perf_counter() - t0
        assert result.plan.counts()["user_disabled"] == 1
        assert len(namenode.dirs) == n + 1 and len(result.files) == 4
        size = Path(f"{tmp}/state.sqlite").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"users": n, "first": first, "steady": steady, "single": single, "nothing": nothing, "cold": cold, "peak_first_mib": peak_first, "peak_mib": peak,
            "state_mib": size / 2**20}  # fmt: off


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_size(a.one)))
        return
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.splitlines()[-1]))
        print(f"{n} users done", file=sys.stderr)
    print("in-memory directory, whole pipeline (model, closure, plan, state save/load); one process per size")
    print(f"{'users':>9} {'first s':>8} {'1% s':>7} {'1 user s':>8} {'none s':>7} {'new proc s':>10} {'peak MiB':>9} {'state MiB':>9} "
          f"{'ms/1k first':>11} {'1%/first':>8} {'KiB/user':>8}")  # fmt: off
    for r in rows:
        k = r["users"] / 1000
        print(f"{r['users']:>9} {r['first']:>8.2f} {r['steady']:>7.2f} {r['single']:>8.2f} {r['nothing']:>7.3f} "
              f"{r['cold']:>10.2f} {r['peak_mib']:>9.0f} {r['state_mib']:>9.1f} {1000 * r['first'] / k:>11.1f} "
              f"{r['steady'] / r['first']:>8.1%} {r['peak_mib'] * 1024 / r['users']:>8.2f}")  # fmt: off


if __name__ == "__main__":
    main()
