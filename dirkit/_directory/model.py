"""The immutable picture of the directory that everything downstream uses (no ldap3 here)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

T = TypeVar("T")

# userAccountControl flag: ACCOUNTDISABLE.
UAC_DISABLED = 0x2
# The LDAP filter that matches enabled accounts only (AD's bitwise-AND matching rule,
# LDAP_MATCHING_RULE_BIT_AND, which Samba implements too): what the cluster's own user searches
# add when disabled users must have no groups there.
NOT_DISABLED = f"(!(userAccountControl:1.2.840.113556.1.4.803:={UAC_DISABLED}))"


@dataclass(frozen=True, slots=True)
class User:
    """An AD user as dirkit sees it: identity, the normalised name (None: unusable), enabled or not."""

    guid: str  # objectGUID: the identity; a rename keeps it
    dn: str
    sam: str  # sAMAccountName as AD has it
    name: str | None  # normalised name; None when unusable (see Directory.issues)
    sid: str
    upn: str | None
    display_name: str | None
    enabled: bool
    primary_group_sid: str | None
    usn: int

    def to_json(self) -> dict[str, Any]:
        """This user's own fields, as docs/json.md documents them."""
        return {
            "guid": self.guid,
            "dn": self.dn,
            "sam_account_name": self.sam,
            "name": self.name,
            "sid": self.sid,
            "upn": self.upn,
            "display_name": self.display_name,
            "enabled": self.enabled,
            "primary_group_sid": self.primary_group_sid,
            "usn": self.usn,
        }


@dataclass(frozen=True, slots=True)
class Group:
    """An AD group: identity, the normalised name (None: unusable) and its direct members."""

    guid: str
    dn: str
    sam: str
    name: str | None
    sid: str
    usn: int
    member_dns: tuple[str, ...]  # direct `member` values, complete (ranges followed)

    def to_json(self) -> dict[str, Any]:
        """This group's own fields, as docs/json.md documents them."""
        return {
            "guid": self.guid,
            "dn": self.dn,
            "sam_account_name": self.sam,
            "name": self.name,
            "sid": self.sid,
            "usn": self.usn,
            "member_count": len(self.member_dns),
        }


IssueKind = Literal[
    "unsafe_name",
    "reserved_name",
    "superuser_group",
    "name_collision",
    "foreign_member",
    "outside_scope",
    "non_user_member",
]


@dataclass(frozen=True, slots=True)
class Issue:
    """Something about the directory an admin should know; the object is left out of outputs."""

    kind: IssueKind
    dn: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """This issue as docs/json.md documents it."""
        return {"kind": self.kind, "dn": self.dn, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's effective membership of a group, and the last step of one shortest chain that
    explains it (``Directory.chain`` follows the steps back to the user's direct group)."""

    group_guid: str
    via: str | None  # the group (a member of group_guid) the chain comes through; None: direct
    primary: bool = False  # the chain starts at the user's primaryGroupID group
    depth: int = 1  # groups in the chain: 1 for a direct membership


# accountExpires: 0 or this (FILETIME's largest) mean "never".
NEVER_EXPIRES = (0, 0x7FFFFFFFFFFFFFFF)
_FILETIME_EPOCH = 11644473600  # seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01


@dataclass(frozen=True, slots=True)
class AccountState:
    """An AD account as a DC says it is now, re-read by objectGUID (``verify --revoked``'s
    evidence): whether it exists, its userAccountControl and accountExpires, which DC said so."""

    guid: str
    found: bool
    dc: str = ""
    sam: str = ""
    uac: int = 0
    expires: int = 0  # accountExpires, FILETIME (100 ns since 1601); see NEVER_EXPIRES

    def out(self, now: float) -> str | None:
        """Why AD itself keeps this account out now (None: AD lets it in)."""
        at = f" (asked {self.dc})" if self.dc else ""
        if not self.found:
            return f"AD has no account with objectGUID {self.guid}{at}"
        if self.uac & UAC_DISABLED:
            return f"AD: {self.sam} has userAccountControl 0x{self.uac:x}, ACCOUNTDISABLE set{at}"
        if self.expires not in NEVER_EXPIRES and self.expires / 1e7 - _FILETIME_EPOCH <= now:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires / 1e7 - _FILETIME_EPOCH))
            return f"AD: {self.sam}'s accountExpires passed ({when}){at}"
        return None


