"""Read AD into a ``Directory``: paged searches, complete group membership, nothing partial.

Searches are O(pages): one paged search for users and one for groups (run concurrently on two
connections to the same DC), plus one extra search per additional ``member`` range of a group
that the server truncated. Any incomplete answer raises IncompleteReadError, and the caller
then plans nothing.
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import ldap3
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from .. import _deadline as deadline
from .. import _faults as faults
from .._config import Config, LdapConfig, reserved_names
from .._log import event
from ..errors import DirectoryConnectionLost, DirectoryUnreachable, IncompleteReadError
from . import incremental, ldap
from .build import RawGroup, RawUser, build, is_under
from .delta import (
    CONTAINER_CLASSES,
    SHOW_DELETED,
    Changed,
    DeltaRead,
    Watermark,
    entered_scope,
    groups_listing,
    primary_group_moves,
)
from .ldap import GROUP_ATTRS, USER_ATTRS
from .model import AccountState, Directory, ReadInfo
from .names import NamePolicy

log = logging.getLogger("dirkit.directory.reader")  # its name before the module became private

PAGED_OID = "1.2.840.113556.1.4.319"
_RANGE = re.compile(r"^member;range=(\d+)-(\d+|\*)$", re.IGNORECASE)


def escape(value: str) -> str:
    """Escape a value for use inside an LDAP filter (RFC 4515): ``*()\\`` and NUL."""
    return str(escape_filter_chars(value))


PROGRESS_EVERY = 1.0  # seconds between two progress lines of a read


@dataclass
class ReadStats:
    searches: int = 0
    pages: int = 0
    range_searches: int = 0
    catch_up_reads: int = 0  # users read again because something changed during the read
    entries: dict[str, int] = field(default_factory=dict)  # entries read so far, by what
    started: float = field(default_factory=time.monotonic)
    reported: float = 0.0  # when progress was last shown
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def page(self, what: str, entries: int, progress: Callable[[str], None]) -> None:
        """Count a page's entries; show the counts so far at most once a second (pages come
        from several connections at once: one line for all of them)."""
        with self.lock:
            self.entries[what] = self.entries.get(what, 0) + entries
            now = time.monotonic()
            if now - self.reported < PROGRESS_EVERY:
                return
            self.reported = now
            line = ", ".join(f"{n:,} {w}" for w, n in sorted(self.entries.items()))
        progress(f"read {line} ({now - self.started:.0f}s)")


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


def _attributes(entry: dict[str, Any]) -> dict[str, list[bytes]]:
    """An entry's raw values by lower-case attribute name (AD's names are case-insensitive)."""
    return {k.lower(): v for k, v in entry["raw_attributes"].items()}


def _scoped(flt: str, usn_from: int | None, usn_to: int | None, where: str) -> str:
    """``flt`` narrowed to ``usn_from <= uSNChanged < usn_to`` (either bound optional) and ``where``."""
    clauses = ([f"(uSNChanged>={usn_from})"] if usn_from else []) + ([f"(!(uSNChanged>={usn_to}))"] if usn_to else [])
    clauses += [where] if where else []
    return f"(&{flt}{''.join(clauses)})" if clauses else flt


def _identity_of(a: dict[str, list[bytes]], what: str, dn: str) -> dict[str, Any]:
    """What users and groups share (RawUser's and RawGroup's first fields): the DN, objectGUID,
    objectSid, sAMAccountName and the USNs. Without the first three nothing may be planned."""
    guid, sid, sam = _one(a, "objectguid"), _one(a, "objectsid"), _text(a, "samaccountname")
    if guid is None or sid is None or sam is None:
        raise IncompleteReadError(
            f"{what} {dn} came back without objectGUID/objectSid/sAMAccountName: the bind account may lack "
            "read rights on it"
        )
    return {
        "guid": str(uuid.UUID(bytes_le=guid)),
        "dn": dn,
        "sam": sam,
        "sid": _sid(sid),
        "usn": _int(a, "usnchanged") or 0,
        "created_usn": _int(a, "usncreated") or 0,
    }


SCOPES = {ldap3.BASE: "base", ldap3.LEVEL: "one", ldap3.SUBTREE: "sub"}


def ldapsearch_command(cfg: LdapConfig, conn: ldap3.Connection, base: str, flt: str, **kw: Any) -> str:
    """The `ldapsearch` (OpenLDAP) command line that makes the same search, for an admin to
    reproduce what dirkit saw. Never a secret: a simple bind asks for its password (-W)."""
    server = conn.server
    url = f"{'ldaps' if server.ssl else 'ldap'}://{server.host}:{server.port}"
    argv = ["ldapsearch", "-H", url]
    if cfg.bind == "kerberos":
        # Inside TLS, AD refuses a SASL security layer on top ("Sign or Seal are not allowed if
        # TLS is used"): maxssf=0 asks for none, as ldap3 does. -N: the name as given, no rDNS.
        # The TLS channel bindings ldap3 sends too (OpenLDAP sends none by default), without
        # which a DC that enforces channel binding refuses the bind (80090346, data 35b).
        argv += ["-Y", "GSSAPI", "-N", "-O", "maxssf=0", "-o", "SASL_CBINDING=tls-endpoint"]
    else:
        argv += ["-x", "-D", cfg.bind_dn or "", "-W"]
    if cfg.start_tls and not server.ssl:
        argv.append("-ZZ")
    argv += ["-b", base, "-s", SCOPES.get(kw.get("search_scope", ldap3.SUBTREE), "sub"), "-a", "never"]
    if kw.get("paged_size"):
        argv += ["-E", f"pr={kw['paged_size']}/noprompt"]
    for oid, critical, _value in kw.get("controls") or ():
        argv += ["-E", f"{'!' if critical else ''}{oid}"]
    argv.append(flt)
    argv += list(kw.get("attributes") or ())
    return " ".join(shlex.quote(a) for a in argv)


class Reader:
    def __init__(self, config: Config, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.stats = ReadStats()
        self.progress = progress or (lambda _msg: None)

    def _search(self, conn: ldap3.Connection, what: str, base: str, flt: str, **kw: Any) -> None:
        """conn.search, with a connection that broke (the DC stopped, the network went) turned
        into DirectoryConnectionLost: the caller may start the read again on another DC. With
        -v, each search is logged as the equivalent `ldapsearch` command (first page only)."""
        if log.isEnabledFor(logging.DEBUG) and not kw.get("paged_cookie"):
            event(
                log,
                "ldap_search",
                logging.DEBUG,
                what=what,
                command=ldapsearch_command(self.config.ldap, conn, base, flt, **kw),
            )
        try:
            conn.search(base, flt, dereference_aliases=ldap3.DEREF_NEVER, **kw)
        except (lexc.LDAPException, OSError) as exc:
            raise DirectoryConnectionLost(
                f"{conn.server.host}: connection lost while reading {what} ({type(exc).__name__}: {exc}); "
                "nothing was planned or applied"
            ) from exc

    # -- paging ----------------------------------------------------------------------------
    def _paged(
        self,
        conn: ldap3.Connection,
        base: str,
        flt: str,
        attrs: list[str],
        what: str,
        controls: list[tuple[str, bool, Any]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        cookie: bytes | None = None
        page = 0
        while True:
            page += 1
            self._search(
                conn,
                f"{what} under {base} (page {page})",
                base,
                flt,
                search_scope=ldap3.SUBTREE,
                attributes=attrs,
                paged_size=self.config.ldap.page_size,
                paged_cookie=cookie,
                controls=controls,
            )
            self.stats.add(searches=1 if page == 1 else 0, pages=1)
            faults.point("ldap-page")
            res = conn.result
            if res.get("result") != 0:
                raise IncompleteReadError(
                    f"reading {what} under {base}: the server ended the search on page {page} with "
                    f"{res.get('description')} ({res.get('message') or 'no message'}); the read is "
                    "incomplete, so nothing was planned or applied"
                )
            found = [entry for entry in conn.response or () if entry.get("type") == "searchResEntry"]
            self.stats.page(what, len(found), self.progress)
            yield from found
            cookie = res.get("controls", {}).get(PAGED_OID, {}).get("value", {}).get("cookie")
            if not cookie:
                return

    # -- users -----------------------------------------------------------------------------
    def read_users(
        self, conn: ldap3.Connection, usn_from: int | None = None, usn_to: int | None = None, where: str = ""
    ) -> list[RawUser]:
        """Users with ``usn_from <= uSNChanged < usn_to`` (either bound optional) matching the
        filter ``where`` (if given)."""
        cfg = self.config
        out: list[RawUser] = []
        flt = _scoped(cfg.directory.user_filter, usn_from, usn_to, where)
        for base in cfg.directory.users_search_bases():
            for e in self._paged(conn, base, flt, USER_ATTRS, "users"):
                a = _attributes(e)
                out.append(
                    RawUser(
                        **_identity_of(a, "user", e["dn"]),
                        upn=_text(a, "userprincipalname"),
                        display_name=_text(a, "displayname"),
                        uac=_int(a, "useraccountcontrol") or 0,
                        primary_group_id=_int(a, "primarygroupid"),
                        system=_text(a, "iscriticalsystemobject") == "TRUE",
                    )
                )
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
            self._search(
                conn,
                f"the members of {dn} from {int(hi) + 1}",
                dn,
                "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=[attr],
            )
            self.stats.add(searches=1, range_searches=1)
            if conn.result.get("result") != 0 or not conn.response:
                raise IncompleteReadError(
                    f"group {dn}: reading members from {int(hi) + 1} failed: {conn.result.get('description')}"
                )
            a = _attributes(conn.response[0])
            if not any(k.startswith("member;") for k in a):
                if int(hi) + 1 == len(members):  # an empty tail: some servers answer so at the end
                    return members
                raise IncompleteReadError(f"group {dn}: server returned no member range after {hi}")

    def read_groups(self, url: str) -> list[RawGroup]:
        with ldap.connection(self.config.ldap, url) as conn:
            return self.read_groups_on(conn)

    def read_groups_on(self, conn: ldap3.Connection, usn_from: int | None = None, where: str = "") -> list[RawGroup]:
        """Groups in scope (with ``uSNChanged >= usn_from`` if given, matching the filter
        ``where`` if given), members complete."""
        cfg = self.config
        out: list[RawGroup] = []
        attrs = [*GROUP_ATTRS, self._member_attr()]
        flt = _scoped(cfg.directory.group_filter, usn_from, None, where)
        pending: list[tuple[dict[str, Any], dict[str, list[bytes]]]] = []
        for base in cfg.directory.groups_search_bases():
            for e in self._paged(conn, base, flt, attrs, "groups"):
                pending.append((e, _attributes(e)))
        # Ranges are fetched after the paged search is over: interleaving other searches
        # on the same connection would invalidate the paging cookie on some servers.
        for e, a in pending:
            out.append(
                RawGroup(
                    **_identity_of(a, "group", e["dn"]),
                    members=tuple(self._members(conn, e["dn"], a)),
                )
            )
        return out

    # -- all -------------------------------------------------------------------------------
    def _identity(self, conn: ldap3.Connection) -> tuple[int, str]:
        """(highestCommittedUSN, invocationId) of the DC: the watermark and the identity of the
        database it counts in (a restored DC gets a new invocationId). Two base searches."""
        highest, service = self._root(conn)
        return highest, self._invocation(conn, service)

    def _root(self, conn: ldap3.Connection) -> tuple[int, str]:
        """(highestCommittedUSN, dsServiceName) from the rootDSE: one search."""
        self._search(
            conn,
            "the rootDSE",
            "",
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["highestCommittedUSN", "dsServiceName"],
        )
        self.stats.add(searches=1)
        if conn.result.get("result") != 0 or not conn.response:
            raise IncompleteReadError(
                f"cannot read highestCommittedUSN from the rootDSE: {conn.result.get('description')}"
            )
        root = conn.response[0]["raw_attributes"]
        return int(root["highestCommittedUSN"][0]), root.get("dsServiceName", [b""])[0].decode()

    def _invocation(self, conn: ldap3.Connection, service: str) -> str:
        """The invocationId of the DC's NTDS Settings object ``service`` (not on the rootDSE)."""
        if not service:
            return ""
        self._search(
            conn,
            "the DC's invocationId",
            service,
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["invocationId"],
        )
        self.stats.add(searches=1)
        if conn.result.get("result") == 0 and conn.response:
            return uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["invocationId"][0]).hex
        return ""

    def _cuts(self, highest: int, usn_quantiles: Sequence[int]) -> list[int]:
        """uSNChanged cut points splitting the users into ``ldap.read_connections`` ranges:
        from the last snapshot's USN quantiles (equal ranges), or on a first run an even
        split of the USN space. One range per connection: each paged search's first page
        costs the DC a full evaluation of the filter, so more ranges only add work."""
        n = self.config.ldap.read_connections
        q = list(usn_quantiles)
        if len(q) >= n:
            cuts = [q[len(q) * i // n] for i in range(1, n)]
        else:
            cuts = [highest * i // n for i in range(1, n)]
        return sorted({c for c in cuts if c > 0})

    def _catch_up(self, conn: ldap3.Connection, highest: int) -> list[RawUser]:
        """Users changed since the read started. A bare uSNChanged filter is answered from the
        index (the user filter makes the DC evaluate every candidate again), so look first and
        read users only when something user-like changed."""
        self._search(
            conn,
            "changes made during the read",
            self.config.directory.base_dn,
            f"(uSNChanged>={highest + 1})",
            search_scope=ldap3.SUBTREE,
            attributes=["objectClass"],
        )
        self.stats.add(searches=1)
        if conn.result.get("result") != 0:
            raise IncompleteReadError(f"catch-up search failed: {conn.result.get('description')}")
        changed = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
        if not any(b"user" in e["raw_attributes"].get("objectClass", ()) for e in changed):
            return []
        self.stats.add(catch_up_reads=1)
        return self.read_users(conn, highest + 1, None)

    def _read_user_range(self, url: str, lo: int | None, hi: int | None) -> list[RawUser]:
        with ldap.connection(self.config.ldap, url) as conn:
            return self.read_users(conn, lo, hi)

    def read(self, usn_quantiles: Sequence[int] = ()) -> Directory:
        cfg = self.config
        t0 = time.monotonic()
        lost: list[str] = []
        while True:
            # Pick the DC once, so every search goes to the same server (uSNs are per DC).
            probe, url = ldap.open_connection(cfg.ldap, skip=lost)
            try:
                users, groups, highest, invocation, rights = self._read_from(probe, url, usn_quantiles)
                break
            except (DirectoryConnectionLost, DirectoryUnreachable) as exc:
                # The DC went away mid-read: a read is all or nothing, so start again from the
                # next DC (a different DC's USNs mean nothing here anyway).
                lost.append(url)
                if all(u in lost for u in cfg.ldap.urls):
                    raise
                event(log, "dc_failover", logging.WARNING, dc=url, error=str(exc))
                self.progress(f"{url} went away during the read: reading again from the next DC")
                self.stats = ReadStats()
            finally:
                ldap.close(probe)
        read_s = time.monotonic() - t0
        self.progress(f"read {len(users):,} users and {len(groups):,} groups in {read_s:.1f}s: building memberships")
        info = ReadInfo(
            kind="full",
            dc=url,
            failed_over_from=tuple(lost),
            invocation_id=invocation,
            highest_usn=highest,
            tombstone_rights=rights,
            searches=self.stats.searches,
            pages=self.stats.pages,
            range_searches=self.stats.range_searches,
            catch_up_reads=self.stats.catch_up_reads,
            seconds=round(read_s, 3),
        )
        return self._build(users, groups, info)

    def _build(self, users: list[RawUser], groups: list[RawGroup], info: ReadInfo) -> Directory:
        """The snapshot from what a read (full or delta) found: names, memberships, closure."""
        d = self.config.directory
        return build(
            users, groups, self._policy(), d.users_search_bases(), info, include_system=d.include_system_accounts
        )

    def _policy(self) -> NamePolicy:
        return NamePolicy(self.config.names, realm=self.config.directory.realm, reserved=reserved_names(self.config))

    def _read_from(
        self, probe: ldap3.Connection, url: str, usn_quantiles: Sequence[int]
    ) -> tuple[list[RawUser], list[RawGroup], int, str, bool]:
        """Every user and group in scope from one DC: (users, groups, highestCommittedUSN at
        the start, invocationId, whether this account may read tombstones)."""
        highest, invocation = self._identity(probe)
        self.progress(f"reading from {url}")
        # Users are read as uSNChanged ranges on parallel connections, groups on one more:
        # paging is strictly request -> page -> request on one connection, so while the DC
        # builds one connection's next page, this process decodes another's.
        bounds: list[int | None] = [None, *self._cuts(highest, usn_quantiles), None]
        ranges = [partial(self._read_user_range, url, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]
        calls: list[Callable[[], list[Any]]] = [partial(self.read_groups, url), *ranges]
        with deadline.parallel(calls, len(calls), "dirkit-read") as (fg, *fus):
            rights = self.tombstone_rights(probe)  # meanwhile, on the idle first connection
            users = [u for f in fus for u in f.result()]
            groups = fg.result()
        # A user changed during the read may have moved from a range not yet read to one
        # already read. Everything changed since the start has a higher USN: one more
        # (normally empty) search catches it, so no user can be missed.
        late = self._catch_up(probe, highest)
        if late:
            by_guid = {u.guid: u for u in users}
            by_guid.update({u.guid: u for u in late})
            users = list(by_guid.values())
        return users, groups, highest, invocation, rights

    # -- delta ---------------------------------------------------------------------------
    def _changed(self, conn: ldap3.Connection, since: int) -> list[Changed]:
        """Every object (any class, deleted ones too) with uSNChanged > ``since``: one search,
        answered from the uSNChanged index."""
        out = []
        show_deleted = [(SHOW_DELETED, True, None)]
        for e in self._paged(
            conn,
            self.config.directory.base_dn,
            f"(uSNChanged>={since + 1})",
            ["objectGUID", "objectClass", "isDeleted", "lastKnownParent", "msDS-LastKnownRDN", "name"],
            "changes",
            controls=show_deleted,
        ):
            a = {k.lower(): v for k, v in e["raw_attributes"].items()}
            guid = _one(a, "objectguid")
            if guid is None:
                continue
            classes = {c.lower() for c in a.get("objectclass", ())}
            deleted = _one(a, "isdeleted") == b"TRUE"
            # A tombstone's DN is in CN=Deleted Objects; where it lived is its last known RDN
            # under its last known parent (what group member lists may still name).
            # (Samba leaves msDS-LastKnownRDN empty; a tombstone's name is "<rdn>\nDEL:<guid>".)
            rdn = _text(a, "msds-lastknownrdn") or (_text(a, "name") or "").split("\n", 1)[0]
            parent = _text(a, "lastknownparent")
            was = f"CN={escape_rdn(rdn)},{parent}" if deleted and rdn and parent else ""
            out.append(
                Changed(
                    guid=str(uuid.UUID(bytes_le=guid)),
                    dn=e["dn"],
                    deleted=deleted,
                    container=bool(classes & CONTAINER_CLASSES),
                    last_dn=was,
                )
            )
        return out

    def tombstone_rights(self, conn: ldap3.Connection) -> bool:
        """May this account read CN=Deleted Objects (List Contents + Read Property), so that
        deletions reach its deltas as tombstones? AD answers a base read of that container to
        anyone, but with its attributes only to an account allowed to read it (seen on Samba:
        none without the right, isDeleted and objectClass with it). So an empty container that
        is readable is a yes, and no deletion is needed to find out. One search."""
        self._search(
            conn,
            "CN=Deleted Objects (may this account read tombstones?)",
            f"CN=Deleted Objects,{self.config.directory.base_dn}",
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["isDeleted", "objectClass"],
            controls=[(SHOW_DELETED, True, None)],
        )
        self.stats.add(searches=1)
        entries = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
        return conn.result.get("result") == 0 and any(e.get("raw_attributes") for e in entries)

    def _present(self, url: str, highest: int, usns: Sequence[int]) -> set[str]:
        """GUIDs of every user and group in scope (objectGUID only): without tombstone rights,
        the snapshot's objects missing here were deleted (or left the reach of the searches).
        The DC's cost is per entry, whatever the attributes (at 10k users this listing costs
        about what reading everything does), so it is split like a full read: users in
        uSNChanged ranges (cut at the snapshot's quantiles) and groups, each on a connection."""
        d = self.config.directory
        q = sorted(usns)
        bounds: list[int | None] = [
            None,
            *self._cuts(highest, [q[len(q) * i // 100] for i in range(100)] if q else []),
            None,
        ]
        slices = [(d.users_search_bases(), d.user_filter, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]
        slices.append((d.groups_search_bases(), d.group_filter, None, None))
        calls = [partial(self._guids, url, *sl) for sl in slices]
        with deadline.parallel(calls, len(calls), "dirkit-guids") as futures:
            return set().union(*(f.result() for f in futures))

    def _guids(self, url: str, bases: Sequence[str], flt: str, lo: int | None, hi: int | None) -> set[str]:
        clauses = ([f"(uSNChanged>={lo})"] if lo else []) + ([f"(!(uSNChanged>={hi}))"] if hi else [])
        if clauses:
            flt = f"(&{flt}{''.join(clauses)})"
        out: set[str] = set()
        with ldap.connection(self.config.ldap, url) as conn:
            for base in bases:
                for e in self._paged(conn, base, flt, ["objectGUID"], "GUIDs in scope"):
                    raw = e["raw_attributes"].get("objectGUID") or e["raw_attributes"].get("objectguid")
                    if raw:
                        out.add(str(uuid.UUID(bytes_le=raw[0])))
        return out

    def _reread_groups(self, conn: ldap3.Connection, clauses: Sequence[str]) -> list[RawGroup]:
        """Groups in scope matching any of ``clauses`` (a few searches, 100 clauses each)."""
        out: list[RawGroup] = []
        for i in range(0, len(clauses), 100):
            out += self.read_groups_on(conn, where=f"(|{''.join(clauses[i : i + 100])})")
        return out

    def _departures(
        self,
        prev: Directory,
        changed: list[Changed],
        vanished: list[Changed],
        users: list[RawUser],
        groups: list[RawGroup],
    ) -> dict[str, str]:
        """Why each object of the snapshot that is not in scope any more left (the plan says it)."""
        d = self.config.directory
        kept = {u.guid for u in users} | {g.guid for g in groups}
        out: dict[str, str] = {}
        for c in changed:
            if c.guid in kept or (c.guid not in prev.users and c.guid not in prev.groups):
                continue
            bases = d.users_search_bases() if c.guid in prev.users else d.groups_search_bases()
            if c.deleted:
                out[c.guid] = "deleted"
            elif not is_under(c.dn, bases):
                out[c.guid] = f"moved out of the scope (to {c.dn})"
            else:
                out[c.guid] = "no longer matches the filter"
        for c in vanished:
            out[c.guid] = "deleted (or out of this account's reach: it may not read tombstones to tell)"
        return out

    def _read_changed(
        self, conn: ldap3.Connection, changed: list[Changed], since: int
    ) -> tuple[list[RawUser], list[RawGroup]]:
        """The changed objects that are users or groups in scope, read whole. A few hundred are
        asked for by objectGUID (answered from its index; with `uSNChanged>=N` and the user
        filter the lab's DC tests every user: a 1 % delta at 10k users took 0.1 s longer); more,
        by uSNChanged in one paged search each."""
        live = sorted(c.guid for c in changed if not c.deleted and not c.container)
        if not live:
            return [], []
        if len(live) > _BY_GUID_MAX:
            return self.read_users(conn, since + 1, None), self.read_groups_on(conn, since + 1)
        users: list[RawUser] = []
        groups: list[RawGroup] = []
        for i in range(0, len(live), 100):
            where = "(|" + "".join(f"(objectGUID={_guid_filter(g)})" for g in live[i : i + 100]) + ")"
            users += self.read_users(conn, where=where)
            groups += self.read_groups_on(conn, where=where)
        return users, groups

    def read_delta(self, since: Watermark, previous: Callable[[], Directory]) -> DeltaRead:
        """What changed on the watermark's DC since it, merged into ``previous()`` (the stored
        snapshot). When the DC's highestCommittedUSN is the watermark's, nothing changed: one
        search, and the snapshot is not loaded. Deletions come as tombstones to an account
        allowed to read them; without that right, the scope's GUIDs are listed instead (only
        when something changed) and the snapshot's objects missing there are gone. Groups
        whose member lists AD rewrote without changing them (a primary group moved, an object
        back in scope, one deleted unseen) are read again, so the result equals a full read."""
        cfg = self.config
        t0 = time.monotonic()
        try:
            conn = ldap.open_one(since.dc, cfg.ldap)
        except DirectoryUnreachable as exc:
            return DeltaRead(why=f"the DC of the watermark ({since.dc}) does not answer ({exc}): failing over")
        try:
            highest, service = self._root(conn)
            base = ReadInfo(kind="delta", dc=since.dc, highest_usn=highest)
            if highest == since.usn:
                # invocationId is not on the rootDSE: a DC restored since shows at the next change.
                info = replace(base, invocation_id=since.invocation_id, tombstone_rights=since.tombstone_rights)
                return DeltaRead(unchanged=True, read=replace(info, searches=self.stats.searches))
            invocation = self._invocation(conn, service)
            if invocation != since.invocation_id:
                return DeltaRead(why=f"{since.dc} was restored or replaced (its invocationId changed)")
            if highest < since.usn:
                return DeltaRead(why=f"{since.dc}'s highestCommittedUSN went back ({highest} < {since.usn})")
            rights = self.tombstone_rights(conn)
            changed = self._changed(conn, since.usn)
            if any(c.container and not c.deleted for c in changed):
                return DeltaRead(why="a container (OU) changed: objects below it may have moved")
            if not changed and rights:
                # The USN moved elsewhere (another partition, DNS...): nothing of the scope changed.
                info = replace(base, invocation_id=invocation, tombstone_rights=rights)
                return DeltaRead(unchanged=True, read=replace(info, searches=self.stats.searches))
            prev = previous()
            users, groups = self._read_changed(conn, changed, since.usn)
            vanished: list[Changed] = []
            if not rights:
                # No tombstones for this account: what the snapshot had and the scope no longer has.
                usns = [u.usn for u in prev.users.values()]
                present = self._present(since.dc, highest, usns) | {c.guid for c in changed}
                known = [(u.guid, u.dn) for u in prev.users.values()] + [(g.guid, g.dn) for g in prev.groups.values()]
                vanished = [
                    Changed(g, dn, deleted=True, container=False, last_dn=dn) for g, dn in known if g not in present
                ]
            fresh = {g.guid for g in groups}
            again = groups_listing(prev, [c.last_dn for c in vanished]) - fresh
            clauses = [f"(objectGUID={_guid_filter(g)})" for g in sorted(again)]
            clauses += [f"(objectSid={sid})" for sid in sorted(primary_group_moves(prev, users))]
            back = entered_scope(prev, users, groups, since.usn)
            clauses += [f"(member={escape(dn)})" for dn in back]
            reread = [g for g in self._reread_groups(conn, clauses) if g.guid not in fresh] if clauses else []
            if changed or vanished:
                departures = self._departures(prev, changed, vanished, users, groups)
        except DirectoryConnectionLost as exc:
            return DeltaRead(why=f"{since.dc} went away during the delta read ({exc}): failing over")
        finally:
            ldap.close(conn)
        info = replace(
            base,
            invocation_id=invocation,
            tombstone_rights=rights,
            changed_objects=len(changed) + len(vanished),
            departures=departures if changed or vanished else {},
            arrivals=dict.fromkeys(_guids_of(back, users, groups), BACK_IN_SCOPE),
            groups_read_again=len(reread),
            searches=self.stats.searches,
            pages=self.stats.pages,
            range_searches=self.stats.range_searches,
            seconds=round(time.monotonic() - t0, 3),
        )
        if not changed and not vanished:
            kept = info.with_content_of(prev.read)
            return DeltaRead(replace(prev, read=kept), read=kept)
        # What a rebuild of the snapshot merged with the changes would give (delta.merge, proven
        # equal), in proportion to what changed.
        d = self.config.directory
        built = incremental.apply(
            prev, [*changed, *vanished], users, groups + reread, self._policy(), d.users_search_bases(), info,
            include_system=d.include_system_accounts,
        )  # fmt: off
        return DeltaRead(built, read=built.read)


_BY_GUID_MAX = 300  # changed objects read by objectGUID (beyond: by uSNChanged)
BACK_IN_SCOPE = "back in the scope: the same account as before (same objectGUID), not a new one"


def _guids_of(dns: Sequence[str], users: Sequence[RawUser], groups: Sequence[RawGroup]) -> list[str]:
    wanted = {dn.lower() for dn in dns}
    return [u.guid for u in users if u.dn.lower() in wanted] + [g.guid for g in groups if g.dn.lower() in wanted]


def _guid_filter(guid: str) -> str:
    """An objectGUID as an LDAP filter value: its bytes (little-endian form), escaped."""
    return "".join(f"\\{b:02x}" for b in uuid.UUID(guid).bytes_le)


class LdapSource:
    """The directory source ``sync`` reads by default: the configured AD over LDAP."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def read(self, usn_quantiles: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> Directory:
        """Read the whole configured scope of AD. Raises DirectoryError; never returns a partial
        picture. ``usn_quantiles`` (from the last snapshot) only helps split the work evenly."""
        self._warn()
        return Reader(self.config, progress).read(usn_quantiles)

    def read_delta(self, since: Watermark, previous: Callable[[], Directory]) -> DeltaRead:
        self._warn()
        return Reader(self.config).read_delta(since, previous)

    def account_states(self, guids: Sequence[str]) -> dict[str, AccountState]:
        """Each account as a DC says it is now: one search by objectGUID over the whole domain
        (an account moved out of the synced scope is still an account), deleted objects not
        shown, so a removed one is not found. DirectoryError when no DC answers."""
        self._warn()
        cfg = self.config
        reader = Reader(cfg)
        attrs = ["objectGUID", "sAMAccountName", "userAccountControl", "accountExpires"]
        with ldap.connection(cfg.ldap) as conn:
            dc = str(conn.server.host)
            out = {g: AccountState(g, False, dc) for g in guids}
            for i in range(0, len(guids), 100):
                where = "(|" + "".join(f"(objectGUID={_guid_filter(g)})" for g in guids[i : i + 100]) + ")"
                flt = f"(&(objectClass=user){where})"
                for e in reader._paged(conn, cfg.directory.base_dn, flt, attrs, "the revoked accounts"):
                    raw = e["raw_attributes"]
                    guid = str(uuid.UUID(bytes_le=raw["objectGUID"][0]))
                    out[guid] = AccountState(
                        guid,
                        True,
                        dc,
                        (raw.get("sAMAccountName") or [b""])[0].decode(),
                        int((raw.get("userAccountControl") or [b"0"])[0]),
                        int((raw.get("accountExpires") or [b"0"])[0]),
                    )
        return out

    def _warn(self) -> None:
        if not self.config.ldap.verify_tls:
            event(log, "insecure_ldap", logging.WARNING, why="ldap.verify_tls = false: any server can pose as the DC")
