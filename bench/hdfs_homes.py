#!/usr/bin/env python3
"""Benchmark: creating N new HDFS homes (mkdir + owner + mode) on the lab's NameNode.

    .venv/bin/python bench/hdfs_homes.py [--homes 2000] [--rounds 3]

In one run, alternating round by round:
  floor:  a minimal raw client: requests + requests-gssapi sessions (one per thread, SPNEGO once,
          then Hadoop's auth cookie), the same WebHDFS calls (MKDIRS with permission, SETOWNER)
          with the same concurrency, into a fresh prefix;
  dirkit: homes.provision() for N synthetic users into another fresh prefix (listing, plan,
          the same calls through dirkit's pool);
then dirkit again on its prefix (the no-change re-run). Prints the ratio dirkit/floor (goal
<= 1.2), requests made, and the re-run's requests and time. Only ratios within one run mean
anything on these machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import gssapi
import requests
from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

from dirkit import _config as config
from dirkit import _kerberos as kerberos
from dirkit._directory.build import RawUser, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._homes.provision import provision
from dirkit._homes.webhdfs import WebHdfs
from dirkit_lab import Lab, namenode

CONCURRENCY = 8


def synthetic_directory(n: int) -> Directory:
    users = [
        RawUser(
            f"g{i}",
            f"CN=benchuser{i:05d},DC=x",
            f"benchuser{i:05d}",
            f"S-1-5-21-1-2-3-{5000 + i}",
            None,
            None,
            512,
            513,
            i,
        )
        for i in range(n)
    ]
    return build(users, [], NamePolicy(), ["DC=x"])


def raw_floor(url: str, creds: gssapi.Credentials, prefix: str, names: list[str]) -> float:
    """Seconds for the same MKDIRS + SETOWNER calls from a minimal client."""
    local = threading.local()

    def session() -> requests.Session:
        s: requests.Session | None = getattr(local, "s", None)
        if s is None:  # one session per thread: SPNEGO once, then Hadoop's auth cookie
            s = local.s = requests.Session()
            s.auth = HTTPSPNEGOAuth(creds=creds, mutual_authentication=OPTIONAL)
        return s

    def one(name: str) -> None:
        s = session()
        path = url + quote(f"{prefix}/{name}", safe="/")
        r1 = s.put(path, params={"op": "MKDIRS", "permission": "750"}, timeout=30)
        r2 = s.put(path, params={"op": "SETOWNER", "owner": name, "group": name}, timeout=30)
        r1.raise_for_status()
        r2.raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, names))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--homes", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    lab = Lab()
    lab.up(progress=lambda m: print(m, file=sys.stderr))
    status = lab.status()
    os.environ["KRB5_CONFIG"] = status["krb5_conf"]
    base = config.load(status["config"])
    if base.hdfs is None:
        raise SystemExit(f"{status['config']} has no [hdfs] section: run `dirkit-lab up` (with HDFS)")
    base_hdfs = base.hdfs
    principal, keytab = status["principals"]["nn"], Path(status["keytabs"]["nn-localhost"])
    creds = kerberos.keytab_credentials(principal, keytab)
    d = synthetic_directory(a.homes)
    names = [u.name for u in d.named_users() if u.name]
    floor, ours, reqs, rerun_t, rerun_r = [], [], 0, [], 0
    with WebHdfs.from_keytab(namenode.webhdfs_url(), principal, keytab) as admin:
        for r in range(a.rounds):
            run = uuid.uuid4().hex[:8]
            p_floor, p_ours = f"/bench/{run}/floor", f"/bench/{run}/dirkit"
            admin.mkdirs(p_floor, "755")
            admin.mkdirs(p_ours, "755")
            tf = raw_floor(namenode.webhdfs_url(), creds, p_floor, names)
            bench_hdfs = base_hdfs.model_copy(update={"prefix": p_ours, "concurrency": CONCURRENCY})
            res = provision(bench_hdfs, d)
            assert not res.failed and len(res.done) == a.homes, res.failed[:3]
            again = provision(bench_hdfs, d)
            floor.append(tf)
            ours.append(res.seconds)
            reqs, rerun_r = res.requests, again.requests
            rerun_t.append(again.seconds)
            print(
                f"round {r + 1}: raw client {tf:.2f}s, dirkit {res.seconds:.2f}s ({res.requests} requests), "
                f"re-run {again.seconds:.3f}s ({again.requests} requests)",
                file=sys.stderr,
            )
    f, o = statistics.median(floor), statistics.median(ours)
    print(f"{a.homes} new homes, concurrency {CONCURRENCY}")
    print(f"raw WebHDFS client (protocol floor), median of {a.rounds}: {f:.2f}s ({2 * a.homes} requests)")
    print(f"dirkit hdfs provision:                  {o:.2f}s ({reqs} requests)  ratio {o / f:.2f} (goal <= 1.2)")
    print(f"no-change re-run: {rerun_r} requests, {statistics.median(rerun_t):.3f}s")


if __name__ == "__main__":
    main()
