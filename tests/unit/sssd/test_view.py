"""The cluster's view predicted from a snapshot (issue 23): names, ids, and the groups SSSD's
defaults cannot resolve (a contact or a foreign security principal among the members)."""

from __future__ import annotations

from pathlib import Path

from seed_fixture import BASE, DOM, _g, _u, seed_config

from dirkit._config import SssdConfig, VerifyUser
from dirkit._directory.build import RawGroup, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._sssd.idmap import unix_id
from dirkit._sssd.view import parse_id, predict

FSP = f"CN=S-1-5-21-99-98-97-1150,CN=ForeignSecurityPrincipals,{BASE}"
CONTACT = f"CN=ext-contact1,CN=Users,{BASE}"


def _lab_like() -> Directory:
    users = [_u("Admin1", 1100), _u("dataeng1", 1101)]
    mixed = _g("grp_mixed", 1300, "Admin1")
    mixed = RawGroup(mixed.guid, mixed.dn, mixed.sam, mixed.sid, mixed.usn, (*mixed.members, CONTACT, FSP))
    groups = [_g("Domain Users", 513), _g("grp_data_engineering", 1200, "dataeng1"), mixed]
    return build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])


def test_defaults_leave_a_group_with_a_contact_or_foreign_member_unresolved() -> None:
    d = _lab_like()
    view = predict(d, SssdConfig(), "AD.DIRKIT.TEST")
    admin = view.users["guid-Admin1"]
    assert admin.name == "admin1" and admin.uid == unix_id(f"{DOM}-1100")
    assert admin.gid == unix_id(f"{DOM}-513")  # Domain Users, the primary group
    by_guid = {g.guid: g for g in admin.groups}
    mixed = by_guid["guid-grp_mixed"]
    assert not mixed.resolved and mixed.name == f"{DOM}-1300".lower()  # `id` shows the SID
    assert by_guid["guid-Domain Users"].resolved and by_guid["guid-Domain Users"].name == "domain users"
    assert not view.users["guid-dataeng1"].unresolved  # not in grp_mixed: AD's view, exactly
    assert set(view.unreadable["guid-grp_mixed"]) == {CONTACT, FSP}
    (warning,) = view.group_warnings(d)
    assert "grp_mixed" in warning and "ldap_ignore_unreadable_references = true" in warning


def test_the_fix_and_the_name_settings_are_honoured() -> None:
    d = _lab_like()
    fixed = predict(d, SssdConfig(ignore_unreadable_references=True), "AD.DIRKIT.TEST")
    assert not any(u.unresolved for u in fixed.users.values()) and fixed.group_warnings(d) == []
    fq = predict(d, SssdConfig(use_fully_qualified_names=True, case_sensitive=True), "AD.DIRKIT.TEST")
    assert fq.users["guid-Admin1"].name == "Admin1@ad.dirkit.test"


def test_a_member_outside_the_scope_is_not_taken_for_unreadable() -> None:
    # SSSD searches the whole domain: a user outside dirkit's bases is a user to it.
    outsider = f"CN=outsider1,OU=Elsewhere,{BASE}"
    g = _g("grp_wide", 1400, "dataeng1")
    g = RawGroup(g.guid, g.dn, g.sam, g.sid, g.usn, (*g.members, outsider))
    d = build([_u("dataeng1", 1101)], [g], NamePolicy(realm="AD.DIRKIT.TEST"), [f"CN=Users,{BASE}"])
    assert predict(d, seed_config().sssd, "AD.DIRKIT.TEST").unreadable == {}


def test_verifys_node_check_compares_a_nodes_id_with_the_prediction(tmp_path: Path) -> None:
    # The node is a stand-in here (a script printing `id`'s answer); tests/integration/test_sssd.py
    # and test_verify.py run the real SSSD.
    from dirkit._verify.checks import node, subject

    d = _lab_like()
    script = tmp_path / "node"
    cfg = seed_config(verify={"service_principal": "HTTP/x@EMR.DIRKIT.TEST", "node_command": [str(script)]})
    nu = predict(d, None, "AD.DIRKIT.TEST").users["guid-Admin1"]
    right = f"uid={nu.uid}(admin1) gid={nu.gid}(domain users) groups=" + ",".join(
        f"{g.gid}({g.name})" for g in nu.groups
    )
    ident = VerifyUser(name="admin1", password="env:X")
    for answer, status, words in (
        (right, "pass", "as predicted; 1 group(s) shown as SIDs"),
        (right.replace(f"{nu.uid}(", f"{nu.uid + 1}("), "fail", f"uid {nu.uid + 1}, predicted {nu.uid}"),
    ):
        script.write_text(f"#!/bin/sh\necho '{answer}'\n")
        script.chmod(0o755)
        with subject(cfg, d, ident) as user:
            check = node(user, None)
        assert (check.status, words in check.detail) == (status, True), check.detail


def test_an_id_answer_is_parsed_as_id_prints_it() -> None:
    assert parse_id("uid=1(a b) gid=2(domain users) groups=2(domain users),3(s-1-5-21-1-2-3-4)") == (
        1,
        2,
        {2: "domain users", 3: "s-1-5-21-1-2-3-4"},
    )
    assert parse_id("id: 'x': no such user") is None


