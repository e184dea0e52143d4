"""The one name-normalisation policy.

Every output (HDFS paths, EMRFS identifiers, Hue, Hadoop) uses the name this module returns,
and only that. A name that is unsafe, or that collides with another object's name after
normalisation, gets no name at all: it is reported and left out of every output.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .. import _reserved
from .._config import NamesConfig

# Characters that are never allowed: path separators, ':' (HDFS rejects it in path names),
# and control characters (C0, DEL, C1), which would corrupt logs and generated files.
_FORBIDDEN = re.compile(r"[/\\:\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class NameResult:
    name: str | None  # None: unusable, see reason
    reason: str = ""
    reserved: bool = False  # refused because the cluster reserves the name (see _reserved.py)


class NamePolicy:
    """``reserved``: the names no AD object may take (``config.reserved_names`` for a whole
    config; by default EMR's and ``names.reserved``)."""

    def __init__(
        self, config: NamesConfig | None = None, realm: str | None = None, reserved: _reserved.Reserved | None = None
    ) -> None:
        self.config = config or NamesConfig()
        self.realm = realm
        self.reserved = reserved or _reserved.defaults(self.config.reserved, self.config.superuser_groups)
        self._allowed = re.compile(self.config.allowed_pattern) if self.config.allowed_pattern else None

    def strip_realm(self, raw: str) -> str:
        """``user@REALM`` -> ``user`` and ``DOMAIN\\user`` -> ``user`` (only for our realm)."""
        if "@" in raw:
            user, _, realm = raw.rpartition("@")
            if self.realm is None or realm.upper() == self.realm.upper():
                return user
        if "\\" in raw:
            return raw.split("\\", 1)[1]
        return raw

    def normalise(self, raw: str) -> NameResult:
        """The name for something a person typed or a document holds: ``user``, ``user@REALM``
        (our realm) or ``DOMAIN\\user``."""
        return self.directory_name(self.strip_realm(raw))

    def directory_name(self, sam: str) -> NameResult:
        """The name of a directory object, from its sAMAccountName. A sAMAccountName is a name,
        not a principal: nothing is stripped from it. AD accepts '@' in one written over LDAP or
        PowerShell; such a name is refused, else ``alice@REALM`` would take Alice's name (and
        SSSD reads ``a@b`` as user ``a`` of domain ``b`` anyway)."""
        if "@" in sam:
            return NameResult(None, "contains '@' (a sAMAccountName with '@' would read as user@domain)")
        # NFC first: the same visible name typed on two systems must give the same bytes.
        name = unicodedata.normalize("NFC", sam)
        if self.config.case == "lower":
            name = name.lower()
        if not name:
            return NameResult(None, "empty name")
        if name in (".", ".."):
            return NameResult(None, f"{name!r} is a path component")
        bad = _FORBIDDEN.search(name)
        if bad:
            return NameResult(None, f"contains forbidden character {bad.group()!r}")
        if name.startswith("-"):
            return NameResult(None, "starts with '-' (would be read as an option by tools)")
        if name != name.strip():
            return NameResult(None, "leading or trailing whitespace")
        if len(name) > self.config.max_length:
            return NameResult(None, f"longer than names.max_length={self.config.max_length}")
        if self._allowed and not self._allowed.fullmatch(name):
            return NameResult(None, f"does not match names.allowed_pattern {self.config.allowed_pattern!r}")
        why = self.reserved.reason(name)
        if why is not None:
            return NameResult(None, f"would be the cluster's {_reserved.key(name)!r}: {why}", reserved=True)
        return NameResult(name)
