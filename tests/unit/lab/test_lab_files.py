"""The lab's generated files and seed data are consistent (no services needed)."""

import json
from pathlib import Path

import tomllib

from dirkit.lab import kdc, seed
from dirkit.lab import settings as s
from dirkit.lab.config import lab_config_toml
from dirkit.lab.settings import LabPaths


def test_lab_config_is_valid_toml_pointing_into_the_lab_dir(tmp_path: Path) -> None:
    cfg = tomllib.loads(lab_config_toml(LabPaths(tmp_path)))
    assert cfg["ldap"]["urls"] == [f"ldaps://{s.AD_HOST}:636"]
    assert cfg["ldap"]["keytab"].startswith(str(tmp_path))
    assert "password" not in cfg["ldap"]  # the lab binds with a keytab, never a password


def test_client_krb5_conf_has_both_realms_and_direct_capath() -> None:
    conf = kdc.client_krb5_conf()
    assert f"{s.AD_REALM} = {{" in conf and f"{s.EMR_REALM} = {{" in conf
    assert "rdns = false" in conf and "dns_canonicalize_hostname = false" in conf
    assert f"{s.EMR_REALM} = ." in conf


def test_seed_members_all_exist() -> None:
    names = {u.sam for u in seed.SEED.users} | {g.sam for g in seed.SEED.groups}
    names |= {"Domain Admins"}
    for g in seed.SEED.groups:
        for m in g.members:
            assert m in names or m.startswith("CN="), (g.sam, m)
    for group, member in seed.SEED.late_members:
        assert group in names and (member in names or member.startswith("<SID=")), (group, member)


def test_seed_has_the_scenario_identities() -> None:
    users = {u.sam: u for u in seed.SEED.users}
    assert {"admin1", "dataeng1", "datascientist1", s.SYNC_ACCOUNT} <= users.keys()
    assert any(u.disabled for u in users.values())
    groups = {g.sam: g for g in seed.SEED.groups}
    assert groups["grp_analytics"].members == ("grp_data_science",)


def test_status_leaves_out_the_services_up_was_told_to_skip(tmp_path: Path) -> None:
    """`lab up --no-hive` then `lab status`: HiveServer2 is not asked for, so not "not ready"."""
    from dirkit.lab import HIVESERVER, NAMENODE, Lab

    lab = Lab(LabPaths(tmp_path))
    assert lab.wanted() == {NAMENODE: True, HIVESERVER: True}  # never brought up: everything
    (tmp_path / "services.json").write_text(json.dumps({NAMENODE: True, HIVESERVER: False}))
    names = [svc["name"] for svc in lab.status()["services"]]
    assert NAMENODE in names and HIVESERVER not in names
