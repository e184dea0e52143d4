"""Generators against the lab's real AD snapshot: explain, warnings, files written by sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dirkit import _sync as sync
from dirkit._directory.names import NamePolicy
from dirkit._outputs import role_mappings
from dirkit_lab.config import LAB_ACCOUNT, LAB_BUCKET

ARN = f"arn:aws:iam::{LAB_ACCOUNT}:role"


def test_explain_seed_scenario_on_the_lab(make_config: Any) -> None:
    cfg = make_config()
    d = sync.read(cfg)
    policy = NamePolicy(cfg.names, cfg.directory.realm)
    cases = {
        ("admin1", "s3://dirkit-data-engineering/x"): f"{ARN}/dirkit-admin1",
        ("dataeng1", f"s3://{LAB_BUCKET}/x"): f"{ARN}/dirkit-data-engineering",
        ("pgiduser1", "s3://dirkit-data-engineering/y"): f"{ARN}/dirkit-data-engineering",  # via primary group
        ("datascientist1", f"s3://{LAB_BUCKET}/k"): f"{ARN}/dirkit-default-bucket",
        ("datascientist1", "s3://dirkit-data-engineering/k"): f"{ARN}/EMR_EC2_DefaultRole",
    }
    for (user, path), role in cases.items():
        assert role_mappings.explain(cfg.emr, d, policy, user, path).role == role, (user, path)
    assert role_mappings.warnings(cfg.emr, d, policy) == []


def test_cli_explain_json(make_config: Any, tmp_path: Path, lab_status: dict[str, Any]) -> None:
    env = {**os.environ, "DIRKIT_CONFIG": lab_status["config"]}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dirkit._cli",
            "emr",
            "explain",
            "--user",
            "DataEng1@AD.DIRKIT.TEST",
            "--path",
            f"s3://{LAB_BUCKET}/a",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["user"] == "dataeng1" and out["mapping_index"] == 1 and "grp_data_engineering" in out["groups"]


def test_sync_writes_documents_once_and_reports_changes(make_config: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = make_config(output={"directory": str(out)})
    first = sync.sync(cfg)
    assert {f.status for f in first.files} == {"new"} and len(first.files) == 6
    mtimes = {f.name: f.stat().st_mtime_ns for f in out.iterdir()}
    contents = {f.name: f.read_bytes() for f in out.iterdir()}
    second = sync.sync(cfg)
    assert {f.status for f in second.files} == {"unchanged"}
    assert {f.name: f.stat().st_mtime_ns for f in out.iterdir()} == mtimes
    assert {f.name: f.read_bytes() for f in out.iterdir()} == contents
    # A config change shows up as a changed file, in a dry run first.
    cfg2 = make_config(output={"directory": str(out)}, hue={"login_groups": ["grp_analytics"]})
    dry = sync.sync(cfg2, dry_run=True)
    assert [f.name for f in dry.files if f.status == "changed"] == ["hue-ini-classification.json", "hue.ini"]
    assert (out / "hue.ini").read_bytes() == contents["hue.ini"]
    secret = Path(cfg.ldap.keytab).parent.parent / "secrets" / "svc-dirkit.password"
    password = secret.read_text().strip()
    assert all(password not in f.read_text() for f in out.iterdir())


def test_an_aws_managed_ad_layout_is_refused(make_config: Any, ad_admin: Any, restore_ad: None) -> None:
    """AWS Managed Microsoft AD keeps its own objects in OU=AWS Reserved: EMR cannot trust it."""
    from dirkit import Dirkit
    from dirkit._verify import checks
    from dirkit.errors import ConfigError
    from dirkit_lab import settings as s

    cfg = make_config()
    assert not sync.read(cfg).aws_managed_ad
    ou = f"OU=AWS Reserved,{s.AD_BASE}"
    assert ad_admin.add(ou, "organizationalUnit"), ad_admin.result
    assert ad_admin.add(
        f"CN=AWSAdminD-1234,{ou}",
        ["top", "person", "organizationalPerson", "user"],
        {"sAMAccountName": "AWSAdminD-1234"},
    ), ad_admin.result
    d = sync.read(cfg)
    assert d.aws_managed_ad
    with pytest.raises(ConfigError, match="Amazon EMR does not support AWS Directory Service"):
        Dirkit(cfg).security_configuration()
    [r] = checks.verify(cfg, d, ["dataeng1"])
    kerberos = next(c for c in r.checks if c.name == "kerberos")
    assert kerberos.status == "fail" and "does not support AWS Directory Service" in kerberos.detail


HUE_BIND = """
import sys, ldap
uri, ca, who, password = sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.read()
ldap.set_option(ldap.OPT_X_TLS_CACERTFILE, ca)
ldap.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
ldap.set_option(ldap.OPT_NETWORK_TIMEOUT, 3)
conn = ldap.initialize(uri)  # what Hue (django-auth-ldap, useradmin.ldap_access) does with ldap_url
conn.simple_bind_s(who, password)
print("bound")
"""


def test_hue_ldap_url_lists_every_dc_and_libldap_fails_over(make_config: Any, lab_status: dict[str, Any]) -> None:
    """Hue's LDAP client is python-ldap over libldap (Debian's python3-ldap here): given the
    rendered ldap_url with a dead first DC, it binds through the second."""
    import io

    from configobj import ConfigObj

    from dirkit import Dirkit
    from dirkit_lab import settings as s

    urls = [f"ldaps://{s.AD_HOST}:1636", f"ldaps://{s.AD_HOST}:636"]
    ini = Dirkit(make_config(ldap={"urls": urls})).hue_config().text
    server = ConfigObj(io.StringIO(ini))["desktop"]["ldap"]["ldap_servers"]["dirkit_ad"]
    assert server["ldap_url"] == " ".join(urls)
    r = subprocess.run(
        ["/usr/bin/python3", "-c", HUE_BIND, server["ldap_url"], lab_status["ca_cert"], f"dataeng1@{s.AD_REALM}"],
        input=s.USER_PASSWORD,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.strip() == "bound", r.stderr
