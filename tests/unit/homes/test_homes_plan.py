"""The homes policy and plan are pure: every case without a NameNode."""

from __future__ import annotations

from typing import Any

import pytest
from seed_fixture import seed_directory

from dirkit import _config as config
from dirkit._homes import policy
from dirkit._homes.file_status import FileStatus
from dirkit._homes.plan import Owned, plan_homes
from dirkit._homes.webhdfs import WebHdfs
from dirkit.errors import HdfsError

HDFS = config.HdfsConfig.model_validate(
    {"url": "https://nn:9871/webhdfs/v1", "principal": "nn/nn@EMR.DIRKIT.TEST", "keytab": "/k"}
)


# Departed long ago (the epoch): past any grace period.
LONG_AGO = {n: 0.0 for n in ("gone1", "disabled1", "hive", "spark", "hadoop", "history", "oozie", "stranger")}


def mine(*names: str) -> dict[str, Owned]:
    """Homes the state says dirkit made, each for the seed user of that name (guid-<name>)."""
    return {n: Owned(f"guid-{n}") for n in names}


SEED = ("admin1", "dataeng1", "datascientist1", "nobody1")


def entry(name: str, owner: str, group: str, permission: str = "750", kind: str = "DIRECTORY") -> FileStatus:
    return FileStatus(name, kind, owner, group, permission)


def test_hostile_names_never_leave_the_prefix() -> None:
    for bad in ("..", ".", "a/b", "../etc", "", "x/../../y"):
        assert policy.home_path("/user", bad) is None, bad
    fs = WebHdfs("http://localhost:9870/webhdfs/v1", None, pool_size=1)
    assert fs.url("/user/odd#hash") == "http://localhost:9870/webhdfs/v1/user/odd%23hash"
    assert fs.url("/user/odd%pct") == "http://localhost:9870/webhdfs/v1/user/odd%25pct"
    assert fs.url("/user/zoë x") == "http://localhost:9870/webhdfs/v1/user/zo%C3%AB%20x"
    with pytest.raises(HdfsError):
        fs.url("/user/../etc")
    fs.close()


def test_missing_homes_are_created_for_enabled_users_only() -> None:
    plan = plan_homes(HDFS, seed_directory(), [])
    created = {a.user: a for a in plan.actions if a.kind == "create"}
    assert sorted(created) == ["admin1", "dataeng1", "datascientist1", "nobody1"]  # not disabled1
    assert (created["dataeng1"].owner, created["dataeng1"].group, created["dataeng1"].mode) == ("dataeng1",) * 2 + (
        "750",
    )
    assert plan.wanted == 4 and not plan.reports


def test_present_homes_make_no_actions_and_drift_is_reported() -> None:
    listing = [entry(n, n, n) for n in ("admin1", "datascientist1", "nobody1")]
    listing.append(entry("dataeng1", "nn", "supergroup", "777"))
    plan = plan_homes(HDFS, seed_directory(), listing, owned=mine(*SEED))
    assert plan.actions == []
    assert {(r.kind, r.path) for r in plan.reports} == {("drift", "/user/dataeng1")}
    fixed = plan_homes(HDFS, seed_directory(), listing, fix_drift=True, owned=mine(*SEED))
    assert [a.kind for a in fixed.actions] == ["fix_owner", "fix_mode"]


def test_departed_and_disabled_homes_are_kept_or_locked() -> None:
    listing = [entry("gone1", "gone1", "gone1"), entry("disabled1", "disabled1", "disabled1")]
    kept = plan_homes(HDFS, seed_directory(), listing, owned=mine("gone1", "disabled1"))
    assert {r.path for r in kept.reports if r.kind == "departed"} == {"/user/gone1", "/user/disabled1"}
    locked = plan_homes(
        HDFS, seed_directory(), listing, lock_departed=True, owned=mine("gone1", "disabled1"), departed=LONG_AGO
    )
    assert {(a.kind, a.path, a.mode) for a in locked.actions if a.kind == "lock"} == {
        ("lock", "/user/gone1", "0"),
        ("lock", "/user/disabled1", "0"),
    }


def test_a_departed_home_is_not_locked_within_its_grace_period() -> None:
    listing = [entry(n, n, n) for n in ("admin1", "dataeng1", "datascientist1", "nobody1", "gone1")]
    day = 86400.0
    now = 100 * day
    fresh = plan_homes(HDFS, seed_directory(), listing, lock_departed=True, owned=mine(*SEED, "gone1"), now=now)
    assert fresh.actions == [] and fresh.departed_names == ["gone1"]
    assert "departed (first seen now); not locked before 1970-05-11" in fresh.reports[0].detail  # now + 30 days
    recent = plan_homes(
        HDFS,
        seed_directory(),
        listing,
        lock_departed=True,
        owned=mine(*SEED, "gone1"),
        departed={"gone1": now - day},
        now=now,
    )
    assert recent.actions == [] and "departed since 1970-04-10" in recent.reports[0].detail
    old = plan_homes(
        HDFS,
        seed_directory(),
        listing,
        lock_departed=True,
        owned=mine(*SEED, "gone1"),
        departed={"gone1": now - 31 * day},
        now=now,
    )
    assert [a.kind for a in old.actions] == ["lock"] and "departed since 1970-03-11" in old.actions[0].detail
    at_once = HDFS.model_copy(update={"departed_grace_days": 0.0})
    assert [
        a.kind
        for a in plan_homes(at_once, seed_directory(), listing, lock_departed=True, owned=mine(*SEED, "gone1")).actions
    ] == ["lock"]


