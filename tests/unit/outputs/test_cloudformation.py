"""`dirkit emr cloudformation`: every role mapping of the template resolves to the role ARN that
`dirkit emr security-config` renders, whatever the role names (issue 19, item 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seed_fixture import ACCOUNT, seed_config

from dirkit._config import ad_site
from dirkit._outputs import cloudformation, emr
from dirkit.errors import ConfigError

ARN = f"arn:aws:iam::{ACCOUNT}:role"
# Names built to collide under any lossy scheme: punctuation dropped, case folded, the escape
# letter itself, and a name spelling out another's escape sequence.
COLLIDING = [
    "emrfs.admins",
    "emrfs-admins",
    "emrfs_admins",
    "emrfsadmins",
    "EmrfsAdminsX",
    "emrfsZhadmins",
    "emrfsZ-admins",
]


def _resolve(template: dict[str, Any]) -> list[str]:
    """The role ARN each mapping of the template's security configuration ends up with, the way
    CloudFormation resolves Fn::GetAtt [<logical id>, Arn] in account ACCOUNT."""
    resources = template["Resources"]
    sc = resources["SecurityConfiguration"]["Properties"]["SecurityConfiguration"]
    arns = []
    for mapping in sc["AuthorizationConfiguration"]["EmrFsConfiguration"]["RoleMappings"]:
        logical, attr = mapping["Role"]["Fn::GetAtt"]
        assert attr == "Arn"
        props = resources[logical]["Properties"]
        arns.append(f"arn:aws:iam::{ACCOUNT}:role{props['Path']}{props['RoleName']}")
    return arns


def _rendered(cfg_mappings: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    cfg = seed_config(emr={"role_mappings": cfg_mappings})
    assert cfg.emr is not None
    sc = emr.security_configuration(cfg.emr, ad_site(cfg))
    want = [m["Role"] for m in sc["AuthorizationConfiguration"]["EmrFsConfiguration"]["RoleMappings"]]
    return want, cloudformation.template(cfg.emr, sc)


def test_roles_whose_names_differ_only_in_punctuation_stay_apart() -> None:
    # The reproduced finding: Domain Users mapped to emrfs.admins first, admin1 to emrfs-admins.
    want, template = _rendered(
        [
            {"role": f"{ARN}/emrfs.admins", "groups": ["domain users"]},
            {"role": f"{ARN}/emrfs-admins", "users": ["admin1"]},
        ]
    )
    assert _resolve(template) == want == [f"{ARN}/emrfs.admins", f"{ARN}/emrfs-admins"]
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 2


def test_every_mapping_resolves_to_its_role_for_names_built_to_collide() -> None:
    mappings = [{"role": f"{ARN}/team/{n}", "users": [f"u{i}"]} for i, n in enumerate(COLLIDING)]
    want, template = _rendered(mappings)
    assert _resolve(template) == want
    ids = [cloudformation.logical_id(n) for n in COLLIDING]
    assert len(set(ids)) == len(ids)
    assert all(i.isascii() and i.isalnum() and len(i) <= 255 for i in ids)
    # The EC2 role's assume policy and the outputs name every role too.
    policy = template["Resources"]["Ec2RoleAssumesMappingRoles"]["Properties"]["PolicyDocument"]
    assert {r["Fn::GetAtt"][0] for r in policy["Statement"][0]["Resource"]} == set(ids)


@given(st.lists(st.text(alphabet="aZz_-.+=,@9", min_size=1, max_size=64), min_size=1, max_size=8, unique_by=str.lower))
def test_logical_ids_are_unique_and_stable_for_any_role_names(names: list[str]) -> None:
    ids = [cloudformation.logical_id(n) for n in names]
    assert len(set(ids)) == len(names)
    # Stable: a role's id depends on its name only, not on the other roles of the template.
    want, template = _rendered([{"role": f"{ARN}/{n}", "users": ["admin1"]} for n in names])
    assert _resolve(template) == want
    assert all(cloudformation.logical_id(n) in template["Resources"] for n in names)


def test_two_arns_naming_one_iam_role_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"role_mappings\[1\].role .* name the same IAM role"):
        seed_config(
            emr={
                "role_mappings": [
                    {"role": f"{ARN}/a/Admins", "users": ["admin1"]},
                    {"role": f"{ARN}/b/admins", "users": ["dataeng1"]},
                ]
            }
        )


def test_a_role_name_iam_would_refuse_is_a_config_error() -> None:
    for bad in (f"{ARN}/zoë", f"{ARN}/" + "a" * 65, f"{ARN}/a b"):
        with pytest.raises(ConfigError, match="is not an IAM role ARN"):
            seed_config(emr={"role_mappings": [{"role": bad, "users": ["admin1"]}]})
    assert json.dumps(_rendered([{"role": f"{ARN}/ok", "users": ["admin1"]}])[0]) == json.dumps([f"{ARN}/ok"])
