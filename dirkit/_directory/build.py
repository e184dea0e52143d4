"""Raw directory entries -> the immutable ``Directory``: names, memberships, nesting closure.

Pure and deterministic: no LDAP here, so it is tested directly with hand-made entries.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from .._reserved import key as reserved_key
from .model import UAC_DISABLED, Directory, Group, Issue, Membership, ReadInfo, User
from .names import NamePolicy

BUILTIN_SID_PREFIX = "S-1-5-32-"


@dataclass(frozen=True, slots=True)
class RawUser:
    guid: str
    dn: str
    sam: str
    sid: str
    upn: str | None
    display_name: str | None
    uac: int
    primary_group_id: int | None
    usn: int
    system: bool = False  # isCriticalSystemObject: Administrator, Guest, krbtgt
    created_usn: int = 0  # uSNCreated (delta reads: an old object entering the scope)


@dataclass(frozen=True, slots=True)
class RawGroup:
    guid: str
    dn: str
    sam: str
    sid: str
    usn: int
    members: tuple[str, ...]
    created_usn: int = 0


AWS_MANAGED_OUS = (",ou=aws reserved,", ",ou=aws delegated groups,")


def _aws_managed(users: Sequence[RawUser], groups: Sequence[RawGroup], other_dns: Iterable[str]) -> bool:
    """AWS Managed Microsoft AD keeps its own objects in OU=AWS Reserved and OU=AWS Delegated
    Groups; any object, or any group member, seen there means the directory is one. A member
    that is an object read is checked as that object: ``other_dns`` are the rest (members
    not resolved, system accounts)."""
    dns = itertools.chain((u.dn for u in users), (g.dn for g in groups), other_dns)
    return any(ou in "," + dn.lower() for dn in dns for ou in AWS_MANAGED_OUS)


def user_of(u: RawUser, name: str | None) -> User:
    """The snapshot's User of a raw entry, under its decided ``name`` (None: no usable name)."""
    return User(
        guid=u.guid,
        dn=u.dn,
        sam=u.sam,
        name=name,
        sid=u.sid,
        upn=u.upn,
        display_name=u.display_name,
        enabled=not (u.uac & UAC_DISABLED),
        primary_group_sid=(u.sid.rsplit("-", 1)[0] + f"-{u.primary_group_id}" if u.primary_group_id else None),
        usn=u.usn,
    )


def dn_key(dn: str) -> str:
    return dn.lower()


def is_under(dn: str, bases: Sequence[str]) -> bool:
    """``dn`` is one of ``bases`` or below one (DNs compared case-blind)."""
    k = dn_key(dn)
    return any(k == dn_key(b) or k.endswith("," + dn_key(b)) for b in bases)


def _names(objs: Sequence[RawUser | RawGroup], policy: NamePolicy, issues: list[Issue]) -> dict[str, str | None]:
    """GUID -> final name, after the unsafe and collision checks."""
    proposed: dict[str, str | None] = {}
    for o in objs:
        r = policy.directory_name(o.sam)
        proposed[o.guid] = o.sam if r.name == o.sam else r.name  # one string, not two equal ones
        if r.name is None:
            issues.append(Issue("reserved_name" if r.reserved else "unsafe_name", o.dn, f"{o.sam!r}: {r.reason}"))
    counts = Counter(n for n in proposed.values() if n)
    by_guid = {o.guid: o for o in objs}
    for name, n in sorted(counts.items()):
        if n > 1:
            dns = sorted(by_guid[g].dn for g, v in proposed.items() if v == name)
            for g, v in proposed.items():
                if v == name:
                    proposed[g] = None
            for dn in dns:
                others = "; ".join(d for d in dns if d != dn)
                issues.append(Issue("name_collision", dn, f"normalises to {name!r}, as does {others}"))
    return proposed


def _superuser_groups(
    groups: Iterable[Group],
    users: Mapping[str, User],
    effective: Mapping[str, Mapping[str, Membership]],
    policy: NamePolicy,
) -> list[Issue]:
    """AD groups named like a group whose members the cluster treats as superusers: left out of
    every output already (reserved), reported with who would have been a superuser through them."""
    out = []
    for g in groups:
        if not policy.reserved.is_superuser_group(g.sam):
            continue
        members = sorted(users[u].name or users[u].sam for u, m in effective.items() if g.guid in m)
        shown = ", ".join(members[:20]) + (f" and {len(members) - 20} more" if len(members) > 20 else "")
        detail = (
            f"{g.sam!r} is named like the cluster's superuser group {reserved_key(g.sam)!r}: left out of "
            f"every output (core-site's group filter, SSSD's filter_groups); its {len(members)} effective member(s) "
            f"would be HDFS superusers through it{': ' + shown if members else ''}"
        )
        out.append(Issue("superuser_group", g.dn, detail))
    return out


def _memberships(
    parents: Mapping[str, Sequence[str]],
    direct: Sequence[str],
    primary: str | None,
    interned: dict[Membership, Membership],
) -> dict[str, Membership]:
    """Every group reachable from the direct groups ``direct`` (sorted), by a breadth-first walk
    up the nesting: each gets the group it was first reached from (``via``), so one shortest
    chain per membership is kept as a pointer, not a copy. Memory is one entry per membership
    whatever the depth (a chain of 1,000 nested groups stored 1,000 chains of up to 1,000 before).
    Cycle-safe; the same chain on every run (parents are walked in sorted order). Equal
    memberships of different users are one object (``interned``): most users of a group
    reach it the same way."""
    out: dict[str, Membership] = {}
    queue: deque[str] = deque()

    def add(m: Membership) -> None:
        out[m.group_guid] = interned.setdefault(m, m)
        queue.append(m.group_guid)

    for g in direct:
        add(Membership(g, None, g == primary, 1))
    while queue:
        g = queue.popleft()
        m = out[g]
        for parent in parents.get(g, ()):
            if parent not in out:
                add(Membership(parent, g, m.primary, m.depth + 1))
    return out


