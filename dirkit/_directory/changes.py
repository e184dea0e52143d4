"""How `dirkit watch` hears that AD changed, on connections kept open to a DC of ``ldap.urls``.

- AD's change notifications (LDAP_SERVER_NOTIFICATION_OID): a search that never ends, on which
  the DC sends each object that changes. Windows allows one at a naming context's root with
  subtree scope and the filter (objectClass=*) only; Samba (4.5+) finds the changes by
  re-searching uSNChanged on a timer (1.7-3.0 s after a change on the lab's 4.17). Deletions are
  not sent: the tombstone leaves the search's view.
- The rootDSE's highestCommittedUSN: every change on the DC moves it, deletions included (and so
  do changes dirkit does not read, such as logon times: a delta then finds nothing, cheaply).

Either only says "run a delta now": what changed is read by the delta itself, from the same
watermark `dirkit sync` uses, so a notification that is lost or refused loses nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import ldap3
from ldap3.core import exceptions as lexc

from .._config import LdapConfig
from ..errors import DirectoryError, DirectoryUnreachable
from . import ldap

log = logging.getLogger("dirkit")

NOTIFICATION_OID = "1.2.840.113556.1.4.528"  # LDAP_SERVER_NOTIFICATION_OID


def naming_context(base_dn: str) -> str:
    """The domain naming context of ``base_dn`` (its trailing DC= components): the one base at
    which AD accepts a subtree notification search."""
    parts = [p.strip() for p in ldap3.utils.dn.safe_dn(base_dn).split(",")]
    tail: list[str] = []
    for p in reversed(parts):
        if not p.upper().startswith("DC="):
            break
        tail.insert(0, p)
    return ",".join(tail) or base_dn


class UsnProbe:
    """highestCommittedUSN of a DC of ``ldap.urls``, on one connection kept open between polls:
    reopened (failing over along ``ldap.urls``, as a sync does) when it breaks."""

    def __init__(self, cfg: LdapConfig) -> None:
        self.cfg = cfg
        self.conn: ldap3.Connection | None = None
        self.url = ""

    def usn(self) -> tuple[str, int]:
        """(the DC's URL, its highestCommittedUSN). Raises DirectoryError (the connection is
        then closed: the next call opens another)."""
        if self.conn is None:
            self.conn, self.url = ldap.open_connection(self.cfg)
        try:
            self.conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["highestCommittedUSN"])
            entries = [e for e in self.conn.response or () if e.get("type") == "searchResEntry"]
            if self.conn.result.get("result") != 0 or not entries:
                raise DirectoryUnreachable(f"{self.url}: the rootDSE did not answer: {self.conn.result}")
            return self.url, int(entries[0]["raw_attributes"]["highestCommittedUSN"][0])
        except (lexc.LDAPException, OSError, KeyError, ValueError) as exc:
            self.close()
            raise DirectoryUnreachable(f"{self.url}: cannot read highestCommittedUSN ({exc})") from exc
        except DirectoryError:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            ldap.close(self.conn)
        self.conn = None


class Notifications:
    """A change-notification search held on a connection of its own (ldap3's streaming
    strategy: a thread of ldap3's reads the socket and calls back). Each object the DC sends
    counts in ``received`` and sets ``wake``; a refusal (a DC that does not allow the control, a
    policy limit) or a lost connection ends it, and ``why_not`` says why."""

    def __init__(self, cfg: LdapConfig, url: str, base_dn: str, wake: threading.Event) -> None:
        self.cfg, self.url, self.base = cfg, url, naming_context(base_dn)
        self.wake = wake
        self.received = 0
        self.why_not = ""
        self.conn: ldap3.Connection | None = None

    def start(self) -> None:
        """Bind and send the search. Raises DirectoryError when the DC cannot be bound to."""
        self.conn = ldap.open_one(self.url, self.cfg, ldap3.ASYNC_STREAM)
        strategy: Any = self.conn.strategy
        strategy.callback = self._delivered
        try:
            with strategy.async_lock:
                msgid = self.conn.search(
                    self.base,
                    "(objectClass=*)",
                    ldap3.SUBTREE,
                    attributes=["uSNChanged"],
                    controls=[(NOTIFICATION_OID, True, None)],
                )
                strategy.persistent_search_message_id = msgid
        except (lexc.LDAPException, OSError) as exc:
            self.stop()
            raise DirectoryUnreachable(f"{self.url}: the change-notification search could not be sent ({exc})") from exc
        log.info("watch_notifications dc=%s base=%s", self.url, self.base)

    def _delivered(self, response: dict[str, Any]) -> None:  # in ldap3's receiving thread
        if response.get("type") == "searchResEntry":
            self.received += 1
        else:  # the search ended: the DC refused it, or gave up on it
            self.why_not = f"{response.get('description', 'ended')}: {response.get('message', '')}".strip(": ")
        self.wake.set()

    @property
    def alive(self) -> bool:
        """The search is still held (no end from the DC, the connection and its reader up)."""
        if self.conn is None or self.why_not or self.conn.closed:
            return False
        receiver = getattr(self.conn.strategy, "receiver", None)
        return receiver is not None and receiver.is_alive()

    def stop(self) -> None:
        if self.conn is not None:
            ldap.close(self.conn)
        self.conn = None
