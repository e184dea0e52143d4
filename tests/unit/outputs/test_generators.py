"""Generators: golden files for the seed scenario, validation, explain, no secrets in output."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from configobj import ConfigObj
from hypothesis import given
from hypothesis import strategies as st
from seed_fixture import ACCOUNT, seed_config, seed_config_dict, seed_directory

from dirkit._config import RoleMappingConfig, ad_site
from dirkit._directory.names import NamePolicy
from dirkit._outputs import emr as documents
from dirkit._outputs import files as render
from dirkit._outputs import hadoop, hue, role_mappings
from dirkit.errors import ConfigError

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ARN = f"arn:aws:iam::{ACCOUNT}:role"


def _golden(name: str, text: str) -> None:
    f = GOLDEN / name
    if os.environ.get("DIRKIT_UPDATE_GOLDEN") == "1":
        f.write_text(text)
    assert f.exists(), f"missing golden file {f}: run with DIRKIT_UPDATE_GOLDEN=1 and review it"
    assert text == f.read_text(), f"{name} differs from its golden file"


def test_golden_documents_for_the_seed_scenario() -> None:
    docs = render.render_all(seed_config(), seed_directory())
    assert sorted(docs) == [
        "core-site-classification.json",
        "core-site.xml",
        "emr-iam.json",
        "emr-security-configuration.json",
        "hue-ini-classification.json",
        "hue.ini",
    ]
    for name, doc in docs.items():
        _golden(name, doc.text)


def test_rendering_is_deterministic() -> None:
    assert render.render_all(seed_config(), seed_directory()) == render.render_all(seed_config(), seed_directory())


def test_no_secret_in_any_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRKIT_TEST_KDC_PW", "kdc-S3cret-value")
    monkeypatch.setenv("DIRKIT_TEST_XREALM_PW", "xrealm-S3cret-value")
    monkeypatch.setenv("DIRKIT_TEST_JOIN_PW", "join-S3cret-value")
    cfg = seed_config()
    blob = "".join(doc.text for doc in render.render_all(cfg, seed_directory()).values())
    blob += documents.dumps(documents.kerberos_attributes(cfg.emr))
    assert "S3cret" not in blob
    revealed = documents.kerberos_attributes(cfg.emr, reveal=True)
    assert revealed["KdcAdminPassword"] == "kdc-S3cret-value"
    assert documents.kerberos_attributes(cfg.emr)["KdcAdminPassword"] == "<secret env:DIRKIT_TEST_KDC_PW>"


def test_hue_ini_parses_back_the_way_hue_reads_it() -> None:
    cfg = seed_config()
    text = hue.render_ini(cfg.hue, ad_site(cfg), seed_directory())
    conf = ConfigObj(io.StringIO(text))
    ldap = conf["desktop"]["ldap"]
    server = ldap["ldap_servers"]["dirkit_ad"]
    assert conf["desktop"]["auth"]["backend"] == "desktop.auth.backend.LdapBackend"
    assert server["base_dn"] == "DC=ad,DC=dirkit,DC=test"  # commas survive as one string
    assert server["users"]["user_name_attr"] == "sAMAccountName"
    assert server["groups"]["group_member_attr"] == "member"
    assert server["use_start_tls"] == "false" and server["ldap_url"].startswith("ldaps://")
    assert "bind_password" not in server and server["bind_password_script"]
    # [[ldap]]-only keys are in [[ldap]], not under the server.
    for key in ("create_users_on_login", "sync_groups_on_login", "force_username_lowercase", "subgroups"):
        assert key in ldap and key not in server
    assert "          [[[[[users]]]]]" not in text and "        [[[[[users]]]]]" in text  # 5 brackets


def test_hue_classification_mirrors_the_ini() -> None:
    cfg = seed_config()
    cls = hue.render_classification(cfg.hue, ad_site(cfg), seed_directory())
    assert cls[0]["Classification"] == "hue-ini"
    desktop = cls[0]["Configurations"][0]
    ldap = [c for c in desktop["Configurations"] if c["Classification"] == "ldap"][0]
    server = ldap["Configurations"][0]["Configurations"][0]
    assert server["Classification"] == "dirkit_ad"
    assert {c["Classification"] for c in server["Configurations"]} == {"users", "groups"}


def test_auth_to_local_rules() -> None:
    rules = hadoop.auth_to_local(ad_site(seed_config()))
    assert rules[-2:] == [r"RULE:[1:$1@$0](.*@AD\.DIRKIT\.TEST)s/@.*///L", "DEFAULT"]
    assert all(r.startswith("RULE:[1:$1@$0](") and "s/" not in r for r in rules[:-2])  # the reserved names
    assert hadoop.auth_to_local(ad_site(seed_config(names={"case": "preserve"})))[-2].endswith("s/@.*//")


def test_hadoop_refuses_starttls_urls() -> None:
    # Checked when the config is loaded: a config with [hadoop] is valid only with ldaps:// URLs.
    with pytest.raises(ConfigError, match="cannot use StartTLS"):
        seed_config(ldap={"urls": ["ldap://dc1.ad.dirkit.test"], "start_tls": True})


def test_external_kdc_form() -> None:
    cfg = seed_config(
        emr={
            "kdc": "external",
            "external_admin_server": "kdc.c.internal:749",
            "external_kdc_server": "kdc.c.internal:88",
        }
    )
    k = documents.security_configuration(cfg.emr, ad_site(cfg))["AuthenticationConfiguration"]["KerberosConfiguration"]
    assert k["Provider"] == "ExternalKdc"
    assert k["ExternalKdcConfiguration"] == {
        "KdcServerType": "Single",
        "AdminServer": "kdc.c.internal:749",
        "KdcServer": "kdc.c.internal:88",
        "AdIntegrationConfiguration": {"AdRealm": "AD.DIRKIT.TEST", "AdDomain": "ad.dirkit.test"},
    }


@pytest.mark.parametrize(
    ("emr", "message"),
    [
        (
            {"ec2_role_arn": "arn:aws:iam::12:role/x"},
            "emr.ec2_role_arn: 'arn:aws:iam::12:role/x' is not an IAM role ARN",
        ),
        ({"cluster_realm": "emr.dirkit.test"}, "emr.cluster_realm"),
        ({"ad_domain": "AD.DIRKIT.TEST"}, "emr.ad_domain: 'AD.DIRKIT.TEST' must be the AD DNS domain in lower case"),
        ({"role_mappings": [{"role": f"{ARN}/x", "prefixes": ["https://b/"]}]}, "emr.role_mappings[0].prefixes"),
        (
            {"role_mappings": [{"role": f"{ARN}/x", "users": ["a"], "groups": ["g"]}]},
            "exactly one of users, groups or prefixes",
        ),
        ({"role_mappings": [{"role": f"{ARN}/x", "users": []}]}, "users is empty"),
        ({"kdc": "external"}, "needs emr.external_admin_server as host:749"),
        ({"encryption": {"EnableEverything": True}}, "unknown EncryptionConfiguration key"),
    ],
)
def test_emr_config_errors_name_the_key(emr: dict[str, object], message: str) -> None:
    data = seed_config_dict()
    data["emr"] = {**data["emr"], **emr}
    from dirkit import _config as config

    with pytest.raises(ConfigError) as exc:
        config.from_dict(data)
    assert message in str(exc.value)


def test_realms_must_differ() -> None:
    with pytest.raises(ConfigError, match="must differ from directory.realm"):
        seed_config(emr={"cluster_realm": "AD.DIRKIT.TEST"})  # checked when the config is loaded


def test_seed_explain_matches_the_post() -> None:
    cfg, d = seed_config(), seed_directory()
    assert cfg.emr is not None
    p = NamePolicy(realm="AD.DIRKIT.TEST")

    def role(user: str, path: str) -> str:
        return role_mappings.explain(cfg.emr, d, p, user, path).role

    assert role("admin1", "s3://anything/x") == f"{ARN}/dirkit-admin1"
    assert role("Admin1@AD.DIRKIT.TEST", "s3://anything/x") == f"{ARN}/dirkit-admin1"
    assert role("dataeng1", "s3://dirkit-default-bucket/x") == f"{ARN}/dirkit-data-engineering"
    assert role("nobody1", "s3://dirkit-default-bucket/k") == f"{ARN}/dirkit-default-bucket"
    assert role("datascientist1", "s3://other/x") == f"{ARN}/EMR_EC2_DefaultRole"


def test_warnings_for_missing_renamed_and_shadowed_identifiers() -> None:
    cfg = seed_config(
        emr={
            "role_mappings": [
                {"role": f"{ARN}/a", "users": ["admin1"]},
                {"role": f"{ARN}/b", "groups": ["GRP_Data_Engineering"]},
                {"role": f"{ARN}/c", "users": ["admin1", "ghost"]},
                {"role": f"{ARN}/d", "prefixes": ["s3://bucket"]},
                {"role": f"{ARN}/e", "prefixes": ["s3://bucket/deeper/"]},
                {"role": f"{ARN}/f", "groups": ["grp_data_engineering"]},
            ]
        }
    )
    assert cfg.emr is not None
    w = "\n".join(role_mappings.warnings(cfg.emr, seed_directory(), NamePolicy(realm="AD.DIRKIT.TEST")))
    assert "[1]: group 'GRP_Data_Engineering' is 'grp_data_engineering' on the cluster" in w
    assert "[2]: user 'ghost' is not in the AD snapshot" in w
    assert "[2]: user 'admin1' is shadowed" in w
    assert "[3]: prefix 's3://bucket' has no trailing '/'" in w
    assert "[4]: prefix 's3://bucket/deeper/' is shadowed by the earlier prefix 's3://bucket'" in w
    assert "[5]: group 'grp_data_engineering' is shadowed" not in w  # [1] never matched anyone


mapping = st.one_of(
    st.builds(
        lambda ids, n: RoleMappingConfig(role=f"{ARN}/u{n}", users=ids),
        st.lists(st.sampled_from(["u1", "u2"]), min_size=1),
        st.integers(0, 99),
    ),
    st.builds(
        lambda ids, n: RoleMappingConfig(role=f"{ARN}/g{n}", groups=ids),
        st.lists(st.sampled_from(["g1", "g2"]), min_size=1),
        st.integers(0, 99),
    ),
    st.builds(
        lambda ids, n: RoleMappingConfig(role=f"{ARN}/p{n}", prefixes=ids),
        st.lists(st.sampled_from(["s3://bkt/", "s3://bkt/a/", "s3://other/"]), min_size=1),
        st.integers(0, 99),
    ),
)


@given(
    st.lists(mapping, max_size=6),
    st.sampled_from(["u1", "u2", "u3"]),
    st.lists(st.sampled_from(["g1", "g2", "g3"]), max_size=2),
    st.sampled_from(["s3://bkt/a/x", "s3://bkt/y", "s3://zzz/"]),
)
def test_first_match_wins_and_order_is_preserved(
    mappings: list[RoleMappingConfig], user: str, groups: list[str], path: str
) -> None:
    d = role_mappings.decide(mappings, f"{ARN}/base", user, groups, path)
    first = next((i for i, m in enumerate(mappings) if role_mappings.match(m, user, groups, path)), None)
    assert d.mapping_index == first
    assert d.role == (mappings[first].role if first is not None else f"{ARN}/base")
    # The rendered document keeps the admin's order exactly.
    data = seed_config_dict()
    data["emr"]["role_mappings"] = [
        {"role": m.role, m.identifier_type.lower() + ("s" if m.identifier_type != "Prefix" else "es"): m.identifiers}
        for m in mappings
    ]
    from dirkit import _config as config

    loaded = config.from_dict(data)
    assert loaded.emr is not None
    rendered = documents.security_configuration(loaded.emr, ad_site(loaded))
    got = rendered.get("AuthorizationConfiguration", {}).get("EmrFsConfiguration", {}).get("RoleMappings", [])
    assert [(r["Role"], r["Identifiers"]) for r in got] == [(m.role, m.identifiers) for m in mappings]
    assert json.loads(documents.dumps(rendered)) == rendered


def test_kerberos_attributes_require_what_emr_requires_for_an_ad_trust() -> None:
    data = seed_config_dict()
    data["emr"]["kerberos_attributes"] = {"kdc_admin_password": "env:X"}
    from dirkit import _config as config

    with pytest.raises(
        ConfigError, match="cross_realm_trust_principal_password, ad_domain_join_user, ad_domain_join_password"
    ):
        config.from_dict(data)


def test_the_ec2_role_trusts_the_emrfs_roles_too() -> None:
    iam = documents.iam_documents(seed_config().emr)
    statements = iam["base_role"]["trust_policy"]["Statement"]
    assert {"Service": "ec2.amazonaws.com"} in [s["Principal"] for s in statements]
    trusted = next(s["Principal"]["AWS"] for s in statements if "AWS" in s["Principal"])
    assert trusted == [m["arn"] for m in iam["mapping_roles"]]


def test_aws_managed_ad_is_refused_for_the_trust() -> None:
    from dataclasses import replace

    from dirkit import Dirkit, MemorySource
    from dirkit._outputs.emr import AWS_MANAGED_AD

    d = seed_directory()
    managed = replace(d, read=replace(d.read, aws_managed_ad=True))
    with pytest.raises(ConfigError, match="does not support AWS Directory Service for Microsoft Active Directory"):
        Dirkit(seed_config(), source=MemorySource(managed)).security_configuration()
    assert Dirkit(seed_config(), source=MemorySource(d)).security_configuration().text
    assert "in a cross-realm trust or as an external KDC" in AWS_MANAGED_AD


def test_every_document_is_made_the_same_way_by_sync_and_by_the_api(tmp_path: Path) -> None:
    # Issue 32, item 1: one registry; sync's output directory and the Dirkit methods (so the
    # CLI) render each document with the same checks. Before, sync logged only Hue's warnings
    # and only the API refused AWS Managed AD.
    from seed_fixture import seed_directory as seed

    from dirkit import Dirkit, MemorySource
    from dirkit._outputs.documents import DOCUMENTS, configured, find
    from dirkit.errors import UsageError

    yarn = {"queues": {"root.default": 100}, "mappings": [{"queue": "root.default", "groups": ["grp_nope"]}]}
    cfg = seed_config(state={"path": str(tmp_path / "s.sqlite")}, sssd={}, yarn=yarn)
    kit = Dirkit(cfg, source=MemorySource(seed()))
    made = render.render_all(cfg, seed())
    assert sorted(made) == sorted(d.file for d in configured(cfg)) and len(made) == len(DOCUMENTS)
    assert made["emr-security-configuration.json"] == kit.security_configuration()
    assert made["sssd-domain.conf"] == kit.sssd_config()
    kit.sync()
    assert made["capacity-scheduler.xml"] == kit.yarn_config(from_state=True)
    assert (
        made["capacity-scheduler.xml"].warnings
        and "'grp_nope' is not in the AD snapshot" in made["capacity-scheduler.xml"].warnings[0]
    )
    assert made["hue.ini"].text == kit.hue_config("ini").text
    assert find("core-site", "classification").file == "core-site-classification.json"
    with pytest.raises(UsageError, match="use one of xml, classification"):
        find("core-site", "yaml")