def build(
    raw_users: Iterable[RawUser],
    raw_groups: Iterable[RawGroup],
    policy: NamePolicy,
    user_bases: Sequence[str],
    read: ReadInfo | None = None,
    include_system: bool = False,
) -> Directory:
    issues: list[Issue] = []
    raw_users, raw_groups = list(raw_users), list(raw_groups)
    # System accounts get no home and no place in any output unless asked for; as members of
    # groups they are simply not synced (not an issue to report on every run).
    system_dns = set() if include_system else {dn_key(u.dn) for u in raw_users if u.system}
    raw_users = [u for u in raw_users if dn_key(u.dn) not in system_dns]
    # Builtin-container groups (S-1-5-32-*: Users, Administrators, Account Operators...) are
    # never reported by SSSD, EMR's group source (its ID mapping refuses built-in SIDs:
    # "Skipping built-in object" in sdap_save_group); EMRFS and Hadoop must see what it sees.
    # They are domain-local, so no other group can nest through them.
    builtin = [g for g in raw_groups if g.sid.startswith(BUILTIN_SID_PREFIX)]
    raw_groups = [g for g in raw_groups if not g.sid.startswith(BUILTIN_SID_PREFIX)]
    user_names = _names(raw_users, policy, issues)
    group_names = _names(raw_groups, policy, issues)
    users = {u.guid: user_of(u, user_names[u.guid]) for u in raw_users}
    # A member DN is the same string as its object's own DN (LDAP hands out a new copy of each):
    # at 100k users that is one string per DN instead of four.
    same = {u.dn: u.dn for u in raw_users} | {g.dn: g.dn for g in raw_groups}
    groups = {
        g.guid: Group(
            guid=g.guid,
            dn=g.dn,
            sam=g.sam,
            name=group_names[g.guid],
            sid=g.sid,
            usn=g.usn,
            member_dns=tuple([same.get(m, m) for m in g.members]),
        )
        for g in raw_groups
    }
    del same

    user_by_dn = {dn_key(u.dn): u.guid for u in users.values()}
    group_by_dn = {dn_key(g.dn): g.guid for g in groups.values()}
    group_by_sid = {g.sid: g.guid for g in groups.values()}

    direct: dict[str, set[str]] = defaultdict(set)
    parents: dict[str, set[str]] = defaultdict(set)  # group -> groups it is a member of
    unresolved: dict[str, list[str]] = defaultdict(list)  # member DN -> groups listing it
    for g in groups.values():
        for member in g.member_dns:
            k = dn_key(member)
            if k in user_by_dn:
                direct[user_by_dn[k]].add(g.guid)
            elif k in group_by_dn:
                parents[group_by_dn[k]].add(g.guid)
            elif k not in system_dns:
                unresolved[member].append(g.sam)
    for member, in_groups in sorted(unresolved.items()):
        listed = ", ".join(sorted(in_groups))
        if ",cn=foreignsecurityprincipals," in dn_key(member):
            issues.append(Issue("foreign_member", member, f"foreign security principal in {listed}: not synced"))
        elif is_under(member, user_bases):
            issues.append(
                Issue(
                    "non_user_member",
                    member,
                    f"member of {listed} is not a user or group in scope "
                    "(contact, computer, or excluded by the filters): not synced",
                )
            )
        else:
            issues.append(Issue("outside_scope", member, f"member of {listed} is outside the search bases: not synced"))

    primary: dict[str, str] = {}
    for u in users.values():
        pg = group_by_sid.get(u.primary_group_sid or "")
        if pg is not None:  # AD leaves the primary group out of `member`: add it back
            direct[u.guid].add(pg)
            primary[u.guid] = pg

    up = {g: sorted(ps) for g, ps in parents.items()}
    # Users with the same direct groups (and primary group) share one membership map.
    shared: dict[tuple[tuple[str, ...], str | None], Mapping[str, Membership]] = {}
    effective: dict[str, Mapping[str, Membership]] = {}
    interned: dict[Membership, Membership] = {}
    sets: dict[tuple[str, ...], frozenset[str]] = {}
    frozen_direct: dict[str, frozenset[str]] = {}
    for uid in users:
        key = (tuple(sorted(direct.get(uid, ()))), primary.get(uid))
        if key not in shared:
            shared[key] = MappingProxyType(_memberships(up, *key, interned))
        effective[uid] = shared[key]
        if key[0]:
            frozen_direct[uid] = sets.setdefault(key[0], frozenset(key[0]))

    issues += _superuser_groups(groups.values(), users, effective, policy)
    info = replace(
        read or ReadInfo(),
        users=len(users),
        groups=len(groups),
        memberships=sum(len(m) for m in effective.values()),
        direct_memberships=sum(len(d) for d in direct.values()),
        issue_count=len(issues),
        issue_kinds=dict(Counter(i.kind for i in issues)),
        named_objects=sum(1 for n in user_names.values() if n) + sum(1 for n in group_names.values() if n),
        system_account_dns=tuple(sorted(system_dns)),
        builtin_groups_left_out=len(builtin),
        aws_managed_ad=_aws_managed(raw_users, raw_groups, [*unresolved, *system_dns]),
    )
    return Directory(
        users=users,
        groups=groups,
        direct=frozen_direct,
        effective=effective,
        issues=tuple(sorted(issues, key=lambda i: (i.kind, i.dn))),
        read=info,
    )
