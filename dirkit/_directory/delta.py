"""Delta reads: what changed on one DC since a watermark, merged into the last snapshot.

Microsoft's documented recipe for polling a DC (uSNChanged): read the rootDSE's
highestCommittedUSN first, keep the DC's name, its invocationId and that USN; next time ask for
objects with a higher uSNChanged (with the Show Deleted control, so deletions come back as
tombstones). USNs are per DC: a watermark is only valid on the DC, and the database
(invocationId), it was taken from. Everything here is pure; reader.py does the LDAP.

Two things AD does without touching a group's uSNChanged, seen on the lab's Samba: deleting an
object removes it from every group's `member`, and moving one rewrites its DN in every `member`.
The merge does the same to the groups it did not re-read, so the result equals a full read.
A renamed or moved container moves every object below it without changing theirs: a changed
container means a full read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._config import Config, reserved_names
from .build import RawGroup, RawUser, dn_key
from .model import UAC_DISABLED, Directory, ReadInfo

SHOW_DELETED = "1.2.840.113556.1.4.417"
CONTAINER_CLASSES = {b"organizationalunit", b"container", b"builtindomain", b"domaindns", b"lostandfound"}


@dataclass(frozen=True)
class Watermark:
    """Where the last applied read stopped, on which DC and database, for which scope."""

    dc: str  # the LDAP URL the read used
    invocation_id: str  # the DC database's identity: changes when it is restored
    usn: int  # highestCommittedUSN when the read started
    fingerprint: str  # scope, filters, names policy: a change means a full read
    taken: float  # when (Unix time)
    last_full: float  # when the last full read was
    # Whether the sync account may read CN=Deleted Objects on this DC (so deletions reach its
    # deltas as tombstones); None: not known (a watermark from an older dirkit).
    tombstone_rights: bool | None = None


@dataclass(frozen=True)
class DeltaRead:
    """What a delta read found: the merged snapshot, or that nothing changed at all (the DC's
    highestCommittedUSN is the watermark's: no snapshot was even loaded), or why only a full
    read will do."""

    directory: Directory | None = None
    why: str = ""  # not empty: a full read is needed, and this says why
    unchanged: bool = False
    read: ReadInfo = field(default_factory=ReadInfo)  # what the delta read learned


@dataclass(frozen=True)
class Changed:
    """One object the DC changed since the watermark (any class, deleted or not)."""

    guid: str
    dn: str
    deleted: bool
    container: bool
    last_dn: str = ""  # a deleted object's DN before the deletion (lastKnownParent + its RDN)


def fingerprint(config: Config) -> str:
    """What the snapshot depends on besides AD itself: scope, filters, names policy, and the
    account that reads it."""
    d, n = config.directory, config.names
    data: list[object] = [d.base_dn, d.realm, d.user_bases, d.group_bases, d.user_filter, d.group_filter]
    data += [d.include_system_accounts, n.case, n.max_length, n.allowed_pattern]
    reserved = reserved_names(config)
    data += [sorted(reserved.why.items()), sorted(reserved.superuser)]
    # Another account may see another scope (ACLs) and may or may not read tombstones.
    data += [config.ldap.principal if config.ldap.bind == "kerberos" else config.ldap.bind_dn]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def raw_from(d: Directory) -> tuple[list[RawUser], list[RawGroup]]:
    """The build() inputs a snapshot came from. System accounts left out of it come back as
    placeholders (build needs their DNs to leave them out again without an issue)."""
    users = [
        RawUser(
            guid=u.guid,
            dn=u.dn,
            sam=u.sam,
            sid=u.sid,
            upn=u.upn,
            display_name=u.display_name,
            uac=512 if u.enabled else 512 | UAC_DISABLED,
            primary_group_id=int(u.primary_group_sid.rsplit("-", 1)[1]) if u.primary_group_sid else None,
            usn=u.usn,
        )
        for u in d.users.values()
    ]
    users += [
        RawUser(f"system:{dn}", dn, "", "", None, None, 512, None, 0, system=True) for dn in d.read.system_account_dns
    ]
    groups = [RawGroup(g.guid, g.dn, g.sam, g.sid, g.usn, g.member_dns) for g in d.groups.values()]
    return users, groups


def primary_group_moves(previous: Directory, users: Iterable[RawUser]) -> set[str]:
    """SIDs of the old and new primary groups of users whose primaryGroupID changed. Setting it
    makes AD rewrite the member lists of both groups without always changing their uSNChanged
    (seen on the lab: a delta kept a member list a full read no longer had), so both are read
    again."""
    sids: set[str] = set()
    for u in users:
        before = previous.users.get(u.guid)
        if before is None or u.primary_group_id is None or not u.sid:
            continue
        new = f"{u.sid.rsplit('-', 1)[0]}-{u.primary_group_id}"
        if before.primary_group_sid != new:
            sids |= {new, *([before.primary_group_sid] if before.primary_group_sid else [])}
    return sids


def entered_scope(previous: Directory, users: Iterable[RawUser], groups: Iterable[RawGroup], since: int) -> list[str]:
    """DNs of in-scope objects the snapshot did not have although they existed at the
    watermark: they moved into the scope (or now match the filters). Groups may list them
    under a DN the snapshot does not know (AD changes no group for a move): the groups that
    list them now are read again."""
    out = [u.dn for u in users if u.guid not in previous.users and u.created_usn <= since]
    return out + [g.dn for g in groups if g.guid not in previous.groups and g.created_usn <= since]


def groups_listing(previous: Directory, dns: Iterable[str]) -> set[str]:
    """GUIDs of the snapshot's groups whose member lists name any of ``dns``."""
    wanted = {dn_key(d) for d in dns}
    if not wanted:
        return set()
    return {g.guid for g in previous.groups.values() if any(dn_key(m) in wanted for m in g.member_dns)}


def merge(
    previous: Directory, changed: Iterable[Changed], users: list[RawUser], groups: list[RawGroup]
) -> tuple[list[RawUser], list[RawGroup]]:
    """The previous snapshot's inputs with every changed object replaced by what the DC has
    now: ``users``/``groups`` are the changed objects still in scope (and groups read again);
    a changed object that is not among them was deleted, left the scope, or no longer matches
    the filters. The definition of a delta: ``build`` of this is what a delta read means, which
    the lab's delta tests prove equal to a full read; ``incremental.apply`` computes the same
    without rebuilding, and its test proves it against this."""
    changed = list(changed)
    # Objects read again (changed ones, and groups re-read because AD rewrote their member
    # lists without changing them) replace the snapshot's versions.
    gone = {c.guid for c in changed} | {u.guid for u in users} | {g.guid for g in groups}
    prev_users, prev_groups = raw_from(previous)
    # AD's own link maintenance, done to the groups not re-read: drop deleted members, rewrite moved ones.
    now_dn = {c.guid: (None if c.deleted else c.dn) for c in changed}
    relink: dict[str, str | None] = {}
    for guid, dn in [(u.guid, u.dn) for u in prev_users] + [(g.guid, g.dn) for g in prev_groups]:
        if guid in now_dn and dn_key(dn) != dn_key(now_dn[guid] or ""):
            relink[dn_key(dn)] = now_dn[guid]
    # Deleted objects the snapshot did not hold (out of scope) may still be named in its groups.
    relink.update({dn_key(c.last_dn): None for c in changed if c.deleted and c.last_dn})

    def relinked(members: tuple[str, ...]) -> tuple[str, ...]:
        if not relink:
            return members
        out = []
        for m in members:
            k = dn_key(m)
            if k in relink:
                if relink[k] is not None:
                    out.append(relink[k] or "")
            else:
                out.append(m)
        return tuple(out)

    kept_users = [u for u in prev_users if u.guid not in gone]
    kept_groups = [
        RawGroup(g.guid, g.dn, g.sam, g.sid, g.usn, relinked(g.members)) for g in prev_groups if g.guid not in gone
    ]
    return kept_users + users, kept_groups + groups
