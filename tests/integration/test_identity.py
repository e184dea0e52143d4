"""Identity changes followed by a delta read (issue 20, item 4), each on the real DC as the
README's sync account (svc-dirkit: Kerberos, allowed to read tombstones): the delta's snapshot
must equal a fresh full read's, and the plan must say what happened to whom. Runs against the
native lab and the container lab."""

from __future__ import annotations

from typing import Any

import ldap3
import pytest

from dirkit import Dirkit
from dirkit import _sync as sync
from dirkit._homes.webhdfs import WebHdfs
from dirkit._plan import content_digest, plan_digest
from dirkit_lab import seed

GROUPS = seed.USERS_CN


def _user(conn: ldap3.Connection, sam: str, ou: str = seed.HARD_OU, *groups: str) -> str:
    dn = f"CN={sam},{ou}"
    assert conn.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": sam}), conn.result
    assert conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]}), conn.result
    for g in groups:
        assert conn.modify(f"CN={g},{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [dn])]}), conn.result
    return dn


@pytest.fixture
def kit(make_config: Any, restore_ad: None) -> Dirkit:
    cfg = make_config(hdfs=None, output=None, directory={"user_bases": [seed.USERS_CN, seed.HARD_OU]})
    k = Dirkit(cfg)
    k.sync(allow_removals=True)
    return k


def _delta(k: Dirkit) -> Any:
    """Sync (a delta, nothing else) and check it against a full read of the same moment."""
    result = k.sync(allow_removals=True)
    assert result.stats["read_kind"] == "delta", result.stats["read_why"]
    d, full = result.directory, sync.read(k.config)
    assert (plan_digest(d), content_digest(d)) == (plan_digest(full), content_digest(full))
    return result


def _changes(result: Any) -> set[tuple[str, str, str]]:
    return {(c.kind, c.name, c.detail) for c in result.plan.changes}


def test_a_renamed_user_is_renamed(kit: Dirkit, ad_admin: ldap3.Connection) -> None:
    dn = _user(ad_admin, "dk-ren", seed.HARD_OU, "grp_analytics")
    _delta(kit)
    assert ad_admin.modify(dn, {"sAMAccountName": [(ldap3.MODIFY_REPLACE, ["dk-renamed"])]})
    result = _delta(kit)
    assert ("user_renamed", "dk-renamed", "was dk-ren") in _changes(result)
    assert not [c for c in result.plan.changes if c.kind in ("user_added", "user_removed")]


def test_a_renamed_group_is_renamed_and_keeps_its_members(kit: Dirkit, ad_admin: ldap3.Connection) -> None:
    _user(ad_admin, "dk-member", seed.HARD_OU, "grp_data_science")
    _delta(kit)
    assert ad_admin.modify(
        f"CN=grp_data_science,{GROUPS}", {"sAMAccountName": [(ldap3.MODIFY_REPLACE, ["grp_renamed"])]}
    )
    result = _delta(kit)
    assert ("group_renamed", "grp_renamed", "was grp_data_science") in _changes(result)
    member = result.directory.user_by_name("dk-member")
    assert member is not None and "grp_renamed" in result.directory.group_names_of(member)


def test_a_user_moved_out_of_the_scope_and_back_is_the_same_user(kit: Dirkit, ad_admin: ldap3.Connection) -> None:
    dn = _user(ad_admin, "dk-mover", seed.HARD_OU, "grp_analytics")
    before = _delta(kit).directory.user_by_name("dk-mover")
    assert before is not None
    assert ad_admin.modify_dn(dn, "CN=dk-mover", new_superior=seed.OUTSIDE_OU)
    out = _delta(kit)
    [removed] = [c for c in out.plan.changes if c.kind == "user_removed"]
    assert removed.guid == before.guid and removed.detail.startswith("moved out of the scope (to CN=dk-mover,")
    assert ad_admin.modify_dn(f"CN=dk-mover,{seed.OUTSIDE_OU}", "CN=dk-mover", new_superior=seed.HARD_OU)
    back = _delta(kit)
    [added] = [c for c in back.plan.changes if c.kind == "user_added"]
    assert added.guid == before.guid and "same objectGUID" in added.detail
    again = back.directory.user_by_name("dk-mover")
    assert again is not None and "grp_analytics" in back.directory.group_names_of(again)


def test_a_group_taken_out_of_a_nesting_chain_shrinks_every_members_groups(
    kit: Dirkit, ad_admin: ldap3.Connection
) -> None:
    # datascientist1 -> grp_data_science -> grp_analytics: cut the chain in the middle.
    science = f"CN=grp_data_science,{GROUPS}"
    assert ad_admin.modify(f"CN=grp_analytics,{GROUPS}", {"member": [(ldap3.MODIFY_DELETE, [science])]})
    result = _delta(kit)
    assert ("membership_removed", "datascientist1", "grp_analytics") in _changes(result)
    ds = result.directory.user_by_name("datascientist1")
    assert ds is not None and "grp_analytics" not in result.directory.group_names_of(ds)


def test_a_changed_primary_group_is_a_delta(kit: Dirkit, ad_admin: ldap3.Connection) -> None:
    dn = _user(ad_admin, "dk-primary", seed.HARD_OU, "grp_data_engineering")
    _delta(kit)
    ad_admin.search(f"CN=grp_data_engineering,{GROUPS}", "(objectClass=*)", ldap3.BASE, attributes=["objectSid"])
    rid = int.from_bytes(ad_admin.response[0]["raw_attributes"]["objectSid"][0][-4:], "little")
    assert ad_admin.modify(dn, {"primaryGroupID": [(ldap3.MODIFY_REPLACE, [rid])]}), ad_admin.result
    result = _delta(kit)
    # Both groups' member lists change (the primary group leaves `member`, Domain Users gets the
    # user); when AD does not mark them changed, they are read again: equal to the full read above.
    u = result.directory.user_by_name("dk-primary")
    assert u is not None and {"grp_data_engineering", "domain users"} <= set(result.directory.group_names_of(u))


def test_a_user_deleted_and_another_created_with_the_same_name_are_two_people(
    kit: Dirkit, ad_admin: ldap3.Connection
) -> None:
    dn = _user(ad_admin, "dk-reused", seed.HARD_OU, "grp_analytics")
    old = _delta(kit).directory.user_by_name("dk-reused")
    assert old is not None and ad_admin.delete(dn)
    _user(ad_admin, "dk-reused")
    result = _delta(kit)
    kinds = {(c.kind, c.guid) for c in result.plan.changes if c.name == "dk-reused"}
    new = result.directory.user_by_name("dk-reused")
    assert new is not None and new.guid != old.guid
    assert {("user_removed", old.guid), ("user_added", new.guid)} <= kinds
    assert "grp_analytics" not in result.directory.group_names_of(new)  # the groups were the other person's


def test_a_renamed_users_home_is_renamed_with_its_content(
    make_config: Any, restore_ad: None, ad_admin: ldap3.Connection, hdfs_scratch: str, superfs: WebHdfs
) -> None:
    """Admins expect the data to follow the person: the home is renamed (WebHDFS RENAME) and
    handed to the new name, not left behind while an empty new one is made."""
    prefix = f"{hdfs_scratch}/user"
    superfs.mkdirs(prefix, "755")
    k = Dirkit(make_config(output=None, hdfs={"prefix": prefix}))
    dn = _user(ad_admin, "dk-home")
    k.sync(allow_removals=True)
    superfs.mkdirs(f"{prefix}/dk-home/project", "750")
    assert ad_admin.modify(dn, {"sAMAccountName": [(ldap3.MODIFY_REPLACE, ["dk-home2"])]})
    result = k.sync(allow_removals=True)
    assert result.homes is not None
    assert [a.kind for a in result.homes.done if a.user == "dk-home2"] == ["rename"]
    assert superfs.status(f"{prefix}/dk-home") is None
    moved = superfs.status(f"{prefix}/dk-home2")
    assert moved is not None and moved.owner == "dk-home2"
    assert superfs.status(f"{prefix}/dk-home2/project") is not None  # the content came along
    assert k.sync().homes is not None and not k.sync().homes.plan.actions  # converged
