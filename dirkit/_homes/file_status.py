"""A WebHDFS file status as dirkit uses it: a small typed value, not the answer's dict."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FileStatus:
    """What dirkit reads of a WebHDFS FileStatus. The other fields (times, sizes, ids...) are
    dropped while the answer is parsed: a 100k-home listing is then ~15 MB in memory instead of
    ~100 MB of dicts."""

    name: str  # pathSuffix: the entry's name in a listing ("" for the path itself)
    type: str  # DIRECTORY | FILE | SYMLINK
    owner: str
    group: str
    permission: str  # octal, as WebHDFS writes it ("750")
    # modificationTime (ms), kept for one path's own status only (0 in listings, or unknown): a
    # directory's moves when an entry is created, deleted or renamed in it, not on chown/chmod.
    mtime: int = 0

    @classmethod
    def from_json(cls, d: dict[str, Any], times: bool = False) -> FileStatus:
        return cls(
            str(d.get("pathSuffix", "")),
            sys.intern(str(d.get("type", ""))),
            str(d.get("owner", "")),
            sys.intern(str(d.get("group", ""))),  # a few groups over many homes: one string each
            sys.intern(str(d.get("permission", ""))),
            int(d.get("modificationTime") or 0) if times else 0,
        )


def file_statuses(d: dict[str, Any]) -> Any:
    """json object_hook: each FileStatus object becomes a FileStatus as soon as it is parsed."""
    return FileStatus.from_json(d) if "pathSuffix" in d and "type" in d else d


def file_status_with_time(d: dict[str, Any]) -> Any:
    """The same, keeping modificationTime (GETFILESTATUS: one path's own status)."""
    return FileStatus.from_json(d, times=True) if "pathSuffix" in d and "type" in d else d
