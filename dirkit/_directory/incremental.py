"""A delta applied to the last snapshot in place of a rebuild: work in proportion to what changed.

``apply(prev, changed, users, groups, ...)`` returns what ``build(*merge(prev, changed, users,
groups), ...)`` returns (the delta semantics the lab proves against full reads: AD's own link
maintenance on the groups not read again, then the whole model built again), but touches only
what the change can reach:

- objects: the previous snapshot's mappings are copied (C-level dict copies) and only the
  changed objects replaced; a name is decided again only where a changed object held or takes
  it (collisions come and go with the objects that make them);
- memberships: direct groups again for the users a changed group lists (before or after) and the
  changed users; the nesting (``parents``) again for the groups a changed group lists; the
  closure again for those users and for every user who reaches a group whose parents changed
  (found down the group graph, which is small), everyone else's closure object is kept;
- issues: those of the objects and member DNs the change touches are made again, the others kept.

What it needs of the previous snapshot beyond the ``Directory`` itself (which DN each group lists,
the nesting, who has which primary group) is indexed once per snapshot (``_Index``) and patched
for the next: a long-running process (``dirkit watch``) pays it once. ``tests/unit/directory/
test_incremental.py`` proves the equality over thousands of random deltas.
"""

from __future__ import annotations

import weakref
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, replace
from types import MappingProxyType

from .build import (
    AWS_MANAGED_OUS,
    BUILTIN_SID_PREFIX,
    RawGroup,
    RawUser,
    _memberships,
    _superuser_groups,
    dn_key,
    is_under,
    user_of,
)
from .delta import Changed
from .model import Directory, Group, Issue, IssueKind, Membership, ReadInfo, User, copy_of
from .names import NamePolicy

_NAME_KINDS = frozenset({"unsafe_name", "reserved_name", "name_collision"})
_MEMBER_KINDS = frozenset({"foreign_member", "non_user_member", "outside_scope"})


@dataclass
class _Index:
    """What a delta needs to know of a snapshot that the snapshot does not say directly."""

    listed_in: dict[str, tuple[str, ...]]  # member DN key -> GUIDs of the groups listing it
    parents: dict[str, tuple[str, ...]]  # group GUID -> the groups it is a member of, sorted
    by_primary: dict[str, frozenset[str]]  # primary group SID -> user GUIDs with it
    user_by_dn: dict[str, str]  # DN key -> user GUID
    group_by_dn: dict[str, str]  # DN key -> group GUID


@dataclass(frozen=True)
class Touched:
    """What a delta may have changed in ``base``: outside these users and groups (GUIDs, of
    either snapshot), a user's object, name, state and effective groups (by name) are as they
    were, and so is a group. The plan and the digests look at these only (_plan.py)."""

    base: weakref.ref[Directory]  # not the snapshot itself: a chain of deltas keeps no old ones
    users: frozenset[str]
    groups: frozenset[str]


def touched(d: Directory, base: Directory | None) -> Touched | None:
    """What ``d`` differs from ``base`` in, if ``d`` was made from ``base`` by :func:`apply`."""
    t = d._touched
    return t if isinstance(t, Touched) and base is not None and t.base() is base else None


def delta_base(d: Directory) -> tuple[Directory | None, frozenset[str]]:
    """The snapshot ``d`` was applied to by a delta, while it is still in memory, and the users
    the delta touched; (None, empty) for a snapshot that was built whole, or whose base is gone."""
    t = d._touched
    if isinstance(t, Touched) and (base := t.base()) is not None:
        return base, t.users
    return None, frozenset()


