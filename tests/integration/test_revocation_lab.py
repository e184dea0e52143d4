"""Issue 34, item 2, on the lab: a run that takes a user out of a group, or finds a user disabled,
tells the cluster's caches at once. The NameNode (LdapGroupsMapping as dirkit renders it) keeps a
user's groups for hadoop.security.groups.cache.secs, the node's SSSD for entry_cache_timeout (90
minutes), so the stale answers are shown first; then a sync whose [revocation] runs Hadoop's own
DFSAdmin (-refreshUserToGroupsMappings, as the NameNode's superuser with a ticket from its keytab)
and `sss_cache` on the node: the NameNode's and the node's answers change."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import ldap3
import pytest

from dirkit import Dirkit
from dirkit_lab import Lab, host, namenode, seed, sssd

USER, GROUP = "rangeuser12", "grp_data_science"
# The goal for (b) and (c): the NameNode's and the node's answers, from the change in AD.
GOAL_SECONDS = 15


def _groups(paths: Any, user: str) -> set[str]:
    r = sssd.query(paths, "id", "-Gn", user)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.fixture
def revoking(make_config: Any, lab_status: dict[str, Any], tmp_path: Path) -> Dirkit:
    """A Dirkit whose [revocation] refreshes the lab NameNode's groups cache and the node's SSSD."""
    paths = Lab().paths
    dfsadmin = tmp_path / "hdfs-dfsadmin"  # what `hdfs dfsadmin` is on a cluster node
    argv = " ".join(f"'{a}'" for a in namenode.admin_command(paths))
    dfsadmin.write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    dfsadmin.chmod(dfsadmin.stat().st_mode | stat.S_IXUSR)
    base = make_config()
    assert base.verify is not None and base.verify.node_command is not None
    revocation = {
        "refresh_commands": [[str(dfsadmin), "-refreshUserToGroupsMappings"]],
        "principal": lab_status["principals"]["nn"],
        "keytab": lab_status["keytabs"]["nn-localhost"],
        "node_commands": [base.verify.node_command],
        "timeout_seconds": 120,
    }
    return Dirkit(make_config(revocation=revocation, hdfs=None, output=None))


def test_a_group_removal_refreshes_the_namenode_and_the_nodes_cache(
    revoking: Dirkit, ad_admin: ldap3.Connection, restore_ad: None
) -> None:
    kit, paths = revoking, Lab().paths
    user_dn, group_dn = f"CN={USER},{seed.HARD_OU}", f"CN={GROUP},{seed.USERS_CN}"
    assert ad_admin.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, [user_dn])]}), ad_admin.result
    kit.sync()
    host.wait_until(lambda: GROUP in _groups(paths, USER), 120, f"the node to see {USER} in {GROUP}", 1)
    assert GROUP in namenode.groups(paths, USER, refresh=True)[USER]  # now in the NameNode's cache

    assert ad_admin.modify(group_dn, {"member": [(ldap3.MODIFY_DELETE, [user_dn])]}), ad_admin.result
    assert GROUP in _groups(paths, USER)  # the node's cache still says so: what the actions are for
    assert GROUP in namenode.groups(paths, USER)[USER]  # and the NameNode's
    log = paths.logs / "namenode.log"
    before = log.stat().st_size
    r = kit.sync()
    assert ("membership_removed", USER, GROUP) in {(c.kind, c.name, c.detail) for c in r.plan.changes}
    done = {a.action: a for a in r.revocation}
    assert done["refresh"].ok, done["refresh"].error
    assert done["node_cache"].ok, done["node_cache"].error
    with log.open("rb") as f:
        f.seek(before)
        assert b"Refreshing all user-to-groups mappings. Requested by user: nn" in f.read()
    assert GROUP not in _groups(paths, USER)
    assert GROUP not in namenode.groups(paths, USER)[USER]
    record = kit.history(1)[0].details
    assert record.revocation is not None and {a.action for a in record.revocation} == {"refresh", "node_cache"}


def test_a_disabled_user_has_no_groups_on_the_namenode_or_the_node_within_the_goal(
    revoking: Dirkit, lab: Any, ad_admin: ldap3.Connection, restore_ad: None
) -> None:
    """The Done-when of issue 34: with the group mapping and the SSSD settings dirkit renders
    (disabled accounts left out of both user searches), a user disabled in AD has no groups on
    the NameNode and is unknown to the node once a run applied it, well within the goal."""
    kit, paths = revoking, lab.paths
    user, group = "rangeuser13", "grp_ranged"
    block = kit.sssd_config().text
    lab.start_sssd("\n".join(ln for ln in block.splitlines() if ln and not ln.startswith(("#", "["))) + "\n")
    try:
        kit.sync()
        assert group in namenode.groups(paths, user, refresh=True)[user]  # now in the NameNode's cache
        assert group in _groups(paths, user)  # and in the node's
        t0 = time.monotonic()
        dn = f"CN={user},{seed.HARD_OU}"
        assert ad_admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
        # What the caches still say: the reason for the actions.
        assert group in namenode.groups(paths, user)[user]
        assert group in _groups(paths, user)
        r = kit.sync()
        assert ("user_disabled", user) in {(c.kind, c.name) for c in r.plan.changes}
        done = {a.action: a for a in r.revocation}
        assert done["refresh"].ok and done["node_cache"].ok, (done["refresh"].error, done["node_cache"].error)
        assert namenode.groups(paths, user)[user] == []  # Hadoop's user search skips the disabled account
        gone = sssd.query(paths, "id", "--", user)
        assert gone.returncode != 0 and "no such user" in gone.stderr, gone
        elapsed = time.monotonic() - t0
        assert elapsed <= GOAL_SECONDS, f"{elapsed:.1f}s from the disable to both answers"
    finally:
        lab.start_sssd()


def test_lock_on_disable_locks_the_home_at_once_and_gives_it_back_on_enable(
    make_config: Any, ad_admin: ldap3.Connection, restore_ad: None, hdfs_scratch: str, superfs: Any
) -> None:
    """hdfs.lock_on_disable (issue 34, item 2) on the real NameNode: the run that finds a user
    disabled sets their home to mode 0, so a session they opened before (its SPNEGO cookie
    still valid) is refused; enabled again, the next run gives the home its mode back."""
    from dirkit import _kerberos as kerberos
    from dirkit._homes.webhdfs import WebHdfs
    from dirkit.errors import HdfsError
    from dirkit_lab import settings as s

    prefix = f"{hdfs_scratch}/user"
    superfs.mkdirs(prefix, "755")
    kit = Dirkit(make_config(hdfs={"prefix": prefix, "lock_on_disable": True}, output=None))
    user, dn = "datascientist1", f"CN=datascientist1,{seed.USERS_CN}"
    kit.sync()
    home = f"{prefix}/{user}"
    creds = kerberos.password_credentials(f"{user}@{s.AD_REALM}", s.USER_PASSWORD)
    with WebHdfs(namenode.webhdfs_url(), creds, pool_size=1) as fs:
        assert fs.list(home) == []  # their own home, through the trust
        assert ad_admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
        r = kit.sync()
        assert r.homes is not None and [(a.kind, a.path) for a in r.homes.done] == [("lock", home)]
        status = superfs.status(home)
        assert status is not None and status.permission == "0"
        with pytest.raises(HdfsError, match="403.*Permission denied"):
            fs.list(home)  # the same session: refused now
    assert ad_admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]}), ad_admin.result
    r = kit.sync()
    assert r.homes is not None and [(a.kind, a.path) for a in r.homes.done] == [("fix_mode", home)]
    status = superfs.status(home)
    assert status is not None and (status.owner, status.permission) == (user, "750")
