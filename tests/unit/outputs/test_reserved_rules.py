"""Issue 30, part 1: the auth_to_local rules dirkit renders map no AD principal onto a reserved
name, under both mechanisms, with and without /L, in any letter case; and AD principals with a
host component are not mapped unless ``hadoop.map_host_principals`` asks for it. Checked here
with dirkit's evaluator (Hadoop's KerberosName, case for case); tests/integration/
test_hadoop_real.py runs the same principals through Hadoop's own class, and
test_reserved_lab.py through the lab's NameNode."""

from __future__ import annotations

import pytest
from seed_fixture import seed_config

from dirkit._config import ad_site, reserved_names
from dirkit._outputs import hadoop
from dirkit._outputs.auth_to_local import parse_rules, short_name
from dirkit.errors import NoMatchingRule

REALM, CLUSTER = "AD.DIRKIT.TEST", "EMR.DIRKIT.TEST"
LAB = {
    "hdfs": {"url": "https://nn:9871/webhdfs/v1", "principal": "nn/localhost@EMR.DIRKIT.TEST", "keytab": "/k"},
    "verify": {"service_principal": "HTTP/localhost@EMR.DIRKIT.TEST", "hive": {"host": "localhost"}},
}


def spellings(name: str) -> set[str]:
    out = {name, name.upper(), name.capitalize(), name.swapcase()}
    return out | {n.replace("k", "\u212a") for n in out if "k" in n}  # KELVIN SIGN: Java lower-cases it to k


def cases() -> list[tuple[str, str, bool]]:
    cfg = seed_config(**LAB)
    return [
        (name, mech, lower)
        for name in reserved_names(cfg).names()
        for mech in ("hadoop", "mit")
        for lower in (True, False)
    ]


@pytest.mark.parametrize(("name", "mechanism", "lower"), cases())
def test_no_spelling_of_a_reserved_name_maps_to_it(name: str, mechanism: str, lower: bool) -> None:
    cfg = seed_config(
        **LAB, names={"case": "lower" if lower else "preserve"}, hadoop={"auth_to_local_mechanism": mechanism}
    )
    rules = hadoop.auth_to_local(ad_site(cfg))
    for spelled in spellings(name):
        principal = f"{spelled}@{REALM}"
        if mechanism == "hadoop":
            with pytest.raises(NoMatchingRule, match="Non-simple name"):
                short_name(rules, principal, CLUSTER, mechanism)
        else:  # kept whole: a name that is no service, owns nothing and is in no group
            assert short_name(rules, principal, CLUSTER, mechanism) == principal


def test_the_lab_superuser_nn_is_refused_and_people_still_map() -> None:
    rules = hadoop.auth_to_local(ad_site(seed_config(**LAB)))
    assert "nn" in reserved_names(seed_config(**LAB)).names()  # implied by hdfs.principal
    with pytest.raises(NoMatchingRule):
        short_name(rules, f"nn@{REALM}", CLUSTER)
    for user in ("dataeng1", "DataEng1", "nnx", "xnn", "hdfs1", "hive-ops", "zoë"):
        assert short_name(rules, f"{user}@{REALM}", CLUSTER) == user.lower()
    assert short_name(rules, f"nn/localhost@{CLUSTER}", CLUSTER) == "nn"  # the cluster's own service: DEFAULT


def test_host_principals_of_ad_are_not_mapped_unless_asked_for() -> None:
    rules = hadoop.auth_to_local(ad_site(seed_config(**LAB)))
    with pytest.raises(NoMatchingRule, match="No rules applied"):
        short_name(rules, f"nn/evilpc.ad.dirkit.test@{REALM}", CLUSTER)
    assert short_name(rules, f"nn/evilpc@{REALM}", CLUSTER, "mit") == f"nn/evilpc@{REALM}"
    asked = hadoop.auth_to_local(ad_site(seed_config(**LAB, hadoop={"map_host_principals": True})))
    assert short_name(asked, f"dataeng1/host@{REALM}", CLUSTER) == "dataeng1"
    for name in ("nn", "HDFS", "Hive"):
        with pytest.raises(NoMatchingRule, match="Non-simple name"):
            short_name(asked, f"{name}/evilpc@{REALM}", CLUSTER)


def test_the_rules_fit_kerberosnames_grammar() -> None:
    rules = hadoop.auth_to_local(ad_site(seed_config(**LAB, names={"reserved": ["svc_x$", "a.b-c"]})))
    assert [r.text for r in parse_rules(rules)] == rules  # each rule parsed whole, none cut short
    for r in rules:
        if r.startswith("RULE:") and "s/" not in r:
            inner = r[r.index("(") + 1 : -1]
            assert ")" not in inner and "(" not in inner  # KerberosName: no ')' inside a match


def test_reserved_names_extend_and_never_replace() -> None:
    cfg = seed_config(
        verify=LAB["verify"], names={"reserved": ["svc_etl"]}, hdfs={**LAB["hdfs"], "lock_exclude": ["backups"]}
    )
    r = reserved_names(cfg)
    assert {"svc_etl", "backups", "hdfs", "hive", "supergroup", "root", "nn", "http"} <= set(r.names())
    assert r.reason("SVC_ETL") == "reserved by names.reserved"
    assert r.reason("ｈｄｆｓ") is not None and r.reason("dataeng1") is None