def index(d: Directory) -> _Index:
    """Who lists which DN, each group's parents, the holders of each primary group: built once
    per snapshot and kept on it (a delta builds the next one's by patching)."""
    cached = d._delta_index
    if isinstance(cached, _Index):
        return cached
    # One key string per DN, shared by every map below (a snapshot shares its DN strings, so
    # the key is looked up by the DN itself): at 100k users the index is a third smaller.
    keys: dict[str, str] = {}

    def key(dn: str) -> str:
        k = keys.get(dn)
        if k is None:
            k = keys[dn] = dn_key(dn)
        return k

    listed: dict[str, list[str]] = defaultdict(list)
    for g in d.groups.values():
        for m in g.member_dns:
            listed[key(m)].append(g.guid)
    group_by_dn = {key(g.dn): g.guid for g in d.groups.values()}
    parents = {group_by_dn[k]: tuple(sorted(set(gs))) for k, gs in listed.items() if k in group_by_dn}
    primary: dict[str, set[str]] = defaultdict(set)
    for u in d.users.values():
        if u.primary_group_sid:
            primary[u.primary_group_sid].add(u.guid)
    index = _Index(
        listed_in={k: tuple(v) for k, v in listed.items()},
        parents=parents,
        by_primary={k: frozenset(v) for k, v in primary.items()},
        user_by_dn={key(u.dn): u.guid for u in d.users.values()},
        group_by_dn=group_by_dn,
    )
    object.__setattr__(d, "_delta_index", index)
    return index


class _Names:
    """One namespace's names (users', or groups'): who proposes which name, decided again for
    the names a changed object held or takes, as build._names decides them for all."""

    def __init__(self, policy: NamePolicy, prev: Mapping[str, User | Group], named: Mapping[str, User | Group]):
        self.policy = policy
        self.prev = prev
        self.named = named  # final name -> object, in the previous snapshot
        self.touched: set[str] = set()  # names to decide again
        self.removed: set[str] = set()  # GUIDs no longer (or differently) here
        self.added: dict[str, str | None] = {}  # GUID -> proposed name of a new or changed object
        self.issues: list[Issue] = []
        self._collided: dict[str, set[str]] | None = None

    def proposed(self, sam: str) -> str | None:
        r = self.policy.directory_name(sam)
        return sam if r.name == sam else r.name

    def collided(self) -> dict[str, set[str]]:
        """Proposed name -> GUIDs, for the names the previous snapshot took from everyone
        (a collision): the objects without a name whose proposal is not refused."""
        if self._collided is None:
            out: dict[str, set[str]] = defaultdict(set)
            for o in self.prev.values():
                if o.name is None:
                    p = self.proposed(o.sam)
                    if p is not None:
                        out[p].add(o.guid)
            self._collided = out
        return self._collided

    def remove(self, o: User | Group) -> None:
        self.removed.add(o.guid)
        name = o.name if o.name is not None else self.proposed(o.sam)
        if name is not None:
            self.touched.add(name)

    def add(self, guid: str, sam: str, dn: str) -> None:
        r = self.policy.directory_name(sam)
        name = sam if r.name == sam else r.name
        self.added[guid] = name
        if name is None:
            kind: IssueKind = "reserved_name" if r.reserved else "unsafe_name"
            self.issues.append(Issue(kind, dn, f"{sam!r}: {r.reason}"))
        else:
            self.touched.add(name)

    def holders(self, name: str) -> set[str]:
        """GUIDs proposing ``name`` after the change."""
        before = set(self.collided().get(name, ()))
        if name in self.named:
            before.add(self.named[name].guid)
        return {g for g in before if g not in self.removed} | {g for g, n in self.added.items() if n == name}

    def decide(self, now: Mapping[str, User | Group]) -> tuple[dict[str, str | None], set[str]]:
        """GUID -> final name for every object whose name may have changed, and the DNs (before
        the change) whose collision issues are to be made again (``now``: the objects after it)."""
        out: dict[str, str | None] = {g: None for g, n in self.added.items() if n is None}
        redo: set[str] = set()
        for name in sorted(self.touched):
            holders = self.holders(name)
            before = set(self.collided().get(name, ()))
            redo |= {self.prev[g].dn for g in before}
            if len(holders) == 1:
                (only,) = holders
                out[only] = name
            else:
                dns = sorted(now[g].dn for g in holders)
                for g in holders:
                    out[g] = None
                for dn in dns:
                    others = "; ".join(d for d in dns if d != dn)
                    self.issues.append(Issue("name_collision", dn, f"normalises to {name!r}, as does {others}"))
        return out, redo


def _sizes_changed(guids: Iterable[str], before: Mapping[str, Sized], after: Mapping[str, Sized]) -> int:
    """How many more entries the maps of ``guids`` hold in ``after`` than in ``before``."""
    return sum(len(after.get(g, ())) - len(before.get(g, ())) for g in guids)