@dataclass(frozen=True)
class ReadInfo:
    """What a read learned: how it read (full or delta, and why not a delta), from which DC at
    which USN, what it cost, and what the snapshot it made holds. ``Directory.read``; its
    documented JSON form (``stats`` in docs/json.md, and what the state stores) is
    :meth:`to_stats`. A source that says less (an in-memory one) leaves the rest at defaults."""

    # -- the read -------------------------------------------------------------------------
    kind: str = ""  # "full" | "delta"; "": not read from AD
    why: str = ""  # why the read was not a delta
    dc: str = ""
    invocation_id: str = ""
    highest_usn: int | None = None  # None: the source has no USNs (no delta can follow)
    tombstone_rights: bool | None = None  # None: not known
    failed_over_from: tuple[str, ...] = ()  # DCs lost mid-read
    searches: int = 0
    pages: int = 0
    range_searches: int = 0
    catch_up_reads: int = 0  # a full read's
    seconds: float = 0.0
    changed_objects: int = 0  # a delta's
    departures: Mapping[str, str] = field(default_factory=dict)  # GUID -> why it left the scope (a delta's)
    arrivals: Mapping[str, str] = field(default_factory=dict)  # GUID -> why it is back (a delta's)
    groups_read_again: int = 0  # a delta's
    # -- what the snapshot holds (build.build) ----------------------------------------------
    users: int = 0
    groups: int = 0
    memberships: int = 0
    direct_memberships: int = 0
    issue_count: int = 0
    issue_kinds: Mapping[str, int] = field(default_factory=dict)
    named_objects: int = 0  # users and groups with a usable name
    system_account_dns: tuple[str, ...] = ()  # left out of the snapshot
    builtin_groups_left_out: int = 0
    aws_managed_ad: bool = False

    def with_content_of(self, snapshot: ReadInfo) -> ReadInfo:
        """This read's description with ``snapshot``'s content counts: a delta that changed
        nothing describes itself and leaves the snapshot as it was."""
        return replace(self, **{f: getattr(snapshot, f) for f in _CONTENT})

    def to_stats(self) -> dict[str, Any]:
        """The documented JSON form (docs/json.md's ``stats``): a delta's fields only on a
        delta, a full read's only on a full read, ``failed_over_from`` only when a DC was lost."""
        delta = self.kind == "delta"
        out: dict[str, Any] = {
            "dc": self.dc,
            "read_kind": self.kind,
            "read_why": self.why,
            "invocation_id": self.invocation_id,
            "highest_usn": self.highest_usn,
            "tombstone_rights": self.tombstone_rights,
            **({"failed_over_from": list(self.failed_over_from)} if self.failed_over_from else {}),
            "ldap_searches": self.searches,
            "ldap_pages": self.pages,
            "range_searches": self.range_searches,
            **({} if delta else {"catch_up_reads": self.catch_up_reads}),
            "read_seconds": self.seconds,
        }
        if delta:
            out.update(changed_objects=self.changed_objects, groups_read_again=self.groups_read_again)
            out.update(departures=dict(self.departures), arrivals=dict(self.arrivals))
        out.update(
            users=self.users,
            groups=self.groups,
            memberships=self.memberships,
            direct_memberships=self.direct_memberships,
            issues=self.issue_count,
            issue_kinds=dict(self.issue_kinds),
            named_objects=self.named_objects,
            system_accounts_left_out=len(self.system_account_dns),
            system_account_dns=list(self.system_account_dns),
            builtin_groups_left_out=self.builtin_groups_left_out,
            aws_managed_ad=self.aws_managed_ad,
        )
        return out

    @classmethod
    def from_stats(cls, st: Mapping[str, Any]) -> ReadInfo:
        """Read back :meth:`to_stats`'s form as any dirkit version stored it (absent keys: defaults)."""
        usn = st.get("highest_usn")
        rights = st.get("tombstone_rights")
        return cls(
            kind=str(st.get("read_kind", "")),
            why=str(st.get("read_why", "")),
            dc=str(st.get("dc", "")),
            invocation_id=str(st.get("invocation_id", "")),
            highest_usn=None if usn is None else int(usn),
            tombstone_rights=rights if isinstance(rights, bool) else None,
            failed_over_from=tuple(st.get("failed_over_from", ())),
            searches=int(st.get("ldap_searches", 0)),
            pages=int(st.get("ldap_pages", 0)),
            range_searches=int(st.get("range_searches", 0)),
            catch_up_reads=int(st.get("catch_up_reads", 0)),
            seconds=float(st.get("read_seconds", 0.0)),
            changed_objects=int(st.get("changed_objects") or 0),
            departures=dict(st.get("departures") or {}),
            arrivals=dict(st.get("arrivals") or {}),
            groups_read_again=int(st.get("groups_read_again", 0)),
            users=int(st.get("users", 0)),
            groups=int(st.get("groups", 0)),
            memberships=int(st.get("memberships", 0)),
            direct_memberships=int(st.get("direct_memberships", 0)),
            issue_count=int(st.get("issues", 0)),
            issue_kinds=dict(st.get("issue_kinds") or {}),
            named_objects=int(st.get("named_objects", 0)),
            system_account_dns=tuple(st.get("system_account_dns", ())),
            builtin_groups_left_out=int(st.get("builtin_groups_left_out", 0)),
            aws_managed_ad=bool(st.get("aws_managed_ad")),
        )


