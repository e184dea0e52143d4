"""Issue 34, item 2, on the lab: a run that takes a user out of a group tells the cluster's caches
at once. The node's SSSD answers from its cache until told (entry_cache_timeout is 90 minutes),
so the stale answer is shown first; then a sync whose [revocation] runs Hadoop's own DFSAdmin
(-refreshUserToGroupsMappings, as the NameNode's superuser with a ticket from its keytab) and
`sss_cache` on the node: the NameNode logs the refresh, the node's `id` drops the group."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import ldap3

from dirkit import Dirkit
from dirkit_lab import Lab, host, namenode, seed, sssd

USER, GROUP = "rangeuser12", "grp_data_science"


def _groups(paths: Any, user: str) -> set[str]:
    r = sssd.query(paths, "id", "-Gn", user)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_a_group_removal_refreshes_the_namenode_and_the_nodes_cache(
    make_config: Any, lab_status: dict[str, Any], ad_admin: ldap3.Connection, restore_ad: None, tmp_path: Path
) -> None:
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
    kit = Dirkit(make_config(revocation=revocation, hdfs=None, output=None))
    user_dn, group_dn = f"CN={USER},{seed.HARD_OU}", f"CN={GROUP},{seed.USERS_CN}"
    assert ad_admin.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, [user_dn])]}), ad_admin.result
    kit.sync()
    host.wait_until(lambda: GROUP in _groups(paths, USER), 120, f"the node to see {USER} in {GROUP}", 1)

    assert ad_admin.modify(group_dn, {"member": [(ldap3.MODIFY_DELETE, [user_dn])]}), ad_admin.result
    assert GROUP in _groups(paths, USER)  # the node's cache still says so: what the actions are for
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
    record = kit.history(1)[0].details
    assert record.revocation is not None and {a.action for a in record.revocation} == {"refresh", "node_cache"}
