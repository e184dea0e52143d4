"""A small WebHDFS client with SPNEGO from explicit Kerberos credentials.

requests-gssapi rather than requests-kerberos: it takes a `gssapi.Credentials` object, so each
client authenticates as its own principal from its own private credential cache, with no
process-wide KRB5CCNAME (verify runs several users at once). After the first SPNEGO exchange
Hadoop sets a `hadoop.auth` cookie, so later requests on the same session need one round trip.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlparse

import gssapi
import requests
from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

from .. import _kerberos as kerberos
from ..errors import HdfsError, HdfsUnavailable
from .file_status import FileStatus, file_status_with_time, file_statuses
from .policy import check_path


class WebHdfs:
    def __init__(
        self,
        base_url: str,
        creds: gssapi.Credentials | None,
        timeout: float = 30,
        pool_size: int = 8,
        hostname: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.requests = 0
        self._count_lock = threading.Lock()
        host = hostname or urlparse(self.base_url).hostname or "localhost"
        self._target = gssapi.Name(f"HTTP@{host}", gssapi.NameType.hostbased_service)
        self._creds = creds
        self._sessions: queue.LifoQueue[requests.Session] = queue.LifoQueue()
        self._all: list[requests.Session] = []
        for _ in range(pool_size):
            session = requests.Session()
            session.auth = HTTPSPNEGOAuth(creds=creds, target_name=self._target, mutual_authentication=OPTIONAL)
            if ca_file is not None:
                session.verify = str(ca_file)
            self._sessions.put(session)
            self._all.append(session)

    @classmethod
    def from_keytab(cls, base_url: str, principal: str, keytab: Path, **kw: Any) -> WebHdfs:
        return cls(base_url, kerberos.keytab_credentials(principal, keytab), **kw)

    def close(self) -> None:
        for s in self._all:
            s.close()

    def __enter__(self) -> WebHdfs:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[requests.Session]:
        s = self._sessions.get()
        try:
            yield s
        finally:
            self._sessions.put(s)

    def url(self, path: str) -> str:
        # quote() with safe="/": '#', '%', '?', spaces and non-ASCII are percent-encoded (UTF-8),
        # so a name always lands in the directory it names, never elsewhere.
        return self.base_url + quote(check_path(path), safe="/")

    def call(
        self,
        method: str,
        path: str,
        op: str,
        ok_404: bool = False,
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
        **params: Any,
    ) -> Any:
        with self._session() as s:
            try:
                r = s.request(method, self.url(path), params={"op": op, **params}, timeout=self.timeout)
            except requests.RequestException as exc:
                raise HdfsUnavailable(
                    f"WebHDFS {op} {path}: NameNode unreachable at {self.base_url} "
                    f"({type(exc).__name__}); check hdfs.url and that the NameNode is "
                    "running"
                ) from exc
            finally:
                with self._count_lock:
                    self.requests += 1
        if ok_404 and r.status_code == 404:
            return None
        if r.status_code >= 400:
            reason = r.text.strip()[:300]
            try:
                reason = r.json()["RemoteException"]["message"]
            except (ValueError, KeyError, TypeError):
                pass
            if r.status_code == 401:
                reason = (
                    "SPNEGO authentication refused: check the principal and keytab, and that the "
                    "NameNode's HTTP/<host> principal is in its keytab; server said: " + reason
                )
            raise HdfsError(f"WebHDFS {op} {path}: HTTP {r.status_code}: {reason}")
        try:
            return json.loads(r.content, object_hook=object_hook) if r.content else None
        except ValueError as exc:  # a proxy or a wrong URL answering HTML, not the NameNode
            raise HdfsError(
                f"WebHDFS {op} {path}: HTTP {r.status_code} but not a WebHDFS JSON answer "
                f"({r.text.strip()[:120]!r}); check hdfs.url"
            ) from exc

    # -- operations --------------------------------------------------------------------------
    def _field(self, out: Any, op: str, path: str, *keys: str) -> Any:
        """``out[keys[0]][keys[1]]...``, or an HdfsError if the answer does not have that shape."""
        try:
            for k in keys:
                out = out[k]
            return out
        except (KeyError, TypeError, IndexError) as exc:
            raise HdfsError(
                f"WebHDFS {op} {path}: unexpected answer (no {'.'.join(keys)}); check that hdfs.url is the "
                "NameNode's WebHDFS endpoint"
            ) from exc

    def status(self, path: str) -> FileStatus | None:
        out = self.call("GET", path, "GETFILESTATUS", ok_404=True, object_hook=file_status_with_time)
        if out is None:
            return None
        st = self._field(out, "GETFILESTATUS", path, "FileStatus")
        if not isinstance(st, FileStatus):
            raise HdfsError(f"WebHDFS GETFILESTATUS {path}: unexpected answer (a FileStatus without pathSuffix)")
        return st

    def list(self, path: str) -> list[FileStatus] | None:
        out = self.call("GET", path, "LISTSTATUS", ok_404=True, object_hook=file_statuses)
        if out is None:
            return None
        entries = self._field(out, "LISTSTATUS", path, "FileStatuses", "FileStatus")
        if not isinstance(entries, list) or not all(isinstance(e, FileStatus) for e in entries):
            raise HdfsError(f"WebHDFS LISTSTATUS {path}: unexpected answer (entries without pathSuffix)")
        return entries

    def quota(self, path: str) -> tuple[int, int]:
        """(namespace quota, space quota); -1 where none is set."""
        out = self.call("GET", path, "GETQUOTAUSAGE")
        return (
            int(self._field(out, "GETQUOTAUSAGE", path, "QuotaUsage", "quota")),
            int(self._field(out, "GETQUOTAUSAGE", path, "QuotaUsage", "spaceQuota")),
        )

    def mkdirs(self, path: str, permission: str) -> bool:
        return bool(self._field(self.call("PUT", path, "MKDIRS", permission=permission), "MKDIRS", path, "boolean"))

    def set_owner(self, path: str, owner: str, group: str) -> None:
        self.call("PUT", path, "SETOWNER", owner=owner, group=group)

    def rename(self, path: str, destination: str) -> None:
        """Move ``path`` to ``destination`` (WebHDFS RENAME; false when it could not)."""
        ok = self._field(
            self.call("PUT", path, "RENAME", destination=check_path(destination)), "RENAME", path, "boolean"
        )
        if not ok:
            raise HdfsError(f"WebHDFS RENAME {path} -> {destination}: the NameNode refused (does it exist already?)")

    def set_permission(self, path: str, permission: str) -> None:
        self.call("PUT", path, "SETPERMISSION", permission=permission)

    def set_quota(self, path: str, namespace: int | None, space: int | None) -> None:
        params: dict[str, Any] = {}
        if namespace is not None:
            params["namespacequota"] = namespace
        if space is not None:
            params["storagespacequota"] = space
        self.call("PUT", path, "SETQUOTA", **params)
