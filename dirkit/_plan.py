"""Planning: a pure function from (previous applied snapshot, new snapshot, safety) to changes.

Objects are matched by objectGUID, so a rename is a rename, not a removal plus an addition.
Only objects with a usable name count (they are what every output contains): a user whose
name becomes unusable is planned as removed, so a collision storm trips the threshold too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._config import SafetyConfig
from ._directory.incremental import Touched, touched
from ._directory.model import Directory

# Change kinds, in the order a human reads them.
KINDS = (
    "user_added",
    "user_removed",
    "user_renamed",
    "user_disabled",
    "user_enabled",
    "group_added",
    "group_removed",
    "group_renamed",
    "membership_added",
    "membership_removed",
)
ChangeKind = Literal[
    "user_added",
    "user_removed",
    "user_renamed",
    "user_disabled",
    "user_enabled",
    "membership_added",
    "membership_removed",
    "group_added",
    "group_removed",
    "group_renamed",
]
REMOVAL_KINDS: frozenset[ChangeKind] = frozenset({"user_removed", "user_disabled", "group_removed"})


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change to a user, a group or a membership, matched by objectGUID."""

    kind: ChangeKind
    name: str  # the user's or group's normalised name (the old one for removals)
    guid: str
    detail: str = ""  # e.g. the group of a membership change, the old name of a rename

    def to_json(self) -> dict[str, str]:
        """This change as docs/json.md's plan format documents it."""
        return {"kind": self.kind, "name": self.name, "guid": self.guid, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """What a run would apply against the last applied snapshot, and whether a safety limit holds it."""

    changes: tuple[Change, ...]
    removals: int
    removal_base: int  # named users + groups in the previous state
    threshold_exceeded: bool
    threshold_reason: str
    first_run: bool
    membership_removals: int = 0
    membership_base: int = 0  # memberships of named users in the previous state

    @classmethod
    def nothing(cls, removal_base: int) -> Plan:
        """No change, against a state of ``removal_base`` named users and groups."""
        return cls(
            changes=(),
            removals=0,
            removal_base=removal_base,
            threshold_exceeded=False,
            threshold_reason="",
            first_run=False,
        )

    @property
    def empty(self) -> bool:
        """Nothing to apply."""
        return not self.changes

    @property
    def digest(self) -> str:
        """What a human approves (`dirkit approve`): exactly these changes. Any other change in
        the directory since gives another digest, so an approval never covers a plan nobody saw."""
        h = hashlib.sha256()
        for c in sorted(self.changes, key=lambda c: (c.kind, c.guid, c.name, c.detail)):
            h.update(f"{c.kind}\0{c.guid}\0{c.name}\0{c.detail}\n".encode())
        return h.hexdigest()

    def counts(self) -> dict[str, int]:
        """How many changes of each kind (every kind, zeros included)."""
        out = {k: 0 for k in KINDS}
        for c in self.changes:
            out[c.kind] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The plan as docs/json.md documents it (format dirkit.plan/1)."""
        return {
            "format": "dirkit.plan/1",
            "first_run": self.first_run,
            "changes_pending": not self.empty,
            "digest": self.digest,
            "counts": self.counts(),
            "removals": self.removals,
            "removal_base": self.removal_base,
            "membership_removals": self.membership_removals,
            "membership_base": self.membership_base,
            "threshold_exceeded": self.threshold_exceeded,
            "threshold_reason": self.threshold_reason,
            "changes": [c.to_json() for c in self.changes],
        }


# The digests are sums (mod 2**256) of one SHA-256 per object, written "s1:<64 hex>": equal for
# equal snapshots whatever the order, and kept up by a delta from the objects it touched only
# (the old value, less what those objects hashed to, plus what they hash to now).
_MOD = 1 << 256
_SUM = "s1:"


def _h(line: str) -> int:
    return int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")


def _plan_line_user(d: Directory, guid: str) -> str:
    u = d.users.get(guid)
    if u is None or not u.name:
        return ""
    return f"u\0{guid}\0{u.name}\0{u.enabled}\0{chr(1).join(d.group_names_of(u))}\n"


def _plan_line_group(d: Directory, guid: str) -> str:
    g = d.groups.get(guid)
    return f"g\0{guid}\0{g.name}\n" if g is not None and g.name else ""


def _content_line_user(d: Directory, guid: str) -> str:
    u = d.users.get(guid)
    if u is None:
        return ""
    return repr(("u", guid, u.dn, u.sam, u.name, u.sid, u.upn, u.display_name, u.enabled, u.primary_group_sid))


def _content_line_group(d: Directory, guid: str) -> str:
    g = d.groups.get(guid)
    if g is None:
        return ""
    # Members as a set: AD returns them in no particular order.
    return repr(("g", guid, g.dn, g.sam, g.name, g.sid, sorted(m.lower() for m in g.member_dns)))


def _digest(
    d: Directory,
    since: tuple[Directory, str] | None,
    lines: tuple[Callable[[Directory, str], str], Callable[[Directory, str], str]],
    extra: Callable[[Directory], str] = lambda d: "",
) -> str:
    user_line, group_line = lines
    t = touched(d, since[0]) if since is not None and since[1].startswith(_SUM) else None
    if t is None or since is None:
        total = sum(_h(x) for x in map(lambda g: user_line(d, g), d.users) if x)
        total += sum(_h(x) for x in map(lambda g: group_line(d, g), d.groups) if x)
        total += _h(extra(d))
        return f"{_SUM}{total % _MOD:064x}"
    base, digest = since
    total = int(digest[len(_SUM) :], 16) - _h(extra(base)) + _h(extra(d))
    for line, guids in ((user_line, t.users), (group_line, t.groups)):
        for guid in guids:
            before, after = line(base, guid), line(d, guid)
            if before != after:
                total += (_h(after) if after else 0) - (_h(before) if before else 0)
    return f"{_SUM}{total % _MOD:064x}"


def plan_digest(d: Directory, since: tuple[Directory, str] | None = None) -> str:
    """A digest of exactly what ``make_plan`` compares: equal digests mean an empty plan, so a
    run with nothing changed need not load the previous snapshot at all. ``since``: the
    snapshot ``d`` was made from by a delta, and its digest (then only what the delta touched
    is hashed)."""
    return _digest(d, since, (_plan_line_user, _plan_line_group))


def content_digest(d: Directory, since: tuple[Directory, str] | None = None) -> str:
    """A digest of everything a later delta read builds on (DNs, member lists, SIDs...), not
    only what the plan compares: equal means storing this snapshot again would change nothing.
    USNs are left out: they move without any of this changing. ``since`` as for plan_digest."""
    return _digest(d, since, (_content_line_user, _content_line_group), lambda x: repr(list(x.read.system_account_dns)))


def _named(d: Directory, t: Touched | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The named users and groups by GUID: all of them, or those a delta touched."""
    if t is None:
        return ({u.guid: u for u in d.users.values() if u.name}, {g.guid: g for g in d.groups.values() if g.name})
    users = {g: d.users[g] for g in t.users if g in d.users and d.users[g].name}
    return users, {g: d.groups[g] for g in t.groups if g in d.groups and d.groups[g].name}


def named_memberships(d: Directory) -> int:
    """The memberships of named users in named groups (the membership limits' base), once per snapshot."""
    return d.derived("named_memberships", lambda: sum(len(d.group_names_of(u)) for u in d._user_names.values()))


def _named_groups(d: Directory, guid: str) -> int:
    u = d.users.get(guid)
    return len(d.group_names_of(u)) if u is not None and u.name and d.user_by_name(u.name) is u else 0


def make_plan(previous: Directory | None, current: Directory, safety: SafetyConfig) -> Plan:
    """The changes from ``previous`` to ``current``; made from a delta of ``previous``
    (incremental.apply), only the users and groups the delta touched are compared."""
    prev = previous or Directory(users={}, groups={}, direct={}, effective={})
    t = touched(current, previous)
    pu, pg = _named(prev, t)
    cu, cg = _named(current, t)
    changes: list[Change] = []

    arrivals = current.read.arrivals
    for guid in cu.keys() - pu.keys():
        u = cu[guid]
        detail = "; ".join(x for x in (arrivals.get(guid, ""), "" if u.enabled else "disabled") if x)
        changes.append(Change("user_added", u.name, guid, detail))
    # Why objects left, when the read knows (a delta does: deleted, moved out of the scope...).
    departures = current.read.departures
    for guid in pu.keys() - cu.keys():
        u = pu[guid]
        why = "no longer readable with a usable name" if guid in current.users else "gone from AD or out of scope"
        changes.append(Change("user_removed", u.name, guid, departures.get(guid, why)))
    for guid in pu.keys() & cu.keys():
        old, new = pu[guid], cu[guid]
        if old.name != new.name:
            changes.append(Change("user_renamed", new.name, guid, f"was {old.name}"))
        if old.enabled and not new.enabled:
            changes.append(Change("user_disabled", new.name, guid))
        elif new.enabled and not old.enabled:
            changes.append(Change("user_enabled", new.name, guid))
        before, after = set(prev.group_names_of(old)), set(current.group_names_of(new))
        changes += [Change("membership_added", new.name, guid, g) for g in sorted(after - before)]
        changes += [Change("membership_removed", new.name, guid, g) for g in sorted(before - after)]
    for guid in cg.keys() - pg.keys():
        changes.append(Change("group_added", cg[guid].name, guid))
    for guid in pg.keys() - cg.keys():
        changes.append(Change("group_removed", pg[guid].name, guid, departures.get(guid, "")))
    for guid in pg.keys() & cg.keys():
        if pg[guid].name != cg[guid].name:
            changes.append(Change("group_renamed", cg[guid].name, guid, f"was {pg[guid].name}"))
    # New users' memberships are listed too: an admin reviewing a plan wants to see them.
    for guid in cu.keys() - pu.keys():
        changes += [Change("membership_added", cu[guid].name, guid, g) for g in current.group_names_of(cu[guid])]

    order = {k: i for i, k in enumerate(KINDS)}
    changes.sort(key=lambda c: (order[c.kind], c.name, c.detail, c.guid))
    removals = sum(1 for c in changes if c.kind in REMOVAL_KINDS)
    base = len(prev._user_names) + len(prev._group_names)  # every named user and group
    dropped = sum(1 for c in changes if c.kind == "membership_removed")
    member_base = named_memberships(prev)
    if t is not None:  # the next delta's base: counted from this one's, over what it touched
        seen = named_memberships(prev) + sum(_named_groups(current, g) - _named_groups(prev, g) for g in t.users)
        current.derived("named_memberships", lambda: seen)
    reason = over_limit(
        removals, base, safety.max_removals, safety.max_removal_percent, "removals", "known users and groups"
    ) or over_limit(
        dropped,
        member_base,
        safety.max_membership_removals,
        safety.max_membership_removal_percent,
        "membership removals",
        "known memberships",
        key="max_membership_removal",
    )
    return Plan(tuple(changes), removals, base, bool(reason), reason, previous is None, dropped, member_base)


def over_limit(
    count: int, base: int, max_count: int, max_percent: float, what: str, of: str, key: str = "max_removal"
) -> str:
    """Why ``count`` removals out of ``base`` exceed the safety limits, or "" if they do not."""
    if count > max_count:
        return f"{count} {what} exceed safety.{key}s={max_count}"
    if base and count * 100 / base > max_percent:
        return (
            f"{count} {what} are {count * 100 / base:.1f}% of {base} {of}, above safety.{key}_percent={max_percent:g}"
        )
    return ""
