"""One CloudFormation template with what `dirkit emr security-config` and `dirkit emr iam` render:
the EMR security configuration, the EMRFS role-mapping roles (trust + S3 policy skeleton), and
the EC2 role's side (an inline policy letting it assume those roles).

Parameters are what an admin changes per stack: the security configuration's name (default: a
content-hashed name, as `dirkit emr apply` uses), the existing EC2 instance-profile role's name
and the buckets. Role ARNs are built from the deploying account (``AWS::AccountId``,
``AWS::Partition``), so one template serves every account. Nothing secret is in it: the
cross-realm trust password goes to the cluster (`dirkit emr kerberos-attributes`), not here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .._config import EmrConfig
from .emr import assume_roles_policy, iam_documents, s3_policy, trust_policy

MANAGED_TAG = {"Key": "managed-by", "Value": "dirkit"}


def content_name(doc: dict[str, Any], prefix: str = "dirkit") -> str:
    """A security configuration's name from its content: EMR security configurations cannot be
    changed, so a changed document gets a new name and the old one stays for running clusters."""
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


def role_name(arn: str) -> tuple[str, str]:
    """(path, name) of an IAM role ARN: arn:aws:iam::123:role/some/path/name."""
    resource = arn.split(":", 5)[5]
    parts = resource.split("/")[1:]
    return "/" + "".join(p + "/" for p in parts[:-1]), parts[-1]


# A logical id is [A-Za-z0-9] only. Role names may hold _+=,.@- too, so each of those (and the
# escape letter itself) becomes "Z" + one letter: an injective encoding, so two role names can
# never share a logical id, and a role keeps its id whatever other roles the template holds
# (a changed logical id would make CloudFormation replace the role).
_ESCAPES = {"Z": "ZZ", "-": "Zh", ".": "Zd", "_": "Zu", "+": "Zp", "=": "Ze", ",": "Zc", "@": "Za"}


def logical_id(role: str) -> str:
    """The template's logical id of the mapping role named ``role``: unique and stable."""
    out = []
    for ch in role:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isascii() and ch.isalnum():
            out.append(ch)
        else:  # IAM allows no other character; the config refuses them, so this is a guard
            out.append(f"Zx{ord(ch):06X}")
    return "MappingRole" + "".join(out)


def _role_arn(name: str, path: str = "/") -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}{name}"}


def _object_arns() -> dict[str, Any]:
    # BucketArns ["arn:aws:s3:::a", "arn:aws:s3:::b"] -> ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"].
    return {"Fn::Split": [",", {"Fn::Join": ["", [{"Fn::Join": ["/*,", {"Ref": "BucketArns"}]}, "/*"]]}]}


def template(emr: EmrConfig, sc: dict[str, Any]) -> dict[str, Any]:
    """The stack for the security configuration ``sc`` (as the document registry renders it)."""
    iam = iam_documents(emr)
    roles = [role_name(r["arn"]) for r in iam["mapping_roles"]]
    logical = {name: logical_id(name) for _, name in roles}
    # The security configuration names the roles the template creates, in this account.
    body = copy.deepcopy(sc)
    for mapping in body.get("AuthorizationConfiguration", {}).get("EmrFsConfiguration", {}).get("RoleMappings", []):
        mapping["Role"] = {"Fn::GetAtt": [logical[role_name(mapping["Role"])[1]], "Arn"]}
    _, ec2_name = role_name(emr.ec2_role_arn)
    resources: dict[str, Any] = {
        "SecurityConfiguration": {
            "Type": "AWS::EMR::SecurityConfiguration",
            "Properties": {"Name": {"Ref": "SecurityConfigurationName"}, "SecurityConfiguration": body},
        }
    }
    for path, name in roles:
        props: dict[str, Any] = {
            "RoleName": name,
            "Path": path,
            "Description": "EMRFS role mapping target (dirkit)",
            "AssumeRolePolicyDocument": trust_policy(_role_arn("${Ec2RoleName}")),
            "Tags": [MANAGED_TAG],
        }
        if emr.buckets:
            props["Policies"] = [
                {
                    "PolicyName": "dirkit-s3",
                    "PolicyDocument": s3_policy({"Ref": "BucketArns"}, _object_arns()),
                }
            ]
        resources[logical[name]] = {"Type": "AWS::IAM::Role", "Properties": props}
    if roles:
        resources["Ec2RoleAssumesMappingRoles"] = {
            "Type": "AWS::IAM::RolePolicy",
            "Properties": {
                "RoleName": {"Ref": "Ec2RoleName"},
                "PolicyName": "dirkit-assume-mapping-roles",
                "PolicyDocument": assume_roles_policy([{"Fn::GetAtt": [logical[n], "Arn"]} for _, n in roles]),
            },
        }
    parameters: dict[str, Any] = {
        "SecurityConfigurationName": {
            "Type": "String",
            "Default": content_name(sc),
            "Description": "EMR security configurations cannot change: a new content gets a new name",
        },
        "Ec2RoleName": {
            "Type": "String",
            "Default": ec2_name,
            "Description": "The existing EC2 instance-profile role of the cluster (its trust policy must "
            "also let the mapping roles assume it: see `dirkit emr iam`)",
        },
    }
    if emr.buckets and roles:
        parameters["BucketArns"] = {
            "Type": "CommaDelimitedList",
            "Default": ",".join(f"arn:aws:s3:::{b}" for b in emr.buckets),
            "Description": "ARNs of the S3 buckets the mapping roles may use (a skeleton: narrow it per role)",
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "EMR Kerberos with a cross-realm trust to Active Directory, and EMRFS role mappings "
        "(generated by dirkit emr cloudformation)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": {
            "SecurityConfigurationName": {
                "Description": "Give this to new clusters (--security-configuration)",
                "Value": {"Ref": "SecurityConfiguration"},
            },
            **{
                f"{logical[n]}Arn": {
                    "Description": f"EMRFS mapping role {n}",
                    "Value": {"Fn::GetAtt": [logical[n], "Arn"]},
                }
                for _, n in roles
            },
        },
    }
