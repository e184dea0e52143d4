"""The generated core-site checked with real Hadoop 3.4 classes (jars from Maven Central):
HadoopKerberosName with the generated auth_to_local, and the generated LDAP group mapping
against the lab's Samba AD. Both must agree with dirkit's snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dirkit import _sync as sync
from dirkit._config import ad_site, reserved_names
from dirkit._directory.names import NamePolicy
from dirkit._outputs import hadoop
from dirkit.errors import NoMatchingRule
from dirkit_lab import java
from dirkit_lab import settings as s
from dirkit_lab.settings import LabPaths


@pytest.fixture(scope="module")
def hadoop_lib(lab_status: dict[str, Any]) -> Path:
    return java.classpath(LabPaths(Path(lab_status["lab_dir"])))  # a failure fails the test, in CI too


@dataclass
class Setup:
    cfg: Any
    d: Any
    paths: LabPaths
    conf: Path  # a Hadoop conf dir holding only dirkit's generated core-site.xml
    krb5: Path  # the lab krb5.conf as a cluster node sees it


@pytest.fixture
def setup(make_config: Any, tmp_path: Path, hadoop_lib: Path, lab_status: dict[str, Any]) -> Setup:
    cfg = make_config()
    d = sync.read(cfg)
    paths = LabPaths(Path(lab_status["lab_dir"]))
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text(hadoop.render_xml(cfg.hadoop, ad_site(cfg), d))
    return Setup(cfg, d, paths, conf, java.cluster_krb5_conf(paths, tmp_path / "krb5.conf"))


def test_auth_to_local_agrees_with_the_names_policy(setup: Setup) -> None:
    cfg, d = setup.cfg, setup.d
    policy = NamePolicy(cfg.names, cfg.directory.realm, reserved_names(cfg))
    users = ["admin1", "dataeng1", "datascientist1", "Mixed.Case", "odd#hash", "rangeuser01"]
    principals = [f"{u}@{cfg.directory.realm}" for u in users] + [
        f"svc/host.ad.dirkit.test@{cfg.directory.realm}",
        "hive/localhost@EMR.DIRKIT.TEST",
    ]
    got = java.kerberos_short_names(setup.paths, setup.conf, setup.krb5, principals)
    for u in users:
        expected = policy.normalise(u).name
        assert expected is not None and d.user_by_name(expected) is not None
        assert got[f"{u}@{cfg.directory.realm}"] == expected
    # A two-component AD principal is not mapped (hadoop.map_host_principals is off): refused.
    assert got[f"svc/host.ad.dirkit.test@{cfg.directory.realm}"] is None
    assert got["hive/localhost@EMR.DIRKIT.TEST"] == "hive"  # DEFAULT: the cluster realm
    # dirkit's own evaluator (used by `dirkit verify`) agrees with Hadoop on every principal.
    from dirkit._outputs.auth_to_local import short_name

    for principal, short in got.items():
        if short is None:
            with pytest.raises(NoMatchingRule):
                short_name(hadoop.auth_to_local(ad_site(cfg)), principal, "EMR.DIRKIT.TEST")
        else:
            assert short_name(hadoop.auth_to_local(ad_site(cfg)), principal, "EMR.DIRKIT.TEST") == short


def test_ldap_group_mapping_agrees_with_the_snapshot(setup: Setup, ad_admin: Any) -> None:
    d = setup.d
    ad_admin.search(f"CN=Builtin,{s.AD_BASE}", "(objectClass=group)", attributes=["sAMAccountName"])
    builtin = {str(e.sAMAccountName).lower() for e in ad_admin.entries}
    assert "users" in builtin and "administrators" in builtin
    users = ["dataeng1", "datascientist1", "cycleuser1", "pgiduser1", "admin1", "odd space", "rangeuser25", "disabled1"]
    got = java.ldap_groups(setup.paths, setup.conf, setup.krb5, users)
    visible = hadoop.mapping_groups(d)
    for name in users:
        user = d.user_by_name(name)
        assert user is not None
        # Exactly dirkit's effective groups, less what comes only through the primary group. No
        # Builtin group (Users holds Domain Users, Administrators Domain Admins): SSSD, and so
        # dirkit, leaves them out, and the rendered group filter too.
        assert sorted(got[name]) == visible[user.guid], name
        assert not set(got[name]) & builtin, name
    # (disabled1: none, as the rendered user search skips disabled accounts; test_revocation_lab
    # disables a user who has groups.)
    assert "grp_analytics" in got["datascientist1"]  # nesting resolved by Hadoop too
    assert {"grp_cycle_a", "grp_cycle_b", "grp_cycle_c"} <= set(got["cycleuser1"])
    # The primary-group gap is real, and dirkit reports it.
    assert "grp_data_engineering" not in got["pgiduser1"]
    assert hadoop.mapping_gaps(d, "nested") == {"pgiduser1": ["grp_data_engineering"]}


def test_ported_cases_agree_with_hadoops_own_kerberos_name(lab_status: dict[str, Any]) -> None:
    """Every ported Hadoop case (and the extra ones) through the real KerberosName 3.4.2."""
    from kerberos_name_cases import ALL, BAD_RULE, MALFORMED, NO_RULE

    java_says = java.kerberos_name_outcomes(LabPaths(Path(lab_status["lab_dir"])), [c[:4] for c in ALL])
    words = {"NO_RULE": NO_RULE, "MALFORMED": MALFORMED, "BAD_RULE": BAD_RULE}
    hadoop = [w.split("\t", 1)[1] if w.startswith("OK\t") else words[w] for w in java_says]
    differ = [(c, h) for c, h in zip(ALL, hadoop, strict=True) if c[4] != h]
    assert differ == [], differ


LOG4J = """log4j.rootLogger=INFO,out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.Target=System.out
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=LOG %p %c{1}: %m%n
log4j.logger.org.apache.hadoop.security.LdapGroupsMapping=DEBUG
"""


def test_memberof_lookup_really_takes_the_one_search_path(setup: Setup, make_config: Any, tmp_path: Path) -> None:
    """group_lookup = "memberof": Hadoop reads the groups from the user's memberOf (group names
    from the RDN, hence cn), with no fallback to the member search: LdapGroupsMapping logs the
    fallback at INFO and the hierarchy walk at DEBUG, and neither appears."""
    cfg = make_config(hadoop={"group_lookup": "memberof"})
    conf = tmp_path / "conf-memberof"
    conf.mkdir()
    (conf / "core-site.xml").write_text(hadoop.render_xml(cfg.hadoop, ad_site(cfg), setup.d))
    (conf / "log4j.properties").write_text(LOG4J)
    users = ["dataeng1", "datascientist1", "cycleuser1", "admin1", "odd space"]  # each has a direct group
    log: list[str] = []
    got = java.ldap_groups(setup.paths, conf, setup.krb5, users, output=log)
    expected = hadoop.mapping_groups(setup.d, "memberof")
    for name in users:
        user = setup.d.user_by_name(name)
        assert user is not None and sorted(got[name]) == expected[user.guid], name
    assert [line for line in log if "LdapGroupsMapping" in line and "returned" in line], "no DEBUG log seen"
    assert not [line for line in log if "Failed to get groups from the first lookup" in line]
    assert not [line for line in log if "Ldap group query string" in line]
    # What this path loses, dirkit reports: the nested grp_analytics of datascientist1.
    assert "grp_analytics" not in got["datascientist1"]
    assert "grp_analytics" in hadoop.mapping_gaps(setup.d, "memberof")["datascientist1"]


def test_the_nested_default_logs_no_failing_first_lookup(setup: Setup, tmp_path: Path) -> None:
    """The nested default renders no memberOf key: no failing first lookup logged at INFO."""
    (setup.conf / "log4j.properties").write_text(LOG4J)
    log: list[str] = []
    java.ldap_groups(setup.paths, setup.conf, setup.krb5, ["datascientist1"], output=log)
    assert not [line for line in log if "Failed to get groups from the first lookup" in line]
    assert [line for line in log if "LdapGroupsMapping" in line and "returned" in line]