# What build.build counts from the snapshot itself (the rest describes the read).
_CONTENT = (
    "users",
    "groups",
    "memberships",
    "direct_memberships",
    "issue_count",
    "issue_kinds",
    "named_objects",
    "system_account_dns",
    "builtin_groups_left_out",
    "aws_managed_ad",
)


_NO_GROUPS: Mapping[str, Membership] = MappingProxyType({})


K = TypeVar("K")
V = TypeVar("V")


def copy_of(m: Mapping[K, V]) -> dict[K, V]:
    """A mutable copy of one of a snapshot's maps: ``dict(proxy)`` walks a MappingProxyType key
    by key (15 ms at 100k entries), its ``copy()`` copies the dict under it at once (0.5 ms)."""
    if isinstance(m, (dict, MappingProxyType)):
        return cast(dict[K, V], m.copy())
    return dict(m)


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    # Already read-only (memberships shared by users with the same groups): kept, not copied.
    return d if isinstance(d, MappingProxyType) else MappingProxyType(dict(d))


@dataclass(frozen=True)
class Directory:
    """One snapshot of AD: users and groups by objectGUID, direct and effective memberships (with
    the chain behind each), the objects left out as issues, and what the read learned (``read``)."""

    users: Mapping[str, User]  # by GUID
    groups: Mapping[str, Group]  # by GUID
    direct: Mapping[str, frozenset[str]]  # user GUID -> GUIDs of groups they are directly in
    effective: Mapping[str, Mapping[str, Membership]]  # user GUID -> group GUID -> membership
    issues: tuple[Issue, ...] = ()
    read: ReadInfo = field(default_factory=ReadInfo)
    # Lookup indexes, built in __post_init__ (names are unique: the builder set colliding
    # names to None).
    _user_names: dict[str, User] = field(init=False, repr=False, compare=False)
    _group_names: dict[str, Group] = field(init=False, repr=False, compare=False)
    _group_sids: dict[str, Group] = field(init=False, repr=False, compare=False)
    # group_names_of per membership map (users with the same groups share one): the plan and its
    # digest ask for every user's names more than once.
    _names: dict[int, list[str]] = field(init=False, repr=False, compare=False)
    # incremental._Index, once a delta needed it (or made it for the snapshot it built).
    _delta_index: object = field(default=None, init=False, repr=False, compare=False)
    # incremental.Touched: what a delta changed against the snapshot it was applied to.
    _touched: object = field(default=None, init=False, repr=False, compare=False)
    # Values computed from the snapshot once (see derived()).
    _derived: dict[str, object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", _frozen(self.users))
        object.__setattr__(self, "groups", _frozen(self.groups))
        object.__setattr__(self, "direct", _frozen(self.direct))
        if not isinstance(self.effective, MappingProxyType):  # (a proxy's maps are frozen: see incremental.apply)
            object.__setattr__(self, "effective", MappingProxyType({k: _frozen(v) for k, v in self.effective.items()}))
        object.__setattr__(self, "_derived", {})
        object.__setattr__(self, "_user_names", {u.name: u for u in self.users.values() if u.name})
        object.__setattr__(self, "_group_names", {g.name: g for g in self.groups.values() if g.name})
        object.__setattr__(self, "_group_sids", {g.sid: g for g in self.groups.values()})
        object.__setattr__(self, "_names", {})

    @property
    def stats(self) -> dict[str, Any]:
        """:attr:`read` in its documented JSON form (docs/json.md)."""
        return self.read.to_stats()

    @property
    def aws_managed_ad(self) -> bool:
        """The directory has AWS Managed Microsoft AD's layout (see build.AWS_MANAGED_OUS)."""
        return self.read.aws_managed_ad

    # -- lookups ---------------------------------------------------------------------------
    def user_by_name(self, name: str) -> User | None:
        """The user with this normalised name, or None."""
        return self._user_names.get(name)

    def group_by_name(self, name: str) -> Group | None:
        """The group with this normalised name, or None."""
        return self._group_names.get(name)

    def group_by_sid(self, sid: str) -> Group | None:
        """The group with this objectSid, or None."""
        return self._group_sids.get(sid)

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, once per snapshot: what several documents of one run derive from it
        (a snapshot never changes, so neither does the value)."""
        if key not in self._derived:
            self._derived[key] = compute()
        return cast(T, self._derived[key])

    def cached(self, key: str) -> object | None:
        """What :meth:`derived` computed for ``key`` (None: not computed)."""
        return self._derived.get(key)

    def named_users(self) -> list[User]:
        """Users that have a usable name, sorted by name (what every output uses)."""
        return sorted((u for u in self.users.values() if u.name), key=lambda u: u.name or "")

    def superuser_warnings(self) -> list[str]:
        """One line per AD group named like one of the cluster's superuser groups, with its members."""
        return [f"{i.dn}: {i.detail}" for i in self.issues if i.kind == "superuser_group"]

    def named_groups(self) -> list[Group]:
        """Groups that have a usable name, sorted by name (what every output uses)."""
        return sorted((g for g in self.groups.values() if g.name), key=lambda g: g.name or "")

    def group_names_of(self, user: User) -> list[str]:
        """The user's effective groups by normalised name (unusable groups left out), sorted."""
        mine = self.effective.get(user.guid, _NO_GROUPS)
        key = id(mine)  # the maps live as long as this Directory: their ids stay theirs
        if key not in self._names:
            names = (self.groups[g].name for g in mine)
            self._names[key] = sorted(n for n in names if n)
        return list(self._names[key])

    def chain(self, user_guid: str, group_guid: str) -> tuple[str, ...]:
        """Group GUIDs from the user's direct group to ``group_guid`` (one shortest chain);
        empty if the user is not a member."""
        mine = self.effective.get(user_guid, {})
        out: list[str] = []
        step: str | None = group_guid if group_guid in mine else None
        while step is not None:
            out.append(step)
            step = mine[step].via
        return tuple(reversed(out))

    def explain(self, user: User, group: Group) -> list[str] | None:
        """Why ``user`` is in ``group``: the chain of group names, or None if not a member."""
        path = self.chain(user.guid, group.guid)
        return [self.groups[g].sam for g in path] if path else None

    # -- serialisation (documented in docs/json.md) ----------------------------------------
    def user_json(self, u: User) -> dict[str, Any]:
        """A user with their effective groups and the chain behind each (docs/json.md)."""
        groups = []
        for gid, m in sorted(self.effective.get(u.guid, {}).items(), key=lambda kv: self.groups[kv[0]].sam):
            groups.append(
                {
                    "group": self.groups[gid].name,
                    "sam_account_name": self.groups[gid].sam,
                    "direct": m.via is None,
                    "primary": m.primary,
                    "via": [self.groups[p].sam for p in self.chain(u.guid, gid)],
                }
            )
        return {**u.to_json(), "groups": groups}

    def to_json(self) -> dict[str, Any]:
        """The snapshot as docs/json.md's `snapshot --json` documents it."""
        users = [self.user_json(u) for u in sorted(self.users.values(), key=lambda u: (u.name or "", u.guid))]
        groups_json = [g.to_json() for g in sorted(self.groups.values(), key=lambda g: (g.name or "", g.guid))]
        return {
            "format": "dirkit.snapshot/1",
            "stats": self.read.to_stats(),
            "users": users,
            "groups": groups_json,
            "issues": [i.to_json() for i in self.issues],
        }
