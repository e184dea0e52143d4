"""Where ``sync`` gets its picture of the directory from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from .delta import DeltaRead, Watermark
from .model import Directory


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