def _names_changed(guids: Iterable[str], before: Mapping[str, User | Group], after: Mapping[str, User | Group]) -> int:
    """How many more of ``guids`` have a usable name in ``after`` than in ``before``."""
    return sum(_named(after.get(g)) - _named(before.get(g)) for g in guids)


def _named(o: User | Group | None) -> int:
    return 1 if o is not None and o.name else 0


def apply(
    prev: Directory,
    changed: Iterable[Changed],
    users: Sequence[RawUser],
    groups: Sequence[RawGroup],
    policy: NamePolicy,
    user_bases: Sequence[str],
    read: ReadInfo,
    include_system: bool = False,
) -> Directory:
    """``build(*merge(prev, changed, users, groups), policy, user_bases, read, include_system)``,
    computed from ``prev`` by what changed (see the module's docstring)."""
    changed = list(changed)
    ix = index(prev)
    gone = {c.guid for c in changed} | {u.guid for u in users} | {g.guid for g in groups}

    # AD's link maintenance (delta.merge): members deleted are dropped, members moved renamed.
    now_dn = {c.guid: (None if c.deleted else c.dn) for c in changed}
    relink: dict[str, str | None] = {}
    for guid, to in now_dn.items():
        old = prev.users.get(guid) or prev.groups.get(guid)
        if old is not None and dn_key(old.dn) != dn_key(to or ""):
            relink[dn_key(old.dn)] = to
    relink.update({dn_key(c.last_dn): None for c in changed if c.deleted and c.last_dn})

    # System accounts and Builtin groups are left out as build leaves them out.
    read_dns = {dn_key(u.dn) for u in users} | {dn_key(g.dn) for g in groups}
    system_dns = set(prev.read.system_account_dns)
    if not include_system:
        system_dns |= {dn_key(u.dn) for u in users if u.system}
    raw_users = [u for u in users if dn_key(u.dn) not in system_dns]
    builtin = [g for g in groups if g.sid.startswith(BUILTIN_SID_PREFIX)]
    raw_groups = [g for g in groups if not g.sid.startswith(BUILTIN_SID_PREFIX)]

    # -- groups: removed, relinked (kept, a member renamed or dropped), read again ------------
    relinked: dict[str, tuple[str, ...]] = {}
    for k in relink:
        for gid in ix.listed_in.get(k, ()):
            if gid not in gone and gid not in relinked:
                listed_before = prev.groups[gid].member_dns
                relinked[gid] = tuple(
                    m if dn_key(m) not in relink else (relink[dn_key(m)] or "")
                    for m in listed_before
                    if dn_key(m) not in relink or relink[dn_key(m)] is not None
                )
    relinked = {g: ms for g, ms in relinked.items() if ms != prev.groups[g].member_dns}
    new_groups: dict[str, Group] = copy_of(prev.groups)
    old_members: dict[str, tuple[str, ...]] = {}  # group GUID -> its member list before, if it changed
    for gid in gone:
        g = new_groups.pop(gid, None)
        if g is not None:
            old_members[gid] = g.member_dns
    for gid, ms in relinked.items():
        old_members[gid] = prev.groups[gid].member_dns
        new_groups[gid] = replace(prev.groups[gid], member_dns=ms)
    new_users: dict[str, User] = copy_of(prev.users)
    for gid in gone:
        new_users.pop(gid, None)

    # -- names ---------------------------------------------------------------------------
    unames = _Names(policy, prev.users, prev._user_names)
    gnames = _Names(policy, prev.groups, prev._group_names)
    for gid in gone:
        if gid in prev.users:
            unames.remove(prev.users[gid])
        if gid in prev.groups:
            gnames.remove(prev.groups[gid])
    for ru in raw_users:
        unames.add(ru.guid, ru.sam, ru.dn)
    for rg in raw_groups:
        gnames.add(rg.guid, rg.sam, rg.dn)
    same = {u.dn: u.dn for u in raw_users} | {g.dn: g.dn for g in raw_groups}
    for rg in raw_groups:
        new_groups[rg.guid] = Group(
            guid=rg.guid, dn=rg.dn, sam=rg.sam, name=None, sid=rg.sid, usn=rg.usn,
            member_dns=tuple([same.get(m, m) for m in rg.members]),
        )  # fmt: off
        old_members.setdefault(rg.guid, ())
    for ru in raw_users:
        new_users[ru.guid] = user_of(ru, None)
    un, uredo = unames.decide(new_users)
    gn, gredo = gnames.decide(new_groups)
    for guid, name in un.items():
        if new_users[guid].name != name:
            new_users[guid] = replace(new_users[guid], name=name)
    for guid, name in gn.items():
        if new_groups[guid].name != name:
            new_groups[guid] = replace(new_groups[guid], name=name)

    # -- the index after the change: who lists which DN, nesting, primary groups ----------
    listed = copy_of(ix.listed_in)
    touched_dns: set[str] = set()  # member DN keys whose listing changed
    for gid, before in old_members.items():
        after = new_groups[gid].member_dns if gid in new_groups else ()
        for k in {dn_key(m) for m in before} ^ {dn_key(m) for m in after}:
            touched_dns.add(k)
    # Whether a group lists a DN is only asked of the touched DNs: patched there only.
    changed_groups = set(old_members)
    listing_now: dict[str, list[str]] = defaultdict(list)
    for gid in sorted(changed_groups & new_groups.keys()):
        for k in {dn_key(m) for m in new_groups[gid].member_dns} & touched_dns:
            listing_now[k].append(gid)
    for k in touched_dns:
        keep = [g for g in listed.get(k, ()) if g not in changed_groups]
        if keep or listing_now.get(k):
            listed[k] = (*keep, *listing_now.get(k, ()))
        else:
            listed.pop(k, None)
    user_by_dn = ix.user_by_dn
    group_by_dn = ix.group_by_dn
    if gone or raw_users or raw_groups:
        user_by_dn = copy_of(user_by_dn)
        group_by_dn = copy_of(group_by_dn)
        for gid in gone:
            if gid in prev.users:
                user_by_dn.pop(dn_key(prev.users[gid].dn), None)
            if gid in prev.groups:
                group_by_dn.pop(dn_key(prev.groups[gid].dn), None)
        user_by_dn.update({dn_key(u.dn): u.guid for u in raw_users})
        group_by_dn.update({dn_key(g.dn): g.guid for g in raw_groups})
    by_primary = ix.by_primary
    moved_primary: set[str] = set()  # SIDs whose holders changed
    for gid in gone:
        if gid in prev.users and prev.users[gid].primary_group_sid:
            moved_primary.add(prev.users[gid].primary_group_sid or "")
    for ru in raw_users:
        if new_users[ru.guid].primary_group_sid:
            moved_primary.add(new_users[ru.guid].primary_group_sid or "")
    if moved_primary:
        bp = {k: set(v) for k, v in by_primary.items() if k in moved_primary}
        for gid in gone:
            was_user = prev.users.get(gid)
            if was_user is not None and was_user.primary_group_sid:
                bp.setdefault(was_user.primary_group_sid, set()).discard(gid)
        for ru in raw_users:
            sid = new_users[ru.guid].primary_group_sid
            if sid:
                bp.setdefault(sid, set()).add(ru.guid)
        by_primary = dict(by_primary)
        for k, v in bp.items():
            if v:
                by_primary[k] = frozenset(v)
            else:
                by_primary.pop(k, None)
    if (gone & prev.groups.keys()) or raw_groups:
        group_by_sid = {g.sid: g.guid for g in new_groups.values()}
    else:
        group_by_sid = {sid: g.guid for sid, g in prev._group_sids.items()}

    # Nesting: the groups whose own listing changed (and new or moved groups) get their parents again.
    parents = copy_of(ix.parents)
    child_dns = {k for k in touched_dns if k in group_by_dn} | {dn_key(g.dn) for g in raw_groups}
    for gid in gone:
        if gid in prev.groups:
            parents.pop(gid, None)
    regrouped: set[str] = {gid for gid in gone if gid in prev.groups}
    for k in child_dns:
        gid = group_by_dn[k]
        ps = tuple(sorted({g for g in listed.get(k, ()) if g in new_groups}))
        if parents.get(gid, ()) != ps:
            regrouped.add(gid)
            if ps:
                parents[gid] = ps
            else:
                parents.pop(gid, None)

    # -- direct groups -----------------------------------------------------------------------
    affected: set[str] = {u.guid for u in raw_users}
    for k in touched_dns:
        if k in user_by_dn:
            affected.add(user_by_dn[k])
    new_sids = {g.sid for g in raw_groups} | {prev.groups[g].sid for g in gone if g in prev.groups}
    for sid in new_sids:
        affected |= by_primary.get(sid, frozenset())
    children: dict[str, set[str]] = defaultdict(set)
    if regrouped or gn or gone:
        for child, ps in parents.items():
            for p in ps:
                children[p].add(child)

    def users_below(start: set[str]) -> set[str]:
        """The users who reach a group of ``start``: directly (listed, or by primary group,
        before or after the change) or through the groups nested below it."""
        below, queue = set(start), deque(start)
        while queue:
            for c in children.get(queue.popleft(), ()):
                if c not in below:
                    below.add(c)
                    queue.append(c)
        out: set[str] = set()
        for gid in below:
            now, was = new_groups.get(gid), prev.groups.get(gid)
            for g, by_dn in ((now, user_by_dn), (was, ix.user_by_dn)):
                if g is not None:
                    out |= {u for m in g.member_dns if (u := by_dn.get(dn_key(m))) is not None}
                    out |= by_primary.get(g.sid, frozenset())
        return out & new_users.keys()

    # Users below a group whose parents changed: their closure changes, not their direct groups.
    reach = (affected | users_below(regrouped)) & new_users.keys()

    new_direct: dict[str, frozenset[str]] = copy_of(prev.direct)
    for gid in gone:
        new_direct.pop(gid, None)
    new_effective: dict[str, Mapping[str, Membership]] = copy_of(prev.effective)
    for gid in gone:
        new_effective.pop(gid, None)
    up = parents
    shared: dict[tuple[tuple[str, ...], str | None], Mapping[str, Membership]] = {}
    interned: dict[Membership, Membership] = {}
    sets: dict[tuple[str, ...], frozenset[str]] = {}
    for uid in reach:
        user = new_users[uid]
        direct = {g for g in listed.get(dn_key(user.dn), ()) if g in new_groups}
        pg = group_by_sid.get(user.primary_group_sid or "")
        if pg is not None:  # AD leaves the primary group out of `member`: added back, as build does
            direct.add(pg)
        key = (tuple(sorted(direct)), pg)
        if key not in shared:
            shared[key] = MappingProxyType(_memberships(up, *key, interned))
        new_effective[uid] = shared[key]
        if key[0]:
            new_direct[uid] = sets.setdefault(key[0], frozenset(key[0]))
        else:
            new_direct.pop(uid, None)

    # -- issues ------------------------------------------------------------------------------
    drop_name_dns = {prev.users[g].dn for g in gone if g in prev.users} | {
        prev.groups[g].dn for g in gone if g in prev.groups
    }
    drop_name_dns |= uredo | gredo
    member_dns_redo = touched_dns | set(relink) | read_dns | {dn_key(d) for d in drop_name_dns}
    for gid in changed_groups & new_groups.keys():  # a group renamed: its members' issues say so
        member_dns_redo |= {dn_key(m) for m in new_groups[gid].member_dns}
    kept = [
        i
        for i in prev.issues
        if not (i.kind in _NAME_KINDS and i.dn in drop_name_dns)
        and not (i.kind in _MEMBER_KINDS and dn_key(i.dn) in member_dns_redo)
        and i.kind != "superuser_group"
    ]
    issues = kept + unames.issues + gnames.issues
    issues += _member_issues(member_dns_redo, listed, new_groups, user_by_dn, group_by_dn, system_dns, user_bases)
    issues += _superuser_groups(new_groups.values(), new_users, new_effective, policy)

    # The counts build makes over every object, kept up from the objects that changed.
    regrouped_users = gone | reach
    renamed_objects = gone | {u.guid for u in raw_users} | {g.guid for g in raw_groups} | un.keys() | gn.keys()
    info = replace(
        read,
        users=len(new_users),
        groups=len(new_groups),
        memberships=prev.read.memberships + _sizes_changed(regrouped_users, prev.effective, new_effective),
        direct_memberships=prev.read.direct_memberships + _sizes_changed(regrouped_users, prev.direct, new_direct),
        issue_count=len(issues),
        issue_kinds=dict(Counter(i.kind for i in issues)),
        named_objects=prev.read.named_objects
        + _names_changed(renamed_objects, prev.users, new_users)
        + _names_changed(renamed_objects, prev.groups, new_groups),
        system_account_dns=tuple(sorted(system_dns)),
        builtin_groups_left_out=len(builtin),
        aws_managed_ad=_aws_managed(prev, new_users, new_groups, issues, system_dns, member_dns_redo),
    )
    d = Directory(
        users=new_users,
        groups=new_groups,
        direct=new_direct,
        effective=MappingProxyType(new_effective),  # every map in it is frozen already
        issues=tuple(sorted(issues, key=lambda i: (i.kind, i.dn))),
        read=info,
    )
    renamed = {
        gid
        for gid in gone | gn.keys()
        if gid in prev.groups and gid in new_groups and prev.groups[gid].name != new_groups[gid].name
    }
    touched_users = (gone & prev.users.keys()) | {u.guid for u in raw_users} | un.keys() | reach
    touched_users |= users_below(renamed)
    touched_groups = (gone & prev.groups.keys()) | {g.guid for g in raw_groups} | relinked.keys() | gn.keys()
    object.__setattr__(d, "_touched", Touched(weakref.ref(prev), frozenset(touched_users), frozenset(touched_groups)))
    object.__setattr__(
        d,
        "_delta_index",
        _Index(
            listed_in=listed, parents=parents, by_primary=by_primary, user_by_dn=user_by_dn, group_by_dn=group_by_dn
        ),
    )
    return d


