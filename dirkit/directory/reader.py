"""Read AD into a ``Directory``: paged searches, complete group membership, nothing partial.

Searches are O(pages): one paged search for users and one for groups (run concurrently on two
connections to the same DC), plus one extra search per additional ``member`` range of a group
that the server truncated. Any incomplete answer raises IncompleteReadError, and the caller
then plans nothing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import escape_filter_chars

from ..config import Config
from ..errors import IncompleteReadError
from . import ldap
from .build import RawGroup, RawUser, build
from .model import Directory
from .names import NamePolicy

log = logging.getLogger(__name__)

USER_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "userPrincipalName", "displayName",
              "userAccountControl", "primaryGroupID", "uSNChanged"]  # fmt: skip
GROUP_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "uSNChanged"]
PAGED_OID = "1.2.840.113556.1.4.319"
_RANGE = re.compile(r"^member;range=(\d+)-(\d+|\*)$", re.IGNORECASE)


def escape(value: str) -> str:
    """Escape a value for use inside an LDAP filter (RFC 4515): ``*()\\`` and NUL."""
    return str(escape_filter_chars(value))


@dataclass
class ReadStats:
    searches: int = 0
    pages: int = 0
    range_searches: int = 0
    entries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


def _sid(raw: bytes) -> str:
    rev, count = raw[0], raw[1]
    auth = int.from_bytes(raw[2:8], "big")
    subs = [int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return f"S-{rev}-{auth}" + "".join(f"-{s}" for s in subs)


def _one(attrs: dict[str, list[bytes]], name: str) -> bytes | None:
    v = attrs.get(name)
    return v[0] if v else None


def _text(attrs: dict[str, list[bytes]], name: str) -> str | None:
    v = _one(attrs, name)
    return v.decode("utf-8") if v is not None else None


def _int(attrs: dict[str, list[bytes]], name: str) -> int | None:
    v = _one(attrs, name)
    return int(v) if v is not None else None


class Reader:
    def __init__(self, config: Config, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.stats = ReadStats()
        self.progress = progress or (lambda _msg: None)

    # -- paging ----------------------------------------------------------------------------
    def _paged(self, conn: ldap3.Connection, base: str, flt: str, attrs: list[str], what: str) -> Iterator[dict[str, Any]]:
        cookie: bytes | None = None
        page = 0
        while True:
            page += 1
            try:
                conn.search(base, flt, search_scope=ldap3.SUBTREE, attributes=attrs,
                            dereference_aliases=ldap3.DEREF_NEVER,
                            paged_size=self.config.ldap.page_size, paged_cookie=cookie)  # fmt: skip
            except (lexc.LDAPException, OSError) as exc:
                raise IncompleteReadError(f"reading {what} under {base}: connection lost on page {page} "
                                          f"({type(exc).__name__}: {exc}); nothing was planned or applied") from None  # fmt: skip
            self.stats.add(searches=1 if page == 1 else 0, pages=1)
            res = conn.result
            if res.get("result") != 0:
                raise IncompleteReadError(
                    f"reading {what} under {base}: the server ended the search on page {page} with "
                    f"{res.get('description')} ({res.get('message') or 'no message'}); the read is "
                    "incomplete, so nothing was planned or applied")  # fmt: skip
            for entry in conn.response or ():
                if entry.get("type") == "searchResEntry":
                    yield entry
            cookie = res.get("controls", {}).get(PAGED_OID, {}).get("value", {}).get("cookie")
            if not cookie:
                return

    # -- users -----------------------------------------------------------------------------
    def read_users(self, url: str) -> list[RawUser]:
        cfg = self.config
        out: list[RawUser] = []
        with ldap.connection(cfg.ldap, url) as conn:
            for base in cfg.directory.users_search_bases():
                for e in self._paged(conn, base, cfg.directory.user_filter, USER_ATTRS, "users"):
                    a = {k.lower(): v for k, v in e["raw_attributes"].items()}
                    guid, sid, sam = _one(a, "objectguid"), _one(a, "objectsid"), _text(a, "samaccountname")
                    if guid is None or sid is None or sam is None:
                        raise IncompleteReadError(f"user {e['dn']} came back without objectGUID/objectSid/"
                                                  "sAMAccountName: the bind account may lack read rights")  # fmt: skip
                    out.append(RawUser(
                        guid=str(uuid.UUID(bytes_le=guid)), dn=e["dn"], sam=sam, sid=_sid(sid),
                        upn=_text(a, "userprincipalname"), display_name=_text(a, "displayname"),
                        uac=_int(a, "useraccountcontrol") or 0, primary_group_id=_int(a, "primarygroupid"),
                        usn=_int(a, "usnchanged") or 0))  # fmt: skip
                    if len(out) % 5000 == 0:
                        self.progress(f"read {len(out)} users")
        self.stats.add(entries=len(out))
        return out

    # -- groups ----------------------------------------------------------------------------
    def _member_attr(self, start: int = 0) -> str:
        n = self.config.ldap.member_range_size
        return f"member;range={start}-{start + n - 1}" if n else ("member" if start == 0 else f"member;range={start}-*")

    def _members(self, conn: ldap3.Connection, dn: str, a: dict[str, list[bytes]]) -> list[str]:
        """All values of ``member``, following ``member;range=lo-hi`` until ``hi`` is ``*``."""
        members: list[str] = []
        while True:
            ranged = [(k, _RANGE.match(k)) for k in a if k.startswith("member;")]
            if not ranged:
                members.extend(v.decode("utf-8") for v in a.get("member", ()))
                return members
            key, m = ranged[0]
            if m is None:
                raise IncompleteReadError(f"group {dn}: unexpected attribute {key!r}")
            lo, hi = int(m.group(1)), m.group(2)
            if lo != len(members):
                raise IncompleteReadError(f"group {dn}: member range starts at {lo}, expected {len(members)}")
            members.extend(v.decode("utf-8") for v in a[key])
            if hi == "*":
                return members
            attr = self._member_attr(int(hi) + 1)
            try:
                conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[attr],
                            dereference_aliases=ldap3.DEREF_NEVER)  # fmt: skip
            except (lexc.LDAPException, OSError) as exc:
                raise IncompleteReadError(f"group {dn}: connection lost reading members from {int(hi) + 1} "
                                          f"({exc})") from None  # fmt: skip
            self.stats.add(searches=1, range_searches=1)
            if conn.result.get("result") != 0 or not conn.response:
                raise IncompleteReadError(f"group {dn}: reading members from {int(hi) + 1} failed: "
                                          f"{conn.result.get('description')}")  # fmt: skip
            a = {k.lower(): v for k, v in conn.response[0]["raw_attributes"].items()}
            if not any(k.startswith("member;") for k in a):
                if int(hi) + 1 == len(members):  # an empty tail: some servers answer so at the end
                    return members
                raise IncompleteReadError(f"group {dn}: server returned no member range after {hi}")

    def read_groups(self, url: str) -> list[RawGroup]:
        cfg = self.config
        out: list[RawGroup] = []
        attrs = [*GROUP_ATTRS, self._member_attr()]
        with ldap.connection(cfg.ldap, url) as conn:
            pending: list[tuple[dict[str, Any], dict[str, list[bytes]]]] = []
            for base in cfg.directory.groups_search_bases():
                for e in self._paged(conn, base, cfg.directory.group_filter, attrs, "groups"):
                    pending.append((e, {k.lower(): v for k, v in e["raw_attributes"].items()}))
            # Ranges are fetched after the paged search is over: interleaving other searches
            # on the same connection would invalidate the paging cookie on some servers.
            for e, a in pending:
                guid, sid, sam = _one(a, "objectguid"), _one(a, "objectsid"), _text(a, "samaccountname")
                if guid is None or sid is None or sam is None:
                    raise IncompleteReadError(f"group {e['dn']} came back without objectGUID/objectSid/sAMAccountName")
                out.append(RawGroup(guid=str(uuid.UUID(bytes_le=guid)), dn=e["dn"], sam=sam, sid=_sid(sid),
                                    usn=_int(a, "usnchanged") or 0,
                                    members=tuple(self._members(conn, e["dn"], a))))  # fmt: skip
        self.stats.add(entries=len(out))
        return out

    # -- all -------------------------------------------------------------------------------
    def read(self) -> Directory:
        cfg = self.config
        t0 = time.monotonic()
        # Pick the DC once, so users and groups come from the same server (uSNs are per DC).
        probe, url = ldap.open_connection(cfg.ldap)
        probe.unbind()
        self.progress(f"reading from {url}")
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dirkit-read") as pool:
            fu = pool.submit(self.read_users, url)
            fg = pool.submit(self.read_groups, url)
            users, groups = fu.result(), fg.result()
        read_s = time.monotonic() - t0
        policy = NamePolicy(cfg.names, realm=cfg.directory.realm)
        stats = {"dc": url, "ldap_searches": self.stats.searches, "ldap_pages": self.stats.pages,
                 "range_searches": self.stats.range_searches, "read_seconds": round(read_s, 3)}  # fmt: skip
        return build(users, groups, policy, cfg.directory.users_search_bases(), stats)


def read_directory(config: Config, progress: Callable[[str], None] | None = None) -> Directory:
    """Read the whole configured scope of AD. Raises DirectoryError; never returns a partial picture."""
    return Reader(config, progress).read()
