"""Where ``sync`` gets its picture of the directory from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from . import incremental
from .build import RawGroup, RawUser, build
from .delta import Changed, DeltaRead, Watermark
from .model import AccountState, Directory, ReadInfo
from .names import NamePolicy


class DirectorySource(Protocol):
    """Where a sync reads the directory from: AD over LDAP (LdapSource) or memory (MemorySource)."""

    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        """A complete snapshot, or an exception: never a partial picture."""
        ...


@runtime_checkable
class DeltaSource(DirectorySource, Protocol):
    def read_delta(self, since: Watermark, previous: Callable[[], Directory]) -> DeltaRead:
        """Only what changed since ``since``, merged into ``previous()`` (not called when
        nothing changed at all); a DeltaRead with ``why`` when only a full read will do."""
        ...


@runtime_checkable
class AccountSource(DirectorySource, Protocol):
    def account_states(self, guids: Sequence[str]) -> dict[str, AccountState]:
        """Each account as the directory says it is now (by objectGUID; found or not)."""
        ...


class MemorySource:
    """A source serving a snapshot already in memory (unit tests use it to drive ``sync``
    without a directory server). Assign ``directory`` to change what the next read sees."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.reads = 0

    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        """The snapshot held now."""
        self.reads += 1
        return self.directory

    def account_states(self, guids: Sequence[str]) -> dict[str, AccountState]:
        """The accounts as the snapshot held now has them (an absent one does not exist)."""
        out = {}
        for g in guids:
            u = self.directory.users.get(g)
            out[g] = (
                AccountState(g, False)
                if u is None
                else AccountState(g, True, "memory", u.sam, 512 | (0 if u.enabled else 2))
            )
        return out


class MemoryDeltaSource:
    """A directory held as AD holds it, raw objects and a USN, read whole or as deltas: benches
    and tests drive ``sync``'s delta path with it (the lab's DC drives the same path over LDAP)
    at sizes no lab here reaches. ``change`` is what a delta read would get back: whole objects
    (a group with its new member list), deletions as tombstones; like AD, deleting or moving an
    object rewrites the groups that list it without them being reported (the apply does that).
    ``dc`` must be one of the configuration's ``ldap.urls``, as a real watermark's DC is."""

    def __init__(
        self,
        users: Iterable[RawUser],
        groups: Iterable[RawGroup],
        policy: NamePolicy,
        user_bases: Sequence[str],
        dc: str,
        include_system: bool = False,
    ) -> None:
        self.users = {u.guid: u for u in users}
        self.groups = {g.guid: g for g in groups}
        self.policy, self.user_bases, self.dc, self.include_system = policy, list(user_bases), dc, include_system
        self.usn = max([0, *(u.usn for u in self.users.values()), *(g.usn for g in self.groups.values())])
        self._log: list[tuple[int, Changed]] = []  # (USN, what changed), oldest first
        self.reads = 0
        self.delta_reads = 0

    def change(
        self, users: Iterable[RawUser] = (), groups: Iterable[RawGroup] = (), deleted: Iterable[str] = ()
    ) -> None:
        """Store changed or new objects (their ``usn`` is set here) and delete some (by GUID)."""
        for u in users:
            self.usn += 1
            self.users[u.guid] = replace(u, usn=self.usn)
            self._log.append((self.usn, Changed(u.guid, u.dn, deleted=False, container=False)))
        for g in groups:
            self.usn += 1
            self.groups[g.guid] = replace(g, usn=self.usn)
            self._log.append((self.usn, Changed(g.guid, g.dn, deleted=False, container=False)))
        for guid in deleted:
            gone = self.users.pop(guid, None) or self.groups.pop(guid, None)
            if gone is None:
                raise KeyError(f"no object with objectGUID {guid}")
            self.usn += 1
            self._log.append((self.usn, Changed(guid, gone.dn, deleted=True, container=False, last_dn=gone.dn)))

    def _info(self, kind: str) -> ReadInfo:
        return ReadInfo(kind=kind, dc=self.dc, invocation_id="memory", highest_usn=self.usn, tombstone_rights=True)

    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        """The whole directory, built as a full read builds it."""
        self.reads += 1
        info = self._info("full")
        return build(self.users.values(), self.groups.values(), self.policy, self.user_bases, info, self.include_system)

    def read_delta(self, since: Watermark, previous: Callable[[], Directory]) -> DeltaRead:
        """What changed after ``since.usn``, applied to ``previous()``."""
        self.delta_reads += 1
        info = self._info("delta")
        if since.usn == self.usn:
            return DeltaRead(unchanged=True, read=info)
        last: dict[str, Changed] = {c.guid: c for usn, c in self._log if usn > since.usn}
        users = [self.users[g] for g in last if g in self.users]
        groups = [self.groups[g] for g in last if g in self.groups]
        changed = [c for c in last.values() if c.deleted or c.guid in self.users or c.guid in self.groups]
        info = replace(info, changed_objects=len(changed))
        d = incremental.apply(
            previous(), changed, users, groups, self.policy, self.user_bases, info, self.include_system
        )
        return DeltaRead(d, read=d.read)
