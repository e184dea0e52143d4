"""The access report (`dirkit report`): who can reach what, computed once for everyone.

For each user: effective groups with the chain behind each, the names the cluster nodes show
(SSSD) and the groups they cannot resolve, the HDFS home the policy gives them, and per S3
prefix the IAM role EMRFS would pick and the mapping that decides it. Per role: who gets it,
where and through which mapping. Per group: direct and effective members. The roles come from
the same first-match `decide` as `dirkit emr explain`; the cluster's view from the same
prediction as `dirkit snapshot --user`.

Every report carries its evidence: the snapshot's content digest, the DC and USN it was read
from, the run that applied it, dirkit's version and when the report was made.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import __version__
from ._config import Config
from ._directory.model import Directory
from ._homes.policy import home_path
from ._outputs.role_mappings import decide
from ._plan import content_digest
from ._sssd.view import ClusterView

FORMAT = "dirkit.report/1"
CSV_FIELDS = ("user", "enabled", "prefix", "role", "mapping_index", "reason", "groups", "cluster_unresolved")


@dataclass(frozen=True)
class Access:
    """The role EMRFS picks for one user on one prefix, and the mapping that decides it."""

    prefix: str
    role: str
    mapping_index: int | None  # None: no mapping matched, the EC2 instance profile's role
    reason: str


@dataclass(frozen=True)
class UserAccess:
    """One user's line of the report."""

    name: str
    sam_account_name: str
    enabled: bool
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group, the chain from the user's direct group)
    cluster_name: str
    cluster_unresolved: tuple[str, ...]  # groups the nodes show as SIDs (AD names)
    home: str | None
    access: tuple[Access, ...]


@dataclass(frozen=True)
class AccessReport:
    """The whole report; ``to_json`` is docs/json.md's ``dirkit.report/1``, ``to_csv`` one row per user and prefix."""

    evidence: Mapping[str, Any]
    prefixes: tuple[str, ...]
    users: tuple[UserAccess, ...]
    roles: Mapping[str, tuple[tuple[str, str, int | None], ...]]  # role -> (user, prefix, mapping index)
    groups: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # group -> (direct, effective members)

    def to_json(self) -> dict[str, Any]:
        """The report as docs/json.md documents it."""
        return {
            "format": FORMAT,
            "evidence": dict(self.evidence),
            "prefixes": list(self.prefixes),
            "users": [
                {
                    "name": u.name,
                    "sam_account_name": u.sam_account_name,
                    "enabled": u.enabled,
                    "groups": [{"group": g, "via": list(via)} for g, via in u.groups],
                    "cluster": {"name": u.cluster_name, "unresolved_groups": list(u.cluster_unresolved)},
                    "home": u.home,
                    "access": [
                        {"prefix": a.prefix, "role": a.role, "mapping_index": a.mapping_index, "reason": a.reason}
                        for a in u.access
                    ],
                }
                for u in self.users
            ],
            "roles": [
                {"role": r, "grants": [{"user": u, "prefix": p, "mapping_index": i} for u, p, i in grants]}
                for r, grants in sorted(self.roles.items())
            ],
            "groups": [
                {"group": g, "direct_members": list(direct), "effective_members": list(eff)}
                for g, (direct, eff) in sorted(self.groups.items())
            ],
        }

    def to_csv(self) -> str:
        """One row per user and prefix, for a spreadsheet (the evidence in the first lines, as comments)."""
        out = io.StringIO()
        for k, v in sorted(self.evidence.items()):
            out.write(f"# {k}: {v}\n")
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_FIELDS)
        for u in self.users:
            for a in u.access:
                groups = ";".join(g for g, _ in u.groups)
                index = "" if a.mapping_index is None else a.mapping_index
                w.writerow(
                    (u.name, u.enabled, a.prefix, a.role, index, a.reason, groups, ";".join(u.cluster_unresolved))
                )
        return out.getvalue()


def prefixes(cfg: Config) -> tuple[str, ...]:
    """``[report] s3_paths``, else every prefix a role mapping names and each bucket's root."""
    if cfg.report is not None and cfg.report.s3_paths:
        return tuple(cfg.report.s3_paths)
    emr = cfg.emr
    found = {p for m in (emr.role_mappings if emr else []) for p in (m.prefixes or [])}
    found |= {f"s3://{b}/" for b in (emr.buckets if emr else [])}
    return tuple(sorted(found))


def build(cfg: Config, d: Directory, view: ClusterView, run_id: int | None, now: float | None = None) -> AccessReport:
    """The report of snapshot ``d`` (applied by run ``run_id``)."""
    emr = cfg.emr
    paths = prefixes(cfg)
    roles: dict[str, list[tuple[str, str, int | None]]] = {}
    users = []
    for u in d.named_users():
        name = u.name or ""
        group_names = d.group_names_of(u)
        chains = tuple(
            (d.groups[gid].name or "", tuple(d.groups[g].sam for g in d.chain(u.guid, gid)))
            for gid in sorted(d.effective.get(u.guid, {}), key=lambda g: d.groups[g].name or "")
            if d.groups[gid].name
        )
        access = []
        for path in paths:
            dec = decide(emr.role_mappings, emr.ec2_role_arn, name, group_names, path) if emr else None
            if dec is None:
                continue
            access.append(Access(path, dec.role, dec.mapping_index, dec.reason))
            roles.setdefault(dec.role, []).append((name, path, dec.mapping_index))
        node = view.users.get(u.guid)
        unresolved = (
            tuple(sorted(d.groups[g.guid].name or d.groups[g.guid].sam for g in node.unresolved)) if node else ()
        )
        home = home_path(cfg.hdfs.prefix, name) if cfg.hdfs is not None else None
        users.append(
            UserAccess(name, u.sam, u.enabled, chains, node.name if node else name, unresolved, home, tuple(access))
        )
    direct: dict[str, list[str]] = {g.guid: [] for g in d.named_groups()}
    effective: dict[str, list[str]] = {g.guid: [] for g in d.named_groups()}
    for u in d.named_users():  # named_users() is sorted: so are the member lists
        for gid in d.direct.get(u.guid, ()):
            direct.get(gid, []).append(u.name or "")
        for gid in d.effective.get(u.guid, {}):
            effective.get(gid, []).append(u.name or "")
    groups = {d.groups[g].name or "": (tuple(direct[g]), tuple(effective[g])) for g in direct}
    info = d.read
    evidence = {
        "snapshot_digest": content_digest(d),
        "dc": info.dc or None,
        "usn": info.highest_usn,
        "run_id": run_id,
        "dirkit_version": __version__,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now if now is not None else time.time())),
    }
    return AccessReport(evidence, paths, tuple(users), {r: tuple(v) for r, v in roles.items()}, groups)
