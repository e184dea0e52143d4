"""Where ``sync`` gets its picture of the directory from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from .model import Directory


class DirectorySource(Protocol):
    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        """A complete snapshot, or an exception: never a partial picture."""
        ...


class MemorySource:
    """A source serving a snapshot already in memory (unit tests use it to drive ``sync``
    without a directory server). Assign ``directory`` to change what the next read sees."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.reads = 0

    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        self.reads += 1
        return self.directory
