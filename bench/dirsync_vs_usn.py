#!/usr/bin/env python3
"""Benchmark: DirSync (1.2.840.113556.1.4.841) against uSNChanged polling, on the lab, same run.

    .venv/bin/python bench/dirsync_vs_usn.py [--rounds 5] [--changes 20]

The lab must be up (`dirkit-lab up`). Per round, as the domain Administrator (simple bind over
LDAPS, the same for both):
  dirsync-initial:  a DirSync pass from no cookie over the domain (users + groups filter),
                    all pages (the control's own "more data" loop);
  dirsync-nochange: a pass from the last cookie with nothing changed;
  dirsync-changed:  a pass from the last cookie after --changes user modifications;
  usn-nochange / usn-changed: dirkit's delta read (Reader.read_delta) at the same moments.
Prints seconds, LDAP searches and entries for each. Only the figures of one run compared with
each other mean anything.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import ldap3
import tomllib

from dirkit import _config as config
from dirkit._directory.model import Directory
from dirkit._directory.reader import Reader
from dirkit._state import StateStore
from dirkit_lab import Lab
from dirkit_lab import settings as s

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delta_read import admin

FILTER = "(|(objectClass=user)(objectClass=group))"
ATTRS = ["objectGUID", "sAMAccountName", "displayName", "userAccountControl", "member", "primaryGroupID", "isDeleted"]


def dirsync_pass(conn: ldap3.Connection, cookie: bytes | None) -> tuple[float, int, int, Any]:
    """One DirSync pass to the end (the control says when there is more). (seconds, searches,
    entries, cookie)."""
    t0 = time.monotonic()
    sync = conn.extend.microsoft.dir_sync(s.AD_BASE, FILTER, attributes=ATTRS, cookie=cookie)
    searches = entries = 0
    while sync.more_results:
        entries += len(sync.loop())
        searches += 1
    return time.monotonic() - t0, searches, entries, sync.cookie


def modify_users(conn: ldap3.Connection, n: int, round_no: int) -> None:
    conn.search(s.AD_BASE, "(&(objectClass=user)(sAMAccountName=rangeuser*))", attributes=["sAMAccountName"])
    for e in conn.entries[:n]:
        conn.modify(
            e.entry_dn, {"displayName": [(ldap3.MODIFY_REPLACE, [f"Range User {e.sAMAccountName} r{round_no}"])]}
        )


def usn_delta(cfg: config.Config, store: StateStore) -> tuple[float, int]:
    wm = store.watermark()
    assert wm is not None, "no watermark: run `dirkit sync` once with this config"
    t0 = time.monotonic()
    reader = Reader(cfg)

    def previous() -> Directory:
        snap = store.last_snapshot()
        assert snap is not None
        return snap

    delta = reader.read_delta(wm, previous)
    assert delta.directory is not None or delta.unchanged, delta.why
    return time.monotonic() - t0, reader.stats.searches


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args()
    lab = Lab()
    status = lab.status()
    if not status["ready"]:
        raise SystemExit("the lab is not up: `dirkit-lab up` first")
    os.environ["DIRKIT_BENCH_ADMIN_PW"] = s.ADMIN_PASSWORD
    base = tomllib.loads(open(status["config"]).read())
    base["ldap"].update(
        bind="simple",
        bind_dn=f"Administrator@{s.AD_REALM}",
        password="env:DIRKIT_BENCH_ADMIN_PW",
        urls=[base["ldap"]["urls"][0]],
    )
    base["ldap"].pop("principal", None)
    base["ldap"].pop("keytab", None)
    for section in ("hdfs", "output", "emr", "hue", "hadoop", "verify"):
        base.pop(section, None)
    base["state"] = {"path": "/tmp/dirkit-bench-dirsync.sqlite"}
    for f in ("", "-wal", "-shm"):
        if os.path.exists(base["state"]["path"] + f):
            os.unlink(base["state"]["path"] + f)
    cfg = config.from_dict(base)
    from dirkit import Dirkit

    kit = Dirkit(cfg)
    conn = admin(status["ca_cert"])
    # A tombstone, so that dirkit's delta is allowed (see test_delta.py).
    dn = f"CN=bench-tomb,{s.AD_BASE}"
    conn.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "bench-tomb"})
    conn.delete(dn)
    kit.sync(allow_removals=True)
    figures: dict[str, list[tuple[float, int, int]]] = {}
    with StateStore(cfg.state.path) as store:
        for r in range(args.rounds):
            sec, n, e, cookie = dirsync_pass(conn, None)
            figures.setdefault("dirsync-initial", []).append((sec, n, e))
            kit.sync()
            sec, n, e, cookie = dirsync_pass(conn, cookie)
            figures.setdefault("dirsync-nochange", []).append((sec, n, e))
            sec, n = usn_delta(cfg, store)
            figures.setdefault("usn-nochange", []).append((sec, n, 0))
            modify_users(conn, args.changes, r)
            sec, n, e, cookie = dirsync_pass(conn, cookie)
            figures.setdefault("dirsync-changed", []).append((sec, n, e))
            sec, n = usn_delta(cfg, store)
            figures.setdefault("usn-changed", []).append((sec, n, 0))
            kit.sync()
    print(f"{'pass':<18} {'median s':>9} {'searches':>9} {'entries':>8}")
    for name, rows in figures.items():
        print(
            f"{name:<18} {statistics.median(x[0] for x in rows):9.3f} {statistics.median(x[1] for x in rows):9.0f} "
            f"{statistics.median(x[2] for x in rows):8.0f}"
        )
    conn.unbind()


if __name__ == "__main__":
    main()
