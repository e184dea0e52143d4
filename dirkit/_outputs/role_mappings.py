"""EMRFS role mappings: how EMRFS picks a role (first match wins) and what to warn about.

EMRFS evaluates the mappings top-down; the first one that matches the request decides the
role, and with no match the cluster's EC2 instance-profile role is used. A User mapping
matches the Hadoop user, a Group mapping any of the user's Hadoop groups (on EMR with AD,
SSSD's lower-cased AD groups, which is what the snapshot's normalised names are), a Prefix
mapping any S3 URI that starts with one of its prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._config import EmrConfig, RoleMappingConfig
from .._directory.model import Directory
from .._directory.names import NamePolicy
from .._sssd.view import FIX, ClusterView


@dataclass(frozen=True)
class Decision:
    """Which IAM role EMRFS picks for a user and a path, the mapping that decides it, and why."""

    user: str
    path: str
    role: str
    mapping_index: int | None  # None: no mapping matched, the EC2 base role applies
    reason: str
    groups: tuple[str, ...]
    considered: tuple[str, ...] = field(default=())  # one line per mapping tried, in order
    known: bool = True  # False: the user is not in the AD snapshot (so has no groups)
    # Where the cluster nodes decide otherwise (a group that does not resolve under SSSD's
    # settings): the role they pick, and why. None: the nodes agree with AD's view.
    cluster_role: str | None = None
    cluster_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """This decision as docs/json.md's `emr explain --json` documents it."""
        return {
            "user": self.user,
            "path": self.path,
            "role": self.role,
            "mapping_index": self.mapping_index,
            "reason": self.reason,
            "groups": list(self.groups),
            "considered": list(self.considered),
            "cluster_role": self.cluster_role,
            "cluster_reason": self.cluster_reason,
        }


def match(mapping: RoleMappingConfig, user: str, groups: Sequence[str], path: str) -> str | None:
    """Why ``mapping`` matches this request, or None."""
    if mapping.users is not None:
        return f"user {user!r} is listed" if user in mapping.users else None
    if mapping.groups is not None:
        hit = [g for g in mapping.groups if g in groups]
        return f"user is in group {hit[0]!r}" if hit else None
    hit = [p for p in mapping.prefixes or [] if path.startswith(p)]
    return f"path starts with {hit[0]!r}" if hit else None


def decide(
    mappings: Sequence[RoleMappingConfig], base_role: str, user: str, groups: Sequence[str], path: str
) -> Decision:
    considered = []
    for i, m in enumerate(mappings):
        why = match(m, user, groups, path)
        considered.append(
            f"#{i} {m.identifier_type} {','.join(m.identifiers)}: {'MATCH, ' + why if why else 'no match'}"
        )
        if why:
            return Decision(
                user, path, m.role, i, f"mapping #{i} ({m.identifier_type}): {why}", tuple(groups), tuple(considered)
            )
    return Decision(
        user,
        path,
        base_role,
        None,
        "no mapping matched: the EC2 instance-profile role applies",
        tuple(groups),
        tuple(considered),
    )


def explain(
    emr: EmrConfig, directory: Directory, policy: NamePolicy, user: str, path: str, view: ClusterView | None = None
) -> Decision:
    """Which role EMRFS would use for ``user`` reading ``path``, from the snapshot's groups;
    with the cluster ``view``, also what the nodes decide where a group of the user's does not
    resolve there."""
    name = policy.normalise(user).name or user
    u = directory.user_by_name(name)
    groups = tuple(directory.group_names_of(u)) if u else ()
    decision = replace(decide(emr.role_mappings, emr.ec2_role_arn, name, groups, path), known=u is not None)
    node = view.users.get(u.guid) if (view is not None and u is not None) else None
    if u is None or node is None or not node.unresolved:
        return decision
    lost = {g.guid for g in node.unresolved}
    on_nodes = tuple(n for gid, n in _named_groups(directory, u.guid) if gid not in lost)
    other = decide(emr.role_mappings, emr.ec2_role_arn, name, on_nodes, path)
    if other.role == decision.role:
        return decision
    missing = ", ".join(sorted(directory.groups[g].sam for g in lost))
    return replace(
        decision,
        cluster_role=other.role,
        cluster_reason=(
            f"on the cluster nodes {missing} does not resolve (SSSD's settings, [sssd]): {other.reason}. "
            f"Fix: {FIX} the contact/foreign member from {missing}"
        ),
    )


def _named_groups(d: Directory, user_guid: str) -> list[tuple[str, str]]:
    return sorted((gid, d.groups[gid].name or "") for gid in d.effective.get(user_guid, {}) if d.groups[gid].name)


def warnings(emr: EmrConfig, directory: Directory, policy: NamePolicy, view: ClusterView | None = None) -> list[str]:
    """Mappings that would never match, or be resolved differently by EMR, or are shadowed;
    with the cluster ``view``, group mappings that can match in AD's view only."""
    out: list[str] = []
    unresolved = {directory.groups[g].name: g for g in (view.unreadable if view else {})}
    users_seen: set[str] = set()  # users an earlier User/Group mapping already decides for
    prefixes_seen: list[str] = []
    members: dict[str, set[str]] = {}  # group name -> effective members, from one pass
    for u in directory.named_users():
        for g in directory.group_names_of(u):
            members.setdefault(g, set()).add(u.name or "")
    for i, m in enumerate(emr.role_mappings):
        where = f"emr.role_mappings[{i}]"
        for ident in m.identifiers:
            if m.identifier_type in ("User", "Group"):
                norm = policy.normalise(ident).name
                exists = directory.user_by_name if m.identifier_type == "User" else directory.group_by_name
                if norm is not None and norm != ident and exists(norm) is not None:
                    out.append(
                        f"{where}: {m.identifier_type.lower()} {ident!r} is {norm!r} on the cluster "
                        f"(names policy): write {norm!r} or the mapping never matches"
                    )
                elif exists(ident) is None:
                    out.append(
                        f"{where}: {m.identifier_type.lower()} {ident!r} is not in the AD snapshot: "
                        "this mapping would never match"
                    )
            if m.identifier_type == "Group" and ident in unresolved:
                out.append(
                    f"{where}: group {ident!r} does not resolve on the cluster nodes with SSSD's settings "
                    f"([sssd]): this mapping matches in AD's view only, never on the nodes. Fix: {FIX} "
                    f"the contact/foreign member from {ident}"
                )
            if m.identifier_type == "User" and ident in users_seen:
                out.append(f"{where}: user {ident!r} is shadowed by an earlier mapping")
            elif m.identifier_type == "Group" and members.get(ident) and members[ident] <= users_seen:
                out.append(f"{where}: group {ident!r} is shadowed: every member is decided by an earlier mapping")
            elif m.identifier_type == "Prefix":
                earlier = [p for p in prefixes_seen if ident.startswith(p)]
                if earlier:
                    out.append(f"{where}: prefix {ident!r} is shadowed by the earlier prefix {earlier[0]!r}")
                if ident.count("/") == 2:
                    out.append(
                        f"{where}: prefix {ident!r} has no trailing '/': it also matches {ident}-other/… buckets"
                    )
        if m.identifier_type == "User":
            users_seen |= set(m.identifiers)
        elif m.identifier_type == "Group":
            for g in m.identifiers:
                users_seen |= members.get(g, set())
        else:
            prefixes_seen += m.identifiers
    return out
