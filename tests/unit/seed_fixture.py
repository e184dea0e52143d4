"""The seed scenario as a config and a snapshot, without services (for generator tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dirkit import _config as config
from dirkit._directory.build import RawGroup, RawUser, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy

DOM = "S-1-5-21-7-8-9"
BASE = "DC=ad,DC=dirkit,DC=test"
ACCOUNT = "111122223333"


def seed_config_dict() -> dict[str, Any]:
    arn = f"arn:aws:iam::{ACCOUNT}:role"
    return {
        "ldap": {
            "urls": ["ldaps://dc1.ad.dirkit.test:636"],
            "principal": "svc-dirkit@AD.DIRKIT.TEST",
            "keytab": "/etc/dirkit/svc.keytab",
            "ca_file": "/etc/dirkit/ca.pem",
        },
        "directory": {"base_dn": BASE, "realm": "AD.DIRKIT.TEST"},
        "emr": {
            "cluster_realm": "EMR.DIRKIT.TEST",
            "ad_domain": "ad.dirkit.test",
            "ec2_role_arn": f"{arn}/EMR_EC2_DefaultRole",
            "buckets": ["dirkit-default-bucket"],
            "role_mappings": [
                {"role": f"{arn}/dirkit-admin1", "users": ["admin1"]},
                {"role": f"{arn}/dirkit-data-engineering", "groups": ["grp_data_engineering"]},
                {"role": f"{arn}/dirkit-default-bucket", "prefixes": ["s3://dirkit-default-bucket/"]},
            ],
            "kerberos_attributes": {
                "kdc_admin_password": "env:DIRKIT_TEST_KDC_PW",
                "cross_realm_trust_principal_password": "env:DIRKIT_TEST_XREALM_PW",
                "ad_domain_join_user": "emr-join",
                "ad_domain_join_password": "env:DIRKIT_TEST_JOIN_PW",
            },
        },
        "hue": {
            "server_name": "dirkit_ad",
            "ldap_cert": "/etc/hue/conf/ad-ca.pem",
            "bind_dn": "svc-dirkit@ad.dirkit.test",
            "bind_password_script": "/etc/hue/conf/pw.sh",
        },
        "hadoop": {
            "bind_user": "svc-dirkit@ad.dirkit.test",
            "bind_password_file": "/etc/hadoop/conf/ldap-pw",
            "truststore": "/etc/hadoop/conf/ad.p12",
            "truststore_password_file": "/etc/hadoop/conf/ad.p12.pw",
        },
    }


def seed_config(**overrides: Any) -> config.Config:
    data = seed_config_dict()
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return config.from_dict(data)


def _u(sam: str, rid: int, uac: int = 512) -> RawUser:
    return RawUser(
        f"guid-{sam}", f"CN={sam},CN=Users,{BASE}", sam, f"{DOM}-{rid}", f"{sam}@AD.DIRKIT.TEST", None, uac, 513, rid
    )


def _g(sam: str, rid: int, *members: str) -> RawGroup:
    return RawGroup(
        f"guid-{sam}",
        f"CN={sam},CN=Users,{BASE}",
        sam,
        f"{DOM}-{rid}",
        rid,
        tuple(f"CN={m},CN=Users,{BASE}" for m in members),
    )


def seed_directory() -> Directory:
    users = [
        _u("admin1", 1100),
        _u("dataeng1", 1101),
        _u("datascientist1", 1102),
        _u("disabled1", 1103, 514),
        _u("nobody1", 1104),
    ]
    groups = [
        _g("Domain Users", 513),
        _g("grp_data_engineering", 1200, "dataeng1"),
        _g("grp_data_science", 1201, "datascientist1"),
        _g("grp_analytics", 1202, "grp_data_science"),
        _g("Domain Admins", 512, "admin1"),
    ]
    return build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])


def simple_config_file(
    path: Path,
    state: Path,
    url: str = "ldaps://127.0.0.1:1",
    password: str = "env:DIRKIT_TEST_UNSET_PASSWORD",
    extra: str = "",
) -> Path:
    """A minimal config file (simple bind, one DC) for CLI tests that run without services;
    ``extra`` is appended (more TOML lines or sections)."""
    path.write_text(f"""[ldap]
urls = ["{url}"]
bind = "simple"
bind_dn = "svc@EXAMPLE.COM"
password = "{password}"
timeout_seconds = 2
[directory]
base_dn = "DC=example,DC=com"
realm = "EXAMPLE.COM"
[state]
path = "{state}"
{extra}""")
    return path
