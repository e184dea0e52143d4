"""Make AWS match what dirkit renders for EMR: `dirkit emr apply` and `dirkit emr diff`.

- The security configuration: EMR never changes one in place, so the rendered document gets a
  content-hashed name (``dirkit-<sha256[:12]>``); a missing one is created, and none is ever
  deleted (a running cluster may use it). The name a new cluster should use is printed.
- The EMRFS mapping roles: created (tagged ``managed-by=dirkit``) with the trust policy and the
  S3 policy skeleton (inline ``dirkit-s3``); for roles dirkit created, a drifted trust or S3
  policy is put back. A role dirkit did not create is never changed: differences are reported.
- The EC2 role's side: the inline policy ``dirkit-assume-mapping-roles`` on the existing EC2
  role (only that policy; the role must exist). Its trust policy is compared, never changed.

Credentials, region and endpoint come the boto3 way (profiles, environment, instance role;
``AWS_ENDPOINT_URL`` or ``endpoint_url``): that is how the tests reach moto's server.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from ._config import EmrConfig
from ._outputs.cloudformation import content_name, role_name
from ._outputs.documents import Document
from ._outputs.emr import iam_documents
from .errors import AwsError

MANAGED = ("managed-by", "dirkit")
S3_POLICY = "dirkit-s3"
EC2_POLICY = "dirkit-assume-mapping-roles"


@dataclass(frozen=True)
class AwsChange:
    """One difference between AWS and the rendered documents, and what apply does about it."""

    kind: Literal["create_security_configuration", "create_role", "update_trust", "put_policy", "drift"]
    target: str
    detail: str = ""
    diff: str = ""  # unified diff of the JSON documents (deployed -> rendered)
    action: bool = True  # False: reported only (a role dirkit did not create)

    def to_json(self) -> dict[str, Any]:
        """This change as docs/json.md's `emr apply --json` documents it."""
        return {
            "kind": self.kind,
            "target": self.target,
            "detail": self.detail,
            "diff": self.diff,
            "action": self.action,
        }


@dataclass
class DeployPlan:
    """What `emr apply` would do: the security configuration's name and every difference found."""

    security_configuration: str  # the name a new cluster should use
    changes: list[AwsChange] = field(default_factory=list)
    warnings: tuple[str, ...] = ()  # the document's checks against the last applied snapshot

    @property
    def actions(self) -> list[AwsChange]:
        """The changes apply makes (the others are only reported: roles dirkit did not create)."""
        return [c for c in self.changes if c.action]

    def to_json(self) -> dict[str, Any]:
        """The plan as docs/json.md's `emr apply --json` / `emr diff --json` documents it."""
        return {
            "format": "dirkit.emr-deploy/1",
            "security_configuration": self.security_configuration,
            "changes_pending": bool(self.actions),
            "drift": bool(self.changes),
            "changes": [c.to_json() for c in self.changes],
            "warnings": list(self.warnings),
        }


