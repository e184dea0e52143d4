"""Delta reads on the real Samba DC: after random batches of changes, the snapshot a delta sync
builds must equal a fresh full read's (plan and content digests), batch after batch, for three
sync accounts: the domain Administrator (simple bind), the lab's svc-dirkit (Kerberos, allowed
to read CN=Deleted Objects, as README asks of AD admins) and svc-dirkit without that right (a
plain-read account: deletions are found by listing the scope's GUIDs). Then each identity change
of issue 20, one by one, against a full read.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import ldap3
import pytest

from dirkit import Dirkit
from dirkit import _sync as sync
from dirkit._plan import content_digest, plan_digest
from dirkit_lab import Lab, seed
from dirkit_lab import settings as s

BATCHES = int(os.environ.get("DIRKIT_DELTA_BATCHES", "20"))
SEED = int(os.environ.get("DIRKIT_DELTA_SEED", "20261127"))
OUS = [seed.USERS_CN, seed.HARD_OU]
NESTED = ["grp_data_science", "grp_analytics", "grp_data_engineering", "grp_cycle_a", "grp_cycle_b", "grp_ranged"]


@pytest.fixture
def tombstone(ad_admin: ldap3.Connection, restore_ad: None) -> None:
    """A deletion, so that CN=Deleted Objects holds a tombstone (a freshly provisioned lab DC
    has none, and dirkit reads in full until it can see one)."""
    dn = f"CN=dk-tombstone,{seed.HARD_OU}"
    assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "dk-tombstone"})
    assert ad_admin.delete(dn)


@pytest.fixture
def admin_config(make_config: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DIRKIT_TEST_ADMIN_PW", s.ADMIN_PASSWORD)
    ldap = {"bind": "simple", "bind_dn": f"Administrator@{s.AD_REALM}", "password": "env:DIRKIT_TEST_ADMIN_PW"}
    return make_config(ldap={**ldap, "principal": None, "keytab": None}, hdfs=None, output=None)


ACCOUNTS = ["admin", "svc-dirkit", "svc-dirkit-plain"]


@pytest.fixture(params=ACCOUNTS)
def account_config(request: pytest.FixtureRequest, make_config: Any, lab: Lab, restore_ad: None) -> Any:
    """The config of one sync account; svc-dirkit-plain is svc-dirkit with its tombstone right
    taken away (restore_ad gives it back)."""
    if request.param == "admin":
        return request.getfixturevalue("admin_config")
    lab.tombstone_rights(request.param == "svc-dirkit")
    return make_config(hdfs=None, output=None)


class Batch:
    """Random changes through the admin connection; keeps track of what it made."""

    def __init__(self, conn: ldap3.Connection, rng: random.Random) -> None:
        self.c, self.rng = conn, rng
        self.made_users: list[str] = []  # DNs
        self.made_groups: list[str] = []
        self.n = 0

    def _ok(self) -> None:
        assert self.c.result["result"] == 0, self.c.result

    def _users(self) -> list[str]:
        self.c.search(seed.HARD_OU, "(&(objectClass=user)(sAMAccountName=dk*))", attributes=["sAMAccountName"])
        return [e.entry_dn for e in self.c.entries]

    def add_user(self) -> None:
        self.n += 1
        sam = f"dk{self.rng.randrange(10**6)}"
        dn = f"CN={sam},{self.rng.choice([seed.HARD_OU])}"
        self.c.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": sam})
        self._ok()
        self.made_users.append(dn)

    def delete_user(self) -> None:
        if self.made_users:
            dn = self.made_users.pop(self.rng.randrange(len(self.made_users)))
            self.c.delete(dn)
            self._ok()

    def toggle(self) -> None:
        if self.made_users:
            dn = self.rng.choice(self.made_users)
            self.c.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [self.rng.choice([512, 514])])]})
            self._ok()

    def rename(self) -> None:
        if self.made_users:
            dn = self.rng.choice(self.made_users)
            self.c.modify(dn, {"sAMAccountName": [(ldap3.MODIFY_REPLACE, [f"dk{self.rng.randrange(10**6)}r"])]})
            self._ok()

    def move(self) -> None:
        """To another OU: the DN changes, and AD rewrites it in every group's member list
        without touching the groups' uSNChanged (the merge must do the same)."""
        if self.made_users:
            i = self.rng.randrange(len(self.made_users))
            dn = self.made_users[i]
            rdn, parent = dn.split(",", 1)
            target = self.rng.choice([o for o in [*OUS, seed.OUTSIDE_OU] if o != parent])
            self.c.modify_dn(dn, rdn, new_superior=target)
            self._ok()
            self.made_users[i] = f"{rdn},{target}"

    def membership(self) -> None:
        group = f"CN={self.rng.choice(NESTED)},{self._group_ou()}"
        members = self.made_users + self.made_groups
        if not members:
            return
        op = self.rng.choice([ldap3.MODIFY_ADD, ldap3.MODIFY_DELETE])
        self.c.modify(group, {"member": [(op, [self.rng.choice(members)])]})  # may be a no-op: ignore

    def _group_ou(self) -> str:
        return seed.USERS_CN

    def add_group(self) -> None:
        sam = f"dkg{self.rng.randrange(10**6)}"
        dn = f"CN={sam},{seed.HARD_OU}"
        attrs: dict[str, Any] = {"sAMAccountName": sam}
        if self.made_users:
            attrs["member"] = self.rng.sample(self.made_users, k=min(2, len(self.made_users)))
        self.c.add(dn, ["top", "group"], attrs)
        self._ok()
        self.made_groups.append(dn)
        parent = f"CN={self.rng.choice(NESTED)},{self._group_ou()}"
        self.c.modify(parent, {"member": [(ldap3.MODIFY_ADD, [dn])]})  # nested under a seed group

    def delete_group(self) -> None:
        if self.made_groups:
            dn = self.rng.choice(self.made_groups)
            if self.c.delete(dn):  # AD refuses while it is someone's primary group: then it stays
                self.made_groups.remove(dn)

    def primary_group(self) -> None:
        """A new user's primary group becomes one of the groups it is in."""
        if not self.made_users or not self.made_groups:
            return
        user, group = self.rng.choice(self.made_users), self.rng.choice(self.made_groups)
        self.c.modify(group, {"member": [(ldap3.MODIFY_ADD, [user])]})
        self.c.search(group, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectSid"])
        sid = next(e["raw_attributes"]["objectSid"][0] for e in self.c.response if e.get("type") == "searchResEntry")
        rid = int.from_bytes(sid[-4:], "little")
        self.c.modify(user, {"primaryGroupID": [(ldap3.MODIFY_REPLACE, [rid])]})

    def run(self, size: int) -> list[str]:
        ops: list[Callable[[], None]] = [
            self.add_user,
            self.add_user,
            self.delete_user,
            self.toggle,
            self.rename,
            self.move,
            self.membership,
            self.membership,
            self.add_group,
            self.delete_group,
            self.primary_group,
        ]
        done = []
        for _ in range(size):
            op = self.rng.choice(ops)
            op()
            done.append(op.__name__)
        return done


@pytest.mark.parametrize("scoped", [False, True], ids=["whole-domain", "scoped-ous"])
def test_delta_snapshots_equal_full_reads_after_random_batches(
    account_config: Any, ad_admin: ldap3.Connection, scoped: bool
) -> None:
    """scoped: users are read from CN=Users and OU=HardCases only, so a move to OU=Contractors
    leaves the scope (a removal) and a move back enters it."""
    cfg = _scoped(account_config) if scoped else account_config
    kit = Dirkit(cfg)
    first = kit.sync(allow_removals=True)
    assert first.stats["read_kind"] == "full"
    rng = random.Random(SEED)
    batch = Batch(ad_admin, rng)
    for n in range(BATCHES):
        ops = batch.run(rng.randint(1, 6))
        result = kit.sync(allow_removals=True)
        d = result.directory
        # Moves, primary groups, objects back in scope, deletions unseen: all deltas now.
        assert d.stats["read_kind"] == "delta", (n, ops, d.stats["read_why"])
        _assert_same(d, sync.read(cfg), f"seed {SEED}, batch {n} ({ops})")


def _scoped(cfg: Any) -> Any:
    from dirkit import _config as config

    data = cfg.model_dump(mode="json", exclude_none=True)
    data["directory"]["user_bases"] = OUS
    data.pop("source", None)
    return config.from_dict(data)


def _assert_same(d: Any, full: Any, where: str) -> None:
    """Everything a later delta builds on (DNs, member lists, SIDs) as well as what the plan compares."""
    if plan_digest(d) == plan_digest(full) and content_digest(d) == content_digest(full):
        return
    got = {u.name: d.group_names_of(u) for u in d.named_users()}
    want = {u.name: full.group_names_of(u) for u in full.named_users()}
    differ = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    groups = sorted({g.name for g in d.named_groups()} ^ {g.name for g in full.named_groups()})
    objects = {
        k: (d.users.get(k) or d.groups.get(k), full.users.get(k) or full.groups.get(k))
        for k in {*d.users, *d.groups, *full.users, *full.groups}
        if _content(d, k) != _content(full, k)
    }
    pytest.fail(f"{where}: delta != full read; users {differ}; groups {groups}; objects (delta, full) {objects}")


def _content(d: Any, guid: str) -> Any:
    if guid in d.users:
        u = d.users[guid]
        return (u.dn, u.sam, u.name, u.sid, u.upn, u.display_name, u.enabled, u.primary_group_sid)
    if guid in d.groups:
        g = d.groups[guid]
        return (g.dn, g.sam, g.name, g.sid, sorted(m.lower() for m in g.member_dns))
    return None


def test_a_sync_with_nothing_changed_makes_one_search(account_config: Any) -> None:
    kit = Dirkit(account_config)
    kit.sync(allow_removals=True)
    again = kit.sync()
    # The rootDSE's highestCommittedUSN equals the watermark's: nothing else is read or loaded.
    assert (again.stats["read_kind"], again.stats["changed_objects"], again.stats["ldap_searches"]) == ("delta", 0, 1)
    assert again.plan.empty and again.loaded is None
    assert again.directory.stats["users"] == kit.last_snapshot().stats["users"]  # loaded on demand


@pytest.mark.parametrize("granted", [True, False])
def test_the_probe_tells_no_right_from_no_tombstone(
    make_config: Any, lab: Lab, restore_ad: None, granted: bool
) -> None:
    """A freshly provisioned DC has no tombstone at all: an empty CN=Deleted Objects that the
    account may read is a yes."""
    from dirkit._directory import ldap
    from dirkit._directory.reader import Reader

    lab.tombstone_rights(granted)
    cfg = make_config(hdfs=None, output=None)
    with ldap.connection(cfg.ldap) as conn:
        assert Reader(cfg).tombstone_rights(conn) is granted


def test_without_tombstone_rights_deletions_and_scope_exits_are_deltas(
    make_config: Any, lab: Lab, restore_ad: None, ad_admin: ldap3.Connection
) -> None:
    lab.tombstone_rights(False)
    cfg = _scoped(make_config(hdfs=None, output=None))
    kit = Dirkit(cfg)
    kit.sync(allow_removals=True)
    victim, leaver = f"CN=dk-victim,{seed.HARD_OU}", f"CN=dk-leaver,{seed.HARD_OU}"
    for dn in (victim, leaver):
        assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": dn[3:12]})
        assert ad_admin.modify(f"CN=grp_analytics,{seed.USERS_CN}", {"member": [(ldap3.MODIFY_ADD, [dn])]})
    kit.sync(allow_removals=True)
    assert ad_admin.delete(victim)
    assert ad_admin.modify_dn(leaver, "CN=dk-leaver", new_superior=seed.OUTSIDE_OU)
    result = kit.sync(allow_removals=True)
    st = result.stats
    assert (st["read_kind"], st["tombstone_rights"]) == ("delta", False), st["read_why"]
    removed = {c.name: c.detail for c in result.plan.changes if c.kind == "user_removed"}
    assert set(removed) == {"dk-victim", "dk-leaver"}
    assert "out of the scope" in removed["dk-leaver"] and "deleted" in removed["dk-victim"]
    _assert_same(result.directory, sync.read(cfg), "deletion and scope exit without tombstone rights")


def test_sync_full_forces_a_full_read(admin_config: Any, tombstone: None) -> None:
    kit = Dirkit(admin_config)
    kit.sync(allow_removals=True)
    assert kit.sync(full=True).stats["read_why"] == "asked for (--full)"


def test_a_change_outside_the_scope_moves_the_watermark_and_loads_nothing(
    make_config: Any, ad_admin: ldap3.Connection, restore_ad: None
) -> None:
    """The DC's USN also moves for changes dirkit does not read (here the Configuration
    partition): four searches say nothing in scope changed, the snapshot is not loaded, and the
    watermark moves on, so the next run is one search again."""
    kit = Dirkit(make_config(hdfs=None, output=None))
    kit.sync(allow_removals=True)
    site = f"CN=Default-First-Site-Name,CN=Sites,CN=Configuration,{s.AD_BASE}"
    assert ad_admin.modify(site, {"description": [(ldap3.MODIFY_REPLACE, [f"dirkit test {random.random()}"])]})
    moved = kit.sync()
    assert (moved.stats["read_kind"], moved.stats["ldap_searches"], moved.loaded) == ("delta", 4, None)
    assert kit.sync().stats["ldap_searches"] == 1
