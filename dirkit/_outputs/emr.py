"""The EMR security configuration, the --kerberos-attributes JSON and the IAM documents."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from .._config import AdSite, EmrConfig, SecretRef
from .._directory.model import Directory
from ..errors import ConfigError


def _ad_side(emr: EmrConfig, ad: AdSite) -> dict[str, str]:
    dc = urlparse(ad.urls[0]).hostname or ""
    return {
        "Realm": ad.realm,
        "Domain": emr.ad_domain or ad.realm.lower(),
        "AdminServer": emr.ad_admin_server or dc,
        "KdcServer": emr.ad_kdc_server or dc,
    }


AWS_MANAGED_AD = (
    "Amazon EMR does not support AWS Directory Service for Microsoft Active Directory in a cross-realm "
    "trust or as an external KDC."
)


def refuse_aws_managed_ad(directory: Directory) -> None:
    """dirkit's security configuration always sets up a cross-realm trust (or an external KDC
    with AD integration): neither works with AWS Managed Microsoft AD (AWS EMR management guide)."""
    if directory.aws_managed_ad:
        raise ConfigError(
            f"emr: {AWS_MANAGED_AD} This directory has AWS Managed Microsoft AD's layout (OU=AWS Reserved / "
            "OU=AWS Delegated Groups)."
        )


def security_configuration(emr: EmrConfig, site: AdSite) -> dict[str, Any]:
    """The document for `aws emr create-security-configuration --security-configuration`."""
    ad = _ad_side(emr, site)
    if emr.kdc == "cluster-dedicated":
        kerberos: dict[str, Any] = {
            "Provider": "ClusterDedicatedKdc",
            "ClusterDedicatedKdcConfiguration": {
                "TicketLifetimeInHours": emr.ticket_lifetime_hours,
                "CrossRealmTrustConfiguration": ad,
            },
        }
    else:
        kerberos = {
            "Provider": "ExternalKdc",
            "ExternalKdcConfiguration": {
                "KdcServerType": "Single",
                "AdminServer": emr.external_admin_server,
                "KdcServer": emr.external_kdc_server,
                "AdIntegrationConfiguration": {"AdRealm": ad["Realm"], "AdDomain": ad["Domain"]},
            },
        }
    doc: dict[str, Any] = {"AuthenticationConfiguration": {"KerberosConfiguration": kerberos}}
    if emr.role_mappings:
        doc["AuthorizationConfiguration"] = {
            "EmrFsConfiguration": {
                "RoleMappings": [
                    {"Role": m.role, "IdentifierType": m.identifier_type, "Identifiers": list(m.identifiers)}
                    for m in emr.role_mappings  # order kept: EMRFS evaluates top-down, first match wins
                ]
            }
        }
    if emr.encryption is not None:
        doc["EncryptionConfiguration"] = emr.encryption
    if emr.imds is not None:
        doc["InstanceMetadataServiceConfiguration"] = {
            "MinimumInstanceMetadataServiceVersion": emr.imds.minimum_version,
            "HttpPutResponseHopLimit": emr.imds.hop_limit,
        }
    return doc


def kerberos_attributes(emr: EmrConfig, reveal: bool = False) -> dict[str, str]:
    """`aws emr create-cluster --kerberos-attributes` JSON. Passwords are shown as their secret
    references unless ``reveal`` (then resolved; never logged)."""
    ka = emr.kerberos_attributes
    if ka is None:
        raise ConfigError("emr.kerberos_attributes is missing (kdc_admin_password is required)")

    def secret(ref: SecretRef) -> str:
        return ref.resolve() if reveal else f"<secret {ref}>"

    out = {"Realm": emr.cluster_realm, "KdcAdminPassword": secret(ka.kdc_admin_password)}
    if ka.cross_realm_trust_principal_password is not None:
        out["CrossRealmTrustPrincipalPassword"] = secret(ka.cross_realm_trust_principal_password)
    if ka.ad_domain_join_user is not None:
        out["ADDomainJoinUser"] = ka.ad_domain_join_user
    if ka.ad_domain_join_password is not None:
        out["ADDomainJoinPassword"] = secret(ka.ad_domain_join_password)
    return out


# The IAM policy documents, written once for both `emr iam` (ARNs) and the CloudFormation
# template (the same statements over Ref/GetAtt/Fn::Sub expressions).
def trust_policy(principal: Any) -> dict[str, Any]:
    """A role's trust policy: ``principal`` (an AWS principal) may assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    }


def s3_policy(buckets: Any, objects: Any) -> dict[str, Any]:
    """The S3 policy skeleton of a mapping role: list ``buckets``, read and write ``objects``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListBuckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": buckets,
            },
            {
                "Sid": "ReadWriteObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
            },
        ],
    }


def assume_roles_policy(roles: Any) -> dict[str, Any]:
    """The EC2 role's permission to assume the mapping ``roles``."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": roles}]}


def iam_documents(emr: EmrConfig) -> dict[str, Any]:
    """Per mapping role: the trust policy (the EC2 instance-profile role may sts:AssumeRole it)
    and an S3 policy skeleton for the configured buckets; for the EC2 role: a permissions policy
    allowing it to assume the mapping roles, and its trust policy (EC2, and the mapping roles)."""
    roles = list(dict.fromkeys(m.role for m in emr.role_mappings))
    trust = trust_policy(emr.ec2_role_arn)
    s3 = (
        s3_policy([f"arn:aws:s3:::{b}" for b in emr.buckets], [f"arn:aws:s3:::{b}/*" for b in emr.buckets])
        if emr.buckets
        else None
    )
    return {
        "base_role": {
            "arn": emr.ec2_role_arn,
            "assume_mapping_roles_policy": assume_roles_policy(roles) if roles else None,
            # AWS (EMRFS roles page): "the cluster's EMR role for EC2 must have a trust policy that
            # allows EMRFS roles to assume it". EC2 itself stays trusted: it is an instance profile.
            "trust_policy": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                    *([{"Effect": "Allow", "Principal": {"AWS": roles}, "Action": "sts:AssumeRole"}] if roles else []),
                ],
            },
        },
        "mapping_roles": [{"arn": r, "trust_policy": trust, "s3_policy_skeleton": s3} for r in roles],
    }


def dumps(doc: Any) -> str:
    """Deterministic JSON (sorted keys, fixed indent, trailing newline): re-runs are byte-identical."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