def _doc(value: Any) -> Any:
    """A policy document as IAM returns it (a dict, or a URL-encoded JSON string)."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


def _norm(doc: Any) -> Any:
    """Compare policies as IAM means them: a one-element list equals its element."""
    if isinstance(doc, dict):
        return {k: _norm(v) for k, v in sorted(doc.items())}
    if isinstance(doc, list):
        items = [_norm(v) for v in doc]
        return items[0] if len(items) == 1 else sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    return doc


def _diff(old: Any, new: Any, name: str) -> str:
    a = json.dumps(old, indent=2, sort_keys=True).splitlines() if old is not None else []
    b = json.dumps(new, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, f"{name} (deployed)", f"{name} (dirkit)", lineterm=""))


class Deployer:
    def __init__(self, emr: EmrConfig, document: Document, session: Any, endpoint_url: str | None = None) -> None:
        """``document``: the security configuration as the document registry renders and checks it."""
        from botocore.exceptions import BotoCoreError

        self.emr_cfg = emr
        self.document = document
        self.sc: dict[str, Any] = json.loads(document.text)
        try:  # no region configured anywhere fails here, before any call
            self.emr = session.client("emr", endpoint_url=endpoint_url)
            self.iam = session.client("iam", endpoint_url=endpoint_url)
        except BotoCoreError as exc:
            raise AwsError(f"AWS: {exc} (set --region or AWS_REGION, or a region in the profile)") from exc

    @classmethod
    def connect(
        cls,
        emr: EmrConfig,
        document: Document,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> Deployer:
        try:
            import boto3
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise AwsError("dirkit emr apply/diff need boto3: pip install 'dirkit[aws]'") from exc
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:  # an unknown --profile
            raise AwsError(f"AWS: {exc}") from exc
        return cls(emr, document, session, endpoint_url)

    # -- reading -------------------------------------------------------------------------
    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchEntity", "InvalidRequestException") and what.startswith("get"):
                return None
            raise AwsError(f"{what}: {code}: {exc.response.get('Error', {}).get('Message', '')}") from exc
        except BotoCoreError as exc:
            raise AwsError(f"{what}: {exc}") from exc

    def _role(self, name: str) -> dict[str, Any] | None:
        got = self._call(f"get role {name}", self.iam.get_role, RoleName=name)
        return got["Role"] if got else None

    def _role_policy(self, role: str, policy: str) -> Any:
        got = self._call(f"get role policy {role}/{policy}", self.iam.get_role_policy, RoleName=role, PolicyName=policy)
        return _doc(got["PolicyDocument"]) if got else None

    def _managed(self, name: str) -> bool:
        got = self._call(f"get role tags {name}", self.iam.list_role_tags, RoleName=name) or {}
        return any((t["Key"], t["Value"]) == MANAGED for t in got.get("Tags", []))

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> DeployPlan:
        name = content_name(self.sc)
        plan = DeployPlan(name, warnings=self.document.warnings)
        found = self._call(f"get security configuration {name}", self.emr.describe_security_configuration, Name=name)
        if found is None:
            plan.changes.append(AwsChange("create_security_configuration", name, "the rendered document is new"))
        iam = iam_documents(self.emr_cfg)
        for role in iam["mapping_roles"]:
            self._plan_role(plan, role)
        self._plan_ec2_role(plan, iam["base_role"])
        return plan

    def _plan_role(self, plan: DeployPlan, role: dict[str, Any]) -> None:
        path, name = role_name(role["arn"])
        have = self._role(name)
        if have is None:
            plan.changes.append(AwsChange("create_role", name, f"path {path}, tagged managed-by=dirkit"))
            return
        ours = self._managed(name)
        trust = _doc(have["AssumeRolePolicyDocument"])
        if _norm(trust) != _norm(role["trust_policy"]):
            plan.changes.append(
                AwsChange(
                    "update_trust" if ours else "drift",
                    name,
                    "trust policy differs" + ("" if ours else " (not a dirkit role: left as it is)"),
                    _diff(trust, role["trust_policy"], f"{name} trust policy"),
                    action=ours,
                )
            )
        if role["s3_policy_skeleton"] is not None:
            s3 = self._role_policy(name, S3_POLICY)
            if s3 is None or _norm(s3) != _norm(role["s3_policy_skeleton"]):
                plan.changes.append(
                    AwsChange(
                        "put_policy" if ours else "drift",
                        f"{name}/{S3_POLICY}",
                        ("missing" if s3 is None else "differs")
                        + ("" if ours else " (not a dirkit role: left as it is)"),
                        _diff(s3, role["s3_policy_skeleton"], f"{name}/{S3_POLICY}"),
                        action=ours,
                    )
                )

    def _plan_ec2_role(self, plan: DeployPlan, base: dict[str, Any]) -> None:
        _, name = role_name(base["arn"])
        have = self._role(name)
        if have is None:
            raise AwsError(f"emr.ec2_role_arn: the EC2 role {name} does not exist (create the EMR default roles first)")
        want = base["assume_mapping_roles_policy"]
        if want is not None:
            got = self._role_policy(name, EC2_POLICY)
            if got is None or _norm(got) != _norm(want):
                plan.changes.append(
                    AwsChange(
                        "put_policy",
                        f"{name}/{EC2_POLICY}",
                        "missing" if got is None else "differs",
                        _diff(got, want, f"{name}/{EC2_POLICY}"),
                    )
                )
        trust = _doc(have["AssumeRolePolicyDocument"])
        if _norm(trust) != _norm(base["trust_policy"]):
            plan.changes.append(
                AwsChange(
                    "drift",
                    name,
                    "the EC2 role's trust policy does not let the mapping roles assume it (not changed by dirkit: "
                    "see `dirkit emr iam`)",
                    _diff(trust, base["trust_policy"], f"{name} trust policy"),
                    action=False,
                )
            )

    # -- applying ------------------------------------------------------------------------
    def apply(self, plan: DeployPlan) -> list[AwsChange]:
        """Carry out the plan's actions (never a deletion); return those done."""
        done = []
        iam = iam_documents(self.emr_cfg)
        roles = {role_name(r["arn"])[1]: r for r in iam["mapping_roles"]}
        for c in plan.actions:
            if c.kind == "create_security_configuration":
                doc = self.sc
                self._call(
                    f"create security configuration {c.target}",
                    self.emr.create_security_configuration,
                    Name=c.target,
                    SecurityConfiguration=json.dumps(doc, sort_keys=True),
                )
            elif c.kind == "create_role":
                role = roles[c.target]
                path, name = role_name(role["arn"])
                self._call(
                    f"create role {name}",
                    self.iam.create_role,
                    RoleName=name,
                    Path=path,
                    AssumeRolePolicyDocument=json.dumps(role["trust_policy"]),
                    Description="EMRFS role mapping target (dirkit)",
                    Tags=[{"Key": MANAGED[0], "Value": MANAGED[1]}],
                )
                if role["s3_policy_skeleton"] is not None:
                    self._put(name, S3_POLICY, role["s3_policy_skeleton"])
            elif c.kind == "update_trust":
                self._call(
                    f"update trust policy of {c.target}",
                    self.iam.update_assume_role_policy,
                    RoleName=c.target,
                    PolicyDocument=json.dumps(roles[c.target]["trust_policy"]),
                )
            elif c.kind == "put_policy":
                role, policy = c.target.split("/", 1)
                doc = (
                    iam["base_role"]["assume_mapping_roles_policy"]
                    if policy == EC2_POLICY
                    else roles[role]["s3_policy_skeleton"]
                )
                self._put(role, policy, doc)
            done.append(c)
        return done

    def _put(self, role: str, policy: str, doc: Any) -> None:
        self._call(
            f"put role policy {role}/{policy}",
            self.iam.put_role_policy,
            RoleName=role,
            PolicyName=policy,
            PolicyDocument=json.dumps(doc),
        )
