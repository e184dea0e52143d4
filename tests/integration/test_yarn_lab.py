"""Issue 36 on the lab: dirkit's queue placement checked with YARN's own placement code. A
ResourceManager (Hadoop 3.4.2 from Maven Central, CapacityScheduler) initialised from the
capacity-scheduler.xml and core-site.xml dirkit renders (its LdapGroupsMapping against the lab's
AD) places an application of every lab user, hostile names included, in the queue `dirkit emr
explain` says; the mappings YARN resolves differently from AD's view are the ones dirkit warns
about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dirkit import Dirkit
from dirkit._config import ad_site
from dirkit._outputs import documents, hadoop, yarn
from dirkit_lab import java
from dirkit_lab.settings import LabPaths

pytestmark = pytest.mark.lab

YARN = {
    "queues": {
        "root.default": 10,
        "root.tenants": 90,
        "root.tenants.admins": 10,
        "root.tenants.engineering": 40,
        "root.tenants.science": 30,
        "root.tenants.odd": 20,
    },
    "mappings": [
        {"queue": "root.tenants.admins", "users": ["admin1"]},
        # pgiduser1 is in it through primaryGroupID only: SSSD says so, LdapGroupsMapping does not.
        {"queue": "root.tenants.engineering", "groups": ["grp_data_engineering"]},
        {"queue": "root.tenants.science", "groups": ["grp_analytics"]},  # datascientist1, nested
        {"queue": "root.tenants.science", "groups": ["grp_data_science"]},  # shadowed by grp_analytics
        {"queue": "root.tenants.odd", "groups": ["grp odd name", "grp_cycle_a"]},  # a space; a cycle
        {"queue": "root.tenants.odd", "users": ["odd%pct", "odd#hash"]},
    ],
}


def test_yarn_places_every_lab_user_where_dirkit_says(
    make_config: Any, lab_status: dict[str, Any], tmp_path: Path
) -> None:
    cfg = make_config(yarn=YARN)
    kit = Dirkit(cfg)
    d = kit.read()
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text(hadoop.render_xml(cfg.hadoop, ad_site(cfg), d))
    (conf / "capacity-scheduler.xml").write_text(kit.yarn_config().text)
    users = [u.name for u in d.named_users() if u.name]
    assert {"admin1", "pgiduser1", "odd space", "odd#hash", "odd%pct", "mixed.case", "disabled1"} <= set(users)
    got = java.yarn_placements(LabPaths(Path(lab_status["lab_dir"])), conf, users)

    ours = {name: kit.placement(name, directory=d) for name in users}
    assert {n: q for n, (q, _) in got.items()} == {n: p.queue for n, p in ours.items()}
    # Each rule decided for someone, as dirkit explains it (not everyone landed in the default).
    decided = {p.mapping_index for p in ours.values()}
    assert {0, 1, 2, 4, 5, None} <= decided and 3 not in decided
    assert ours["pgiduser1"].queue == "root.default"  # YARN does not see grp_data_engineering for them
    assert ours["disabled1"].queue == "root.default"  # no groups: the user search skips the account

    # What dirkit warned about is what YARN did: pgiduser1 is not placed by grp_data_engineering's
    # rule, and grp_data_science's rule never decides.
    warnings = documents.find("capacity-scheduler", "xml").render(cfg, d).warnings
    (primary_only,) = [w for w in warnings if w.startswith("yarn.mappings[1]")]
    assert "pgiduser1" in primary_only and "not in it for YARN" in primary_only
    assert any(w.startswith("yarn.mappings[3]") and "never decides" in w for w in warnings), warnings

    # %primary_group, as the ResourceManager has it, is the first group its group mapping
    # returns: never AD's primary group (Domain Users for most, grp_data_engineering for
    # pgiduser1: member/memberOf never list it), and no Builtin group (the rendered group filter
    # leaves them out, as SSSD does).
    rm_groups = yarn.resourcemanager_groups(cfg, d)[0]
    primary = {g.sid: g.name for g in d.groups.values()}
    for name, (_, first) in got.items():
        u = d.user_by_name(name)
        assert u is not None
        expected = rm_groups.get(u.guid, [])
        assert (first is None) == (not expected), name
        if first is not None:
            assert first in expected and first != primary.get(u.primary_group_sid or ""), (name, first)
