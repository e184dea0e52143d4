"""An in-memory stand-in for the NameNode, for unit tests of sync outcomes only.

The real NameNode is exercised by tests/integration/test_hdfs.py; this lets the partial and
exit-code paths of ``sync`` run in milliseconds. It keeps what WebHDFS would report (owner,
group, permission, quotas, a directory's modificationTime: moved, as HDFS moves it, when an
entry is made or renamed in it, not on chown/chmod) and can be told to fail chosen operations.
"""

from __future__ import annotations

import posixpath
from typing import Any

from dirkit._homes.file_status import FileStatus
from dirkit.errors import HdfsError, HdfsUnavailable


class MemoryHdfs:
    def __init__(self, *dirs: str, superuser: str = "nn") -> None:
        self.superuser = superuser  # who MKDIRS makes the owner (the principal dirkit uses)
        self.requests = 0
        self.files: dict[str, dict[str, Any]] = {}
        self.fail: set[tuple[str, str]] = set()  # (op, path) answering HTTP 403
        self.down = False  # every call: NameNode unreachable
        self.clock = 1764547200000  # the modificationTime the next change gets (ms)
        for d in dirs:
            self.files[d] = {"type": "DIRECTORY", "owner": "hdfs", "group": "supergroup", "permission": "755"}
            self.files[d]["modificationTime"] = self.clock

    def _call(self, op: str, path: str) -> None:
        self.requests += 1
        if self.down:
            raise HdfsUnavailable(f"WebHDFS {op} {path}: NameNode unreachable (memory stand-in)")
        if (op, path) in self.fail:
            raise HdfsError(f"WebHDFS {op} {path}: HTTP 403: Permission denied (memory stand-in)")

    def status(self, path: str) -> FileStatus | None:
        self._call("GETFILESTATUS", path)
        if path not in self.files:
            return None
        return FileStatus.from_json({**self.files[path], "pathSuffix": ""}, times=True)

    def _moved(self, *paths: str) -> None:
        """Entries were made or renamed in the parents of ``paths``: their modificationTime moves."""
        self.clock += 1
        for p in paths:
            if posixpath.dirname(p) in self.files:
                self.files[posixpath.dirname(p)]["modificationTime"] = self.clock

    def add(self, path: str, owner: str, group: str = "hadoop", mode: str = "755", kind: str = "DIRECTORY") -> None:
        """A directory (or file) someone other than dirkit made."""
        self.files[path] = {"type": kind, "owner": owner, "group": group, "permission": mode}
        self._moved(path)

    def remove(self, path: str) -> None:
        """Someone deleted ``path``."""
        del self.files[path]
        self._moved(path)

    def list(self, path: str) -> list[FileStatus] | None:
        self._call("LISTSTATUS", path)
        if path not in self.files:
            return None
        return [
            FileStatus.from_json({**st, "pathSuffix": posixpath.basename(p)})
            for p, st in sorted(self.files.items())
            if posixpath.dirname(p) == path and p != path
        ]

    def mkdirs(self, path: str, permission: str) -> bool:
        self._call("MKDIRS", path)
        if path not in self.files:
            self.files[path] = {
                "type": "DIRECTORY",
                "owner": self.superuser,
                "group": "supergroup",
                "permission": permission,
            }
            self._moved(path)
        return True

    def set_owner(self, path: str, owner: str, group: str) -> None:
        self._call("SETOWNER", path)
        self.files[path].update(owner=owner, group=group)

    def rename(self, path: str, destination: str) -> None:
        self._call("RENAME", path)
        self.files[destination] = self.files.pop(path)
        self._moved(path, destination)

    def set_permission(self, path: str, permission: str) -> None:
        self._call("SETPERMISSION", path)
        self.files[path]["permission"] = permission

    def set_quota(self, path: str, namespace: int | None, space: int | None) -> None:
        self._call("SETQUOTA", path)
        self.files[path].update(quota=namespace, spaceQuota=space)

    def quota(self, path: str) -> tuple[int, int]:
        self._call("GETQUOTAUSAGE", path)
        st = self.files[path]
        return (st.get("quota") or -1, st.get("spaceQuota") or -1)

    def close(self) -> None:
        pass
