import pytest

from dirkit.errors import NoMatchingRule
from dirkit.outputs.auth_to_local import short_name

RULES = [r"RULE:[1:$1@$0](.*@AD\.DIRKIT\.TEST)s/@.*///L", r"RULE:[2:$1@$0](.*@AD\.DIRKIT\.TEST)s/@.*///L", "DEFAULT"]


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
def test_rules(principal: str, short: str) -> None:
    assert short_name(RULES, principal, "EMR.DIRKIT.TEST") == short


def test_foreign_realm_has_no_rule() -> None:
    with pytest.raises(NoMatchingRule):
        short_name(RULES, "bob@OTHER.REALM", "EMR.DIRKIT.TEST")


def test_result_with_at_is_an_error() -> None:
    with pytest.raises(NoMatchingRule, match="contains"):
        short_name([r"RULE:[1:$1@$0](.*)s/x/y/"], "a@B", "C")
