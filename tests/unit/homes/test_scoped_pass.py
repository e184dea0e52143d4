"""A delta's homes pass plans only the users it touched (issue 33, item 2): over random chains
of deltas (seeded, bounded in time) driven through ``Dirkit.sync`` by the in-memory delta source,
a sync whose passes are scoped leaves the NameNode and the state's homes exactly as one that
plans every home on every run (hdfs.full_check_hours = 0): users disabled, enabled, renamed,
deleted, added (on a departed name too), and directories made under the prefix by someone else
(they move its modificationTime: the next pass is full). What a scoped pass cannot see, an
owner changed by hand under an unchanged prefix, the next full pass reports."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from memory_hdfs import MemoryHdfs
from seed_fixture import BASE, _g, _u, seed_config

from dirkit import Dirkit
from dirkit._directory.build import RawUser
from dirkit._directory.names import NamePolicy
from dirkit._directory.source import MemoryDeltaSource
from dirkit._state import StateStore

HDFS = {
    "url": "https://nn.example:9871/webhdfs/v1",
    "principal": "nn/nn.example@EMR.DIRKIT.TEST",
    "keytab": "/etc/nn.keytab",
    "departed_grace_days": 0,
}
DC = "ldaps://dc1.ad.dirkit.test:636"
NAMES = ["ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal"]


def _world(tmp: Path, hours: float, users: list[RawUser]) -> tuple[Dirkit, MemoryDeltaSource, MemoryHdfs]:
    tmp.mkdir(mode=0o700, parents=True)
    source = MemoryDeltaSource(users, [_g("Domain Users", 513)], NamePolicy(realm="AD.DIRKIT.TEST"), [BASE], DC)
    fs = MemoryHdfs("/user")
    cfg = seed_config(
        state={"path": str(tmp / "state.sqlite")},
        hdfs={**HDFS, "full_check_hours": hours},
        safety={"max_removals": 1000, "max_removal_percent": 100},
    )
    return Dirkit(cfg, source=source, homes_target=fs), source, fs


def _homes(kit: Dirkit, fs: MemoryHdfs) -> tuple[Any, ...]:
    with StateStore(kit.config.state.path) as store:
        owned, departed = store.owned_homes(), sorted(store.departed_homes())
    files = {p: {k: v for k, v in st.items() if k != "modificationTime"} for p, st in fs.files.items()}
    return files, owned, departed


def _step(rnd: random.Random, source: MemoryDeltaSource, n: int) -> tuple[str, Any]:
    users = list(source.users.values())
    what = rnd.choice(["disable", "enable", "rename", "delete", "add", "foreign"] if users else ["add"])
    if what == "add":
        u = _u(rnd.choice(NAMES), 2000 + n)
        return what, {"users": [replace(u, guid=f"guid-{n}", dn=f"CN=u{n},CN=Users,{BASE}")]}
    if what == "foreign":
        return what, rnd.choice(NAMES)
    u = rnd.choice(users)
    if what == "disable":
        return what, {"users": [replace(u, uac=u.uac | 2)]}
    if what == "enable":
        return what, {"users": [replace(u, uac=u.uac & ~2)]}
    if what == "rename":
        return what, {"users": [replace(u, sam=rnd.choice(NAMES))]}
    return what, {"deleted": [u.guid]}


def _chain(tmp: Path, seed: int, steps: int) -> int:
    rnd = random.Random(seed)
    users = [replace(_u(name, 1100 + i), guid=f"guid-first-{i}") for i, name in enumerate(rnd.sample(NAMES, 3))]
    full, full_src, full_fs = _world(tmp / "full", 0, users)
    scoped, src, fs = _world(tmp / "scoped", 24, users)
    full.sync()
    scoped.sync()
    passes = 0
    for n in range(steps):
        what, change = _step(rnd, src, n)
        if what == "foreign":
            for f in (full_fs, fs):
                if f"/user/{change}" not in f.files:
                    f.add(f"/user/{change}", "svc")
        else:
            full_src.change(**change)
            src.change(**change)
        a, b = full.sync(), scoped.sync()
        assert a.homes is not None and b.homes is not None and b.read.kind == "delta"
        assert a.homes.scope == "full"
        passes += b.homes.scope == "scoped"
        why = f"seed {seed} step {n}: {what} {change}"
        assert _homes(scoped, fs) == _homes(full, full_fs), why
        assert sorted(x.to_json().items() for x in b.homes.done) == sorted(
            x.to_json().items() for x in a.homes.done
        ) or (b.homes.scope == "full"), why
    return passes


def test_scoped_homes_passes_leave_what_full_passes_leave(tmp_path: Path) -> None:
    t0, seed, scoped = time.monotonic(), 0, 0
    while seed < 200 and time.monotonic() - t0 < 10:
        scoped += _chain(tmp_path / str(seed), seed, steps=8)
        seed += 1
    assert seed >= 20 and scoped > seed  # most passes after a delta were scoped


def test_an_owner_changed_by_hand_shows_at_the_next_full_pass(tmp_path: Path) -> None:
    kit, source, fs = _world(tmp_path / "w", 24, [_u("ann", 1100), _u("bob", 1101)])
    kit.sync()
    fs.files["/user/ann"]["owner"] = "mallory"  # chown: the prefix's modificationTime stays
    bob = source.users["guid-bob"]
    source.change(users=[replace(bob, uac=bob.uac | 2)])
    with StateStore(kit.config.state.path) as store:
        before = store.homes_pass()
    quiet = kit.sync()
    assert quiet.homes is not None and quiet.homes.scope == "scoped"
    with StateStore(kit.config.state.path) as store:  # a scoped pass does not reset the full-check clock
        after = store.homes_pass()
    assert before is not None and after is not None and after.full == before.full
    assert [r.path for r in quiet.homes.plan.reports if r.kind == "drift"] == []
    with StateStore(kit.config.state.path) as store:  # the full pass is due
        store.db.execute("UPDATE homes_pass SET full = full - 25 * 3600")
    due = kit.sync()
    assert due.homes is not None and due.homes.scope == "full"
    assert [r.path for r in due.homes.plan.reports if r.kind == "drift"] == ["/user/ann"]