def test_id_mapping_collisions_and_rids_beyond_the_range_are_reported() -> None:
    d = _lab_like()
    assert predict(d, None, "AD.DIRKIT.TEST").id_notes == ()  # one domain, small RIDs
    # 13 slices: the domain's and the foreign member's domain hash to the same one.
    thirteen = SssdConfig(idmap_range_min=200000, idmap_range_max=200000 + 13 * 200000, idmap_range_size=200000)
    (collision,) = predict(d, thirteen, "AD.DIRKIT.TEST").id_notes
    assert f"domains {DOM} and S-1-5-21-99-98-97 hash to the same slice" in collision
    small = SssdConfig(idmap_range_min=1000, idmap_range_max=101000, idmap_range_size=1000)
    (beyond,) = [n for n in predict(d, small, "AD.DIRKIT.TEST").id_notes if "RID at or beyond" in n]
    assert "4 object(s)" in beyond  # RIDs 1100, 1101, 1200, 1300 >= 1000; 513 is not


def test_reserved_names_are_filtered_on_the_nodes_by_the_rendered_block() -> None:
    # Issue 30, item 4: an AD user `hdfs` and group `supergroup` are what SSSD would serve as
    # `id hdfs` and dataeng1's group unless filter_users/filter_groups name them.
    from dirkit._config import reserved_names
    from dirkit._outputs import sssd

    users = [_u("dataeng1", 1101), _u("HDFS", 1400)]
    groups = [_g("Domain Users", 513), _g("supergroup", 1401, "dataeng1")]
    d = build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])
    cfg = seed_config()
    reserved = reserved_names(cfg)
    as_emr_leaves_it = predict(d, None, "AD.DIRKIT.TEST", reserved=reserved)
    assert "guid-HDFS" in as_emr_leaves_it.users
    assert "supergroup" in {g.name for g in as_emr_leaves_it.users["guid-dataeng1"].groups}
    warned = "\n".join(as_emr_leaves_it.warnings(d))
    assert "fetches it as 'hdfs', a reserved name" in warned and "'supergroup', a reserved" in warned
    fixed = predict(d, sssd.fixed(cfg.sssd, reserved), "AD.DIRKIT.TEST", reserved=reserved)
    assert "guid-HDFS" not in fixed.users and fixed.unfiltered == ()
    # filter_groups hides the name, not the membership: the node shows the bare gid (lab-checked).
    hidden = [g for g in fixed.users["guid-dataeng1"].groups if g.name != "domain users"]
    assert [(g.name, g.resolved) for g in hidden] == [(str(hidden[0].gid), False)]
    assert parse_id(f"uid=1(dataeng1) gid=2(domain users) groups=2(domain users),{hidden[0].gid}") == (
        1,
        2,
        {2: "domain users", hidden[0].gid: str(hidden[0].gid)},
    )
    block = sssd.render(cfg.sssd, "AD.DIRKIT.TEST", reserved)
    line = next(x for x in block.splitlines() if x.startswith("filter_users = "))
    assert {"root", "hdfs", "hive", "yarn", "supergroup", "hadoop"} <= set(
        line.removeprefix("filter_users = ").split(", ")
    )
    assert any(x.startswith("filter_groups = ") and "supergroup" in x for x in block.splitlines())


def test_a_disabled_user_is_not_fetched_under_the_rendered_block_and_has_no_hadoop_groups() -> None:
    # Issue 34: SSSD and Hadoop's LdapGroupsMapping resolve a disabled AD account, groups and
    # all, unless their user search leaves it out; the rendered block and core-site do (the
    # lab checks both against the real services: test_revocation_lab, test_sssd).
    from dirkit._config import HadoopConfig, ad_site, reserved_names
    from dirkit._directory.model import NOT_DISABLED
    from dirkit._outputs import hadoop, sssd

    users = [_u("dataeng1", 1101), _u("gone1", 1102, uac=514)]
    groups = [_g("Domain Users", 513), _g("grp_data_engineering", 1200, "dataeng1", "gone1")]
    d = build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])
    cfg = seed_config()
    reserved = reserved_names(cfg)
    assert "guid-gone1" in predict(d, None, "AD.DIRKIT.TEST").users  # SSSD's default: resolved
    fixed = predict(d, sssd.fixed(cfg.sssd, reserved), "AD.DIRKIT.TEST")
    assert set(fixed.users) == {"guid-dataeng1"}
    block = sssd.render(cfg.sssd, "AD.DIRKIT.TEST", reserved)
    assert f"ldap_user_search_base = DC=ad,DC=dirkit,DC=test?subtree?{NOT_DISABLED}" in block.splitlines()
    assert NOT_DISABLED == "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"

    h = HadoopConfig(bind_user="svc@ad.dirkit.test", bind_password_file="/etc/hadoop/conf/bind")
    props = hadoop.properties(h, ad_site(cfg))
    user_filter = props[f"{hadoop.P}.ldap.search.filter.user"]
    assert user_filter == f"(&{cfg.directory.user_filter}(sAMAccountName={{0}}){NOT_DISABLED})"
    assert hadoop.mapping_groups(d)["guid-gone1"] == [] and hadoop.mapping_groups(d)["guid-dataeng1"]
    shown = hadoop.properties(h.model_copy(update={"hide_disabled_users": False}), ad_site(cfg))
    assert NOT_DISABLED not in shown[f"{hadoop.P}.ldap.search.filter.user"]
    assert hadoop.mapping_groups(d, hide_disabled=False)["guid-gone1"] == ["grp_data_engineering"]
