"""YARN queue placement (issue 36): the [yarn] hierarchy checked as CapacityScheduler checks it,
the rendered capacity-scheduler settings, where each user lands and why, and the warnings for
mappings that YARN would resolve differently from AD's view."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from seed_fixture import BASE, _g, _u, seed_config, seed_directory

from dirkit._config import reserved_names
from dirkit._directory.build import build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._outputs import documents, hadoop, yarn
from dirkit.errors import ConfigError

QUEUES = {"root.default": 20, "root.tenants": 80, "root.tenants.eng": 60, "root.tenants.sci": 40}


def _yarn(**over: Any) -> dict[str, Any]:
    return {"queues": QUEUES, **over}


def _directory() -> Directory:
    # In grp_eng only through primaryGroupID: SSSD sees it, LdapGroupsMapping does not.
    pgid = replace(_u("pgiduser1", 1105), primary_group_id=1200)
    users = [_u("dataeng1", 1101), _u("datasci1", 1102), _u("admin1", 1103), _u("Mixed.Case", 1104), pgid]
    groups = [
        _g("Domain Users", 513),
        _g("grp_eng", 1200, "dataeng1"),
        _g("grp_sci", 1201, "datasci1", "admin1"),
        _g("grp_all", 1202, "grp_eng", "grp_sci"),
        _g("supergroup", 1203, "dataeng1"),
    ]
    return build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])


@pytest.mark.parametrize(
    ("yarn_section", "message"),
    [
        ({"queues": {"root.a": 60, "root.b": 30}}, "children of root (root.a, root.b) have capacities summing to 90"),
        ({"queues": {"root.a.x": 100, "root.default": 100}}, "'root.a.x' has no parent queue 'root.a'"),
        (_yarn(default_queue="root.tenants"), "default_queue: 'root.tenants' has child queues"),
        (
            _yarn(mappings=[{"queue": "root.nope", "users": ["a"]}]),
            "mappings[0].queue: 'root.nope' is not in yarn.queues",
        ),
        (
            _yarn(mappings=[{"queue": "root.default", "users": ["a"], "groups": ["g"]}]),
            "exactly one of users or groups",
        ),
        (_yarn(mappings=[{"queue": "root.default", "groups": ["a,b"]}]), "cannot be written in"),
        (_yarn(mappings=[{"queue": "root.default", "groups": ["%primary_group"]}]), "no leading '%'"),
        ({"queues": {"root.a b": 100}}, "yarn.queues"),
    ],
)
def test_a_hierarchy_capacityscheduler_refuses_is_refused_naming_the_key(
    yarn_section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        seed_config(yarn=yarn_section)
    assert "yarn" in str(exc.value) and message in str(exc.value), str(exc.value)


def test_the_rendered_settings_are_the_hierarchy_and_the_rules_in_order() -> None:
    cfg = seed_config(
        yarn=_yarn(
            mappings=[
                {"queue": "root.tenants.eng", "users": ["admin1"]},
                {"queue": "root.tenants.sci", "groups": ["grp_sci", "grp_all"]},
            ]
        )
    )
    assert cfg.yarn is not None
    props = yarn.properties(cfg.yarn)
    assert props == {
        "yarn.scheduler.capacity.root.queues": "default,tenants",
        "yarn.scheduler.capacity.root.tenants.queues": "eng,sci",
        "yarn.scheduler.capacity.root.default.capacity": "20",
        "yarn.scheduler.capacity.root.tenants.capacity": "80",
        "yarn.scheduler.capacity.root.tenants.eng.capacity": "60",
        "yarn.scheduler.capacity.root.tenants.sci.capacity": "40",
        "yarn.scheduler.capacity.queue-mappings": "u:admin1:root.tenants.eng,g:grp_sci:root.tenants.sci,"
        "g:grp_all:root.tenants.sci,u:%user:root.default",
        "yarn.scheduler.capacity.queue-mappings-override.enable": "true",
    }
    (classification,) = yarn.render_classification(cfg.yarn)
    assert classification == {"Classification": "capacity-scheduler", "Properties": props}
    xml = documents.find("capacity-scheduler", "xml").render(cfg, None).text
    assert "<name>yarn.scheduler.capacity.queue-mappings</name>" in xml and "u:%user:root.default" in xml


def test_each_user_lands_where_the_first_matching_rule_says() -> None:
    cfg = seed_config(
        yarn=_yarn(
            mappings=[
                {"queue": "root.tenants.eng", "users": ["admin1"]},
                {"queue": "root.tenants.sci", "groups": ["grp_sci"]},
                {"queue": "root.tenants.eng", "groups": ["grp_all"]},
            ]
        )
    )
    assert cfg.yarn is not None
    admin = yarn.place(cfg.yarn, "admin1", ["grp_sci", "grp_all"])
    assert (admin.queue, admin.mapping_index, admin.rule) == ("root.tenants.eng", 0, "u:admin1:root.tenants.eng")
    sci = yarn.place(cfg.yarn, "datasci1", ["grp_sci", "grp_all"])
    assert (sci.queue, sci.mapping_index, sci.reason) == (
        "root.tenants.sci",
        1,
        "yarn.mappings[1]: user is in group 'grp_sci'",
    )
    nobody = yarn.place(cfg.yarn, "stranger", [])
    assert (nobody.queue, nobody.mapping_index, nobody.rule) == ("root.default", None, "u:%user:root.default")


def test_mappings_yarn_resolves_differently_are_warned_about() -> None:
    d = _directory()
    cfg = seed_config(
        yarn=_yarn(
            mappings=[
                {"queue": "root.tenants.eng", "groups": ["grp_eng"]},  # pgiduser1: primary group only
                {"queue": "root.tenants.sci", "groups": ["grp_all"]},
                {"queue": "root.tenants.sci", "groups": ["grp_sci"]},  # shadowed by grp_all
                {"queue": "root.tenants.eng", "users": ["Mixed.Case"]},  # mixed.case on the cluster
                {"queue": "root.tenants.eng", "groups": ["grp_gone"]},  # not in AD
                {"queue": "root.tenants.eng", "groups": ["supergroup"]},  # a reserved name
            ]
        )
    )
    assert cfg.yarn is not None and cfg.hadoop is not None
    reserved = reserved_names(cfg)
    groups, source = yarn.resourcemanager_groups(cfg, d)
    assert "LdapGroupsMapping" in source
    mapped = {n for m in cfg.yarn.mappings if m.kind == "group" for n in m.names}
    sees, _ = yarn.resourcemanager_members(cfg, d, mapped)
    policy = NamePolicy(cfg.names, cfg.directory.realm, reserved)
    found = yarn.warnings(cfg.yarn, d, policy, reserved, sees, source)
    by_index = {int(w.split("]")[0].split("[")[1]): w for w in found}
    assert set(by_index) == {0, 1, 2, 3, 4, 5}, found
    assert "1 member(s) of 'grp_eng' in AD are not in it for YARN" in by_index[0] and "pgiduser1" in by_index[0]
    assert "of 'grp_all'" in by_index[1] and "pgiduser1" in by_index[1]  # nested through grp_eng
    assert "never decides" in by_index[2]
    assert "'Mixed.Case' is 'mixed.case' on the cluster" in by_index[3]
    assert "'grp_gone' is not in the AD snapshot" in by_index[4]
    assert "'supergroup' is a reserved name" in by_index[5]
    # YARN's own answer for pgiduser1 (checked on the lab with Hadoop's placement code): the
    # default, not grp_eng's queue; dirkit's explanation says so.
    pgid = d.user_by_name("pgiduser1")
    assert pgid is not None and "grp_eng" in d.group_names_of(pgid)
    assert yarn.place(cfg.yarn, "pgiduser1", groups[pgid.guid]).queue == "root.default"
    # The document carries the same warnings, from a snapshot.
    doc = documents.find("capacity-scheduler", "classification").render(cfg, d)
    assert doc.warnings == tuple(found)


def test_without_hadoop_the_resourcemanager_groups_are_the_nodes_sssd_view() -> None:
    d = _directory()
    data = seed_config(yarn=_yarn()).model_dump(exclude_none=True, exclude={"source"})
    data.pop("hadoop", None)
    from dirkit._config import from_dict

    cfg = from_dict(data)
    groups, source = yarn.resourcemanager_groups(cfg, d)
    assert "SSSD" in source
    pgid = d.user_by_name("pgiduser1")
    assert pgid is not None and "grp_eng" in groups[pgid.guid]  # SSSD returns the primary group
    assert "grp_eng" not in hadoop.mapping_groups(d)[pgid.guid]


def test_the_mapped_groups_members_walked_down_are_every_users_groups_inverted() -> None:
    # The warnings look at the mapped groups only (a subtree walk each, and one look at each
    # shared effective map): the same sets as computing every user's groups and inverting them.
    from dirkit._outputs.yarn import _enabled_members

    for d in (_directory(), seed_directory()):
        names = {g.name for g in d.groups.values() if g.name}
        for hadoop_section in ({}, {"group_lookup": "memberof"}, {"hide_disabled_users": False}):
            cfg = seed_config(yarn=_yarn(), hadoop=hadoop_section)
            per_user, _ = yarn.resourcemanager_groups(cfg, d)
            inverted = {n: {u.name for u in d.named_users() if n in per_user.get(u.guid, ())} for n in names}
            assert yarn.resourcemanager_members(cfg, d, names)[0] == inverted, hadoop_section
            for u in d.named_users():  # one user's groups (`emr explain`), the same
                assert sorted(yarn.resourcemanager_groups_of(cfg, d, u)) == sorted(per_user.get(u.guid, [])), u.name
        in_ad = {n: {u.name for u in d.named_users() if u.enabled and n in d.group_names_of(u)} for n in names}
        assert _enabled_members(d, names) == in_ad