def test_only_homes_dirkit_provisioned_are_locked_never_service_homes() -> None:
    service = [entry(n, n, "hadoop", "755") for n in ("hive", "spark", "hadoop", "history", "oozie", "etl")]
    listing = [*service, entry("stranger", "stranger", "stranger"), entry("gone1", "gone1", "gone1")]
    owned = mine("hive", "spark", "hadoop", "history", "oozie", "etl", "gone1")  # even if a service name got in
    cfg = HDFS.model_copy(update={"lock_exclude": ["etl"]})
    plan = plan_homes(cfg, seed_directory(), listing, lock_departed=True, owned=owned, departed=LONG_AGO)
    assert [a.path for a in plan.actions if a.kind == "lock"] == ["/user/gone1"]
    why = {r.path: r.detail for r in plan.reports}
    assert why["/user/hive"].endswith("not locked: an EMR service identity")
    assert why["/user/etl"].endswith("not locked: protected by hdfs.lock_exclude")
    assert why["/user/stranger"] == "dirkit did not create it: left alone"


def test_a_read_with_no_users_cannot_lock_every_home() -> None:
    from dirkit._config import SafetyConfig
    from dirkit._directory.model import Directory

    names = [f"user{i}" for i in range(10)]
    listing = [entry(n, n, n) for n in names]
    empty = Directory(users={}, groups={}, direct={}, effective={})
    plan = plan_homes(
        HDFS,
        empty,
        listing,
        lock_departed=True,
        owned=mine(*names),
        safety=SafetyConfig(),
        departed={n: 0 for n in names},
    )
    assert len([a for a in plan.actions if a.kind == "lock"]) == 10
    assert "10 homes to lock are 100.0% of 10 homes present" in plan.held


def test_quota_rule_by_nested_group() -> None:
    cfg = HDFS.model_copy(update={"quotas": [config.QuotaRule(group="grp_analytics", namespace=5)]})
    homes, _ = policy.wanted_homes(cfg, seed_directory())
    quotas = {h.user: h.quota.namespace if h.quota else None for h in homes}
    assert quotas == {"admin1": None, "datascientist1": 5, "dataeng1": None, "nobody1": None}


def test_an_interrupted_create_is_finished_not_reported_as_drift() -> None:
    # MKDIRS happened (owner: the superuser dirkit acts as, the create mode), SETOWNER did not.
    # The state recorded the create as pending before MKDIRS: only then is it dirkit's to finish.
    listing = [entry("dataeng1", "nn", "supergroup", "750")]
    pending = {"dataeng1": Owned("guid-dataeng1", pending=True)}
    plan = plan_homes(HDFS, seed_directory(), listing, owned=pending)
    assert [(a.kind, a.owner, a.group) for a in plan.actions if a.user == "dataeng1"] == [
        ("finish", "dataeng1", "dataeng1")
    ]
    assert not [r for r in plan.reports if r.path == "/user/dataeng1"]
    # Someone else's directory, or one the state never recorded, is not dirkit's: left alone.
    for listed, owned in (([entry("dataeng1", "alice", "supergroup", "750")], pending), (listing, {})):
        other = plan_homes(HDFS, seed_directory(), listed, owned=owned)
        assert not [a for a in other.actions if a.user == "dataeng1"]
        assert [r.kind for r in other.reports] == ["foreign"]


def test_quotas_are_rechecked_on_existing_homes() -> None:
    from dirkit._homes.plan import quota_checks

    cfg = HDFS.model_copy(update={"quotas": [config.QuotaRule(group="grp_analytics", namespace=5, space_bytes=9)]})
    listing = [entry(n, n, n) for n in SEED]
    assert quota_checks(cfg, seed_directory(), listing) == ["/user/datascientist1"]
    missing = plan_homes(cfg, seed_directory(), listing, quotas={"/user/datascientist1": (-1, -1)}, owned=mine(*SEED))
    assert [(a.kind, a.namespace, a.space) for a in missing.actions] == [("set_quota", 5, 9)]
    done = plan_homes(cfg, seed_directory(), listing, quotas={"/user/datascientist1": (5, 9)}, owned=mine(*SEED))
    assert done.actions == []


def test_a_listed_name_that_is_not_a_direct_child_is_never_locked() -> None:
    # Issue 19, item 10: the path of a departed home came from the NameNode's listing, without
    # the check new homes get. Even a name the state lists as provisioned is refused.
    hostile = ["..", "../etc", "a/b", "/etc", ".", "x/../../tmp"]
    listing = [entry(n, "x", "x") for n in hostile]
    p = plan_homes(
        HDFS,
        seed_directory(),
        listing,
        lock_departed=True,
        owned=mine(*hostile),
        departed=LONG_AGO | {n: 0.0 for n in hostile},
    )
    assert [a for a in p.actions if a.kind == "lock"] == []
    assert sorted(r.detail for r in p.reports if r.kind == "refused") == ["not a direct child of the prefix"] * len(
        hostile
    )