def _member_issues(
    redo: Iterable[str],
    listed: Mapping[str, tuple[str, ...]],
    groups: Mapping[str, Group],
    user_by_dn: Mapping[str, str],
    group_by_dn: Mapping[str, str],
    system_dns: set[str],
    user_bases: Sequence[str],
) -> list[Issue]:
    """The member issues of the member DNs ``redo`` (keys), as build makes them: one per member
    string that names no user or group in scope, with the groups that list it."""
    unresolved: dict[str, list[str]] = defaultdict(list)
    by_key: dict[str, dict[str, list[str]]] = {}  # group GUID -> member key -> its strings there
    for k in redo:
        if k in user_by_dn or k in group_by_dn or k in system_dns:
            continue
        for gid in listed.get(k, ()):
            if gid not in by_key:
                strings: dict[str, list[str]] = defaultdict(list)
                for m in groups[gid].member_dns:
                    strings[dn_key(m)].append(m)
                by_key[gid] = strings
            for m in by_key[gid].get(k, ()):
                unresolved[m].append(groups[gid].sam)
    out = []
    for member, in_groups in sorted(unresolved.items()):
        listed_by = ", ".join(sorted(in_groups))
        if ",cn=foreignsecurityprincipals," in dn_key(member):
            out.append(Issue("foreign_member", member, f"foreign security principal in {listed_by}: not synced"))
        elif is_under(member, user_bases):
            detail = (
                f"member of {listed_by} is not a user or group in scope "
                "(contact, computer, or excluded by the filters): not synced"
            )
            out.append(Issue("non_user_member", member, detail))
        else:
            out.append(Issue("outside_scope", member, f"member of {listed_by} is outside the search bases: not synced"))
    return out


def _aws(dn: str) -> bool:
    return any(ou in "," + dn.lower() for ou in AWS_MANAGED_OUS)


def _aws_managed(
    prev: Directory,
    users: Mapping[str, User],
    groups: Mapping[str, Group],
    issues: Sequence[Issue],
    system_dns: set[str],
    touched: set[str],
) -> bool:
    """build._aws_managed of the new snapshot: an object, unresolved member or system account
    in AWS Managed AD's OUs. Unchanged unless a touched DN is there (then looked at again)."""
    if not any(_aws(k) for k in touched) and not any(_aws(k) for k in system_dns - set(prev.read.system_account_dns)):
        new_members = any(_aws(i.dn) for i in issues if i.kind in _MEMBER_KINDS)
        return prev.read.aws_managed_ad or new_members
    dns = [u.dn for u in users.values()] + [g.dn for g in groups.values()] + list(system_dns)
    return any(_aws(dn) for dn in dns) or any(_aws(i.dn) for i in issues if i.kind in _MEMBER_KINDS)
