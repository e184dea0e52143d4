"""Where ``sync`` gets its picture of the directory from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from .delta import DeltaRead, Watermark
from .model import AccountState, Directory


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
