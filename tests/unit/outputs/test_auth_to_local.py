"""auth_to_local behaves like Hadoop's KerberosName: Hadoop's own test cases, ported
(kerberos_name_cases.py says from where), plus dirkit's rules for the lab realms."""

from __future__ import annotations

import pytest
from kerberos_name_cases import ALL, BAD_RULE, MALFORMED, NO_RULE, Case

from dirkit._outputs.auth_to_local import Principal, parse_rules, short_name
from dirkit.errors import AuthToLocalError, MalformedPrincipal, NoMatchingRule

RULES = [r"RULE:[1:$1@$0](.*@AD\.DIRKIT\.TEST)s/@.*///L", r"RULE:[2:$1@$0](.*@AD\.DIRKIT\.TEST)s/@.*///L", "DEFAULT"]


def outcome(rules: str, mechanism: str, realm: str, principal: str) -> str:
    try:
        return short_name(rules, principal, realm, mechanism)
    except MalformedPrincipal:
        return MALFORMED
    except NoMatchingRule:
        return NO_RULE
    except AuthToLocalError:
        return BAD_RULE


@pytest.mark.parametrize("case", ALL, ids=[f"{c[1]}:{c[3]}:{c[0][:24]}" for c in ALL])
def test_hadoop_cases(case: Case) -> None:
    rules, mechanism, realm, principal, expected = case
    assert outcome(rules, mechanism, realm, principal) == expected


def test_parsing_like_kerberos_name() -> None:  # TestKerberosName.testParsing
    assert Principal.parse("HTTP/abc.com@EXAMPLE.COM") == Principal("HTTP", "abc.com", "EXAMPLE.COM")
    assert Principal.parse("HTTP/abc.com") == Principal("HTTP", "abc.com", None)
    assert Principal.parse("HTTP@EXAMPLE.COM") == Principal("HTTP", None, "EXAMPLE.COM")


def test_ugi_refuses_an_empty_principal() -> None:  # testConstructorFailures(null / "")
    with pytest.raises(MalformedPrincipal):
        short_name("DEFAULT", "", "DEFAULT.REALM")


def test_invalid_rules_and_mechanism_are_refused() -> None:  # testInvalidRuleMechanism
    with pytest.raises(AuthToLocalError, match="Invalid rule mechanism"):
        short_name("DEFAULT", "a@B", "B", "INVALID_MECHANISM")
    with pytest.raises(AuthToLocalError, match="Invalid auth_to_local rule"):
        parse_rules("RULE:[1:$1] NOT A RULE")


@pytest.mark.parametrize("construct", [r"\p{Lu}", r"\h", r"[a-z&&[^b]]", r"\x{41}", r"\Z"])
def test_java_only_regex_is_refused_naming_the_rule(construct: str) -> None:
    rule = f"RULE:[1:$1]({construct})"
    with pytest.raises(AuthToLocalError, match="no exact Python equivalent") as exc:
        parse_rules(rule)
    assert rule in str(exc.value)


@pytest.mark.parametrize(
    ("principal", "short"),
    [
        ("dataeng1@AD.DIRKIT.TEST", "dataeng1"),
        ("Mixed.Case@AD.DIRKIT.TEST", "mixed.case"),
        ("svc/host.ad.dirkit.test@AD.DIRKIT.TEST", "svc"),
        ("hive/localhost@EMR.DIRKIT.TEST", "hive"),
        ("emruser@EMR.DIRKIT.TEST", "emruser"),
    ],
)
def test_dirkit_rules(principal: str, short: str) -> None:
    assert short_name(RULES, principal, "EMR.DIRKIT.TEST") == short


def test_foreign_realm_has_no_rule() -> None:
    with pytest.raises(NoMatchingRule):
        short_name(RULES, "bob@OTHER.REALM", "EMR.DIRKIT.TEST")


def test_the_rule_mechanism_is_case_insensitive_as_in_hadoop() -> None:
    # Issue 19, item 12: KerberosName.setRuleMechanism compares with equalsIgnoreCase
    # (TestKerberosAuthenticationHandler#testNullProperties sets "MIT").
    rules = "RULE:[1:$1@$0](.*@OTHER)s/@.*//\nDEFAULT"
    for spelling in ("MIT", "Mit", "mit"):
        assert short_name(rules, "a/b@ELSEWHERE", "REALM", spelling) == "a/b@ELSEWHERE"
    with pytest.raises(NoMatchingRule):
        short_name(rules, "a/b@ELSEWHERE", "REALM", "HADOOP")
    from seed_fixture import seed_config

    cfg = seed_config(hadoop={"auth_to_local_mechanism": "MIT"})
    assert cfg.hadoop is not None and cfg.hadoop.auth_to_local_mechanism == "mit"