def _renamed_directory() -> tuple[Any, str]:
    from dataclasses import replace

    d = seed_directory()
    u = d.user_by_name("dataeng1")
    assert u is not None
    users = {g: (replace(x, sam="dataeng-one", name="dataeng-one") if g == u.guid else x) for g, x in d.users.items()}
    return replace(d, users=users), u.guid


def test_a_renamed_users_home_follows_them_by_objectguid() -> None:
    d, guid = _renamed_directory()
    listing = [entry("dataeng1", "dataeng1", "dataeng1")]
    p = plan_homes(HDFS, d, listing, owned={"dataeng1": Owned(guid)})
    renames = [a for a in p.actions if a.kind == "rename"]
    assert [(a.source, a.path, a.owner) for a in renames] == [("/user/dataeng1", "/user/dataeng-one", "dataeng-one")]
    assert not [a for a in p.actions if a.path == "/user/dataeng-one" and a.kind == "create"]
    assert "/user/dataeng1" not in {r.path for r in p.reports if r.kind == "departed"}
    assert p.pending["dataeng-one"] == guid
    # Without the state's record (an older state, or a directory dirkit did not make), a new
    # home is made and the old one is left alone.
    p = plan_homes(HDFS, d, listing)
    assert [a.kind for a in p.actions if a.path == "/user/dataeng-one"] == ["create"]


def test_an_interrupted_rename_is_finished_and_a_reused_name_is_reported() -> None:
    d, guid = _renamed_directory()
    moved = [entry("dataeng-one", "dataeng1", "dataeng1")]  # renamed, not yet handed over
    p = plan_homes(HDFS, d, moved, owned={"dataeng1": Owned(guid), "dataeng-one": Owned(guid, pending=True)})
    assert [(a.kind, a.owner) for a in p.actions if a.path == "/user/dataeng-one"] == [("finish", "dataeng-one")]
    # Another account now has the name of a home dirkit made for someone else: reported, untouched.
    p = plan_homes(HDFS, seed_directory(), [entry("admin1", "admin1", "admin1")], owned={"admin1": Owned("gone-guid")})
    assert [r.kind for r in p.reports if r.path == "/user/admin1"] == ["reused"]
    assert not [a for a in p.actions if a.path == "/user/admin1"] and "admin1" not in p.owned


def test_lock_on_disable_locks_a_disabled_users_home_at_once_and_unlocks_it_when_enabled() -> None:
    # Issue 34, item 2: with hdfs.lock_on_disable a run that finds a user disabled locks their
    # home (dirkit's only) without the departed grace period; a user gone from AD keeps it.
    cfg = HDFS.model_copy(update={"lock_on_disable": True})
    d = seed_directory()
    listing = [entry(n, n, n) for n in (*SEED, "disabled1", "gone1")]
    plan = plan_homes(cfg, d, listing, owned=mine(*SEED, "disabled1", "gone1"))
    assert [(a.kind, a.path, a.mode) for a in plan.actions] == [("lock", "/user/disabled1", "0")]
    assert "locked at once (hdfs.lock_on_disable)" in plan.actions[0].detail
    gone = next(r for r in plan.reports if r.path == "/user/gone1")
    assert gone.kind == "departed" and "home kept" in gone.detail
    # Not dirkit's, or a protected name: never locked, whatever AD says.
    foreign = plan_homes(cfg, d, listing, owned=mine(*SEED))
    assert not [a for a in foreign.actions if a.kind == "lock"]
    excluded = plan_homes(
        cfg.model_copy(update={"lock_exclude": ["disabled1"]}), d, listing, owned=mine(*SEED, "disabled1")
    )
    assert not [a for a in excluded.actions if a.kind == "lock"]
    # Locked already: nothing more. Off: kept, as before.
    locked = [*listing[:-2], entry("disabled1", "disabled1", "disabled1", "0")]
    assert plan_homes(cfg, d, locked, owned=mine(*SEED, "disabled1")).actions == []
    assert plan_homes(HDFS, d, listing, owned=mine(*SEED, "disabled1")).actions == []
    # Enabled again: the lock is taken off (the policy's mode), without --fix-drift.
    from dataclasses import replace as with_

    users = {g: (with_(u, enabled=True) if u.name == "disabled1" else u) for g, u in d.users.items()}
    again = with_(d, users=users)
    unlocked = plan_homes(cfg, again, locked, owned=mine(*SEED, "disabled1"))
    assert [(a.kind, a.path, a.mode) for a in unlocked.actions] == [("fix_mode", "/user/disabled1", "750")]
    # Without lock_on_disable a mode of 0 is drift like any other: reported.
    assert plan_homes(HDFS, again, locked, owned=mine(*SEED, "disabled1")).actions == []
