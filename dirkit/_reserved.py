"""Reserved identities: the names no AD account may become on the cluster.

A name carries rights on a Hadoop cluster: ``hdfs`` is the HDFS superuser, members of
``supergroup`` (HDFS's ``dfs.permissions.superusergroup`` default) or EMR's ``hadoop`` group
are superusers, ``hive``/``yarn``/``livy``... hold proxy-user privileges and admin ACLs, and
``root`` or ``wheel`` mean something to every node. AD decides who is in which group; it never
decides who a service is. So an AD user or group whose name is one of these gets no name in any
output (homes, Hue, documents, the report), auth_to_local refuses its principal, SSSD filters it,
and it is reported.

The set comes from the cluster's side: EMR's defaults below, extended (never replaced) by
``names.reserved`` / ``names.superuser_groups`` and by what dirkit's own config implies (the
HDFS superuser of ``hdfs.principal``, ``hdfs.lock_exclude``, the service principals it checks).
Names compare as the names policy does, and stricter: NFKC, then case-folded, so ``HDFS``,
``Hdfs`` or ``ｈｄｆｓ`` are all ``hdfs``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

# The user principals of the applications EMR Kerberizes (EMR Management Guide, "Supported
# applications", emr-kerberos-principals: "Each application has a Kerberos user principal
# associated with it"), as the Unix users EMR creates for them, plus the cluster's own users.
EMR_SERVICE_USERS = (
    "emr-notebook",
    "flink",
    "hadoop",
    "hbase",
    "hcat",
    "hdfs",
    "history",
    "hive",
    "httpfs",
    "hue",
    "kafka",
    "kms",
    "livy",
    "mapred",
    "oozie",
    "phoenix",
    "presto",
    "ranger",
    "spark",
    "tez",
    "trino",
    "yarn",
    "zeppelin",
    "zookeeper",
    "HTTP",  # SPNEGO's service principal on every web endpoint
)
# Local accounts of every node (SSSD's own default is filter_users = root).
NODE_ACCOUNTS = ("root", "bin", "daemon", "sys", "adm", "nobody", "ec2-user", "ssm-user")
# Groups whose members the cluster treats as superusers: HDFS's dfs.permissions.superusergroup
# default (hdfs-default.xml) and EMR's hadoop group (the group of EMR's service users, used as
# the superuser group by EMR's own configurations); and the nodes' admin groups (sudoers).
SUPERUSER_GROUPS = ("supergroup", "hadoop")
NODE_ADMIN_GROUPS = ("wheel", "sudo", "admin", "root")


def key(name: str) -> str:
    """The form reserved names compare in: NFKC, case-folded (stricter than the names policy)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFC", name)).casefold()


@dataclass(frozen=True)
class Reserved:
    """Reserved name (its ``key``) -> why it is reserved; ``superuser`` the keys of the groups
    whose members the cluster treats as superusers."""

    why: Mapping[str, str] = field(default_factory=dict)
    superuser: frozenset[str] = frozenset()

    @classmethod
    def build(cls, *sources: tuple[Iterable[str], str], superuser: Iterable[str] = ()) -> Reserved:
        """From (names, why) pairs, the first reason a name is given winning."""
        why: dict[str, str] = {}
        for names, reason in sources:
            for n in names:
                why.setdefault(key(n), reason)
        return cls(MappingProxyType(dict(sorted(why.items()))), frozenset(key(n) for n in superuser))

    def extended(self, *sources: tuple[Iterable[str], str]) -> Reserved:
        """This set and more: names already reserved keep their reason."""
        more = Reserved.build(*sources)
        return Reserved(MappingProxyType(dict(sorted({**more.why, **self.why}.items()))), self.superuser)

    def reason(self, name: str) -> str | None:
        """Why ``name`` is reserved, or None if it is not."""
        return self.why.get(key(name))

    def is_superuser_group(self, name: str) -> bool:
        return key(name) in self.superuser

    def names(self) -> list[str]:
        """Every reserved name, sorted (their compare keys)."""
        return list(self.why)


def defaults(extra: Iterable[str] = (), extra_superuser_groups: Iterable[str] = ()) -> Reserved:
    """EMR's defaults plus ``names.reserved`` and ``names.superuser_groups``."""
    superuser = [*SUPERUSER_GROUPS, *extra_superuser_groups]
    return Reserved.build(
        (superuser, "a superuser group of the cluster (its members are HDFS superusers)"),
        (EMR_SERVICE_USERS, "an EMR service identity"),
        (NODE_ADMIN_GROUPS, "an admin group of the cluster's nodes"),
        (NODE_ACCOUNTS, "a local account of the cluster's nodes"),
        (extra, "reserved by names.reserved"),
        superuser=superuser,
    )


@cache
def _folds_into() -> dict[str, frozenset[str]]:
    """Non-ASCII characters that Java's toLowerCase (Hadoop's /L) or NFC turns into one ASCII
    character, by that character: {"k": {KELVIN SIGN}}. Scanned once (the BMP up to CJK)."""
    out: dict[str, set[str]] = {}
    for i in range(0x80, 0x3000):
        ch = chr(i)
        for folded in {ch.lower(), unicodedata.normalize("NFC", ch).lower()}:
            if len(folded) == 1 and folded.isascii():
                out.setdefault(folded, set()).add(ch)
    return {k: frozenset(v) for k, v in out.items()}


def _lower_to(c: str) -> str:
    """Every character that lower-cases into ``c``, as a Java character class:
    ``k`` -> ``[Kk\u212a]`` (KELVIN SIGN lower-cases to ``k``)."""
    same = sorted(
        {c, *_folds_into().get(c, ())} | ({c.upper()} if len(c.upper()) == 1 and c.upper().lower() == c else set())
    )
    if len(same) == 1:
        return _java_char(c)
    return "[" + "".join(_java_char(x) for x in same) + "]"


def _java_char(c: str) -> str:
    """``c`` in a Java (and Python) pattern: ASCII letters and digits as they are, anything
    else as a hex escape, so no ``)`` or ``/`` can end a rule early."""
    if c.isascii() and c.isalnum():
        return c
    return f"\\x{ord(c):02X}" if ord(c) < 0x100 else f"\\u{ord(c):04X}"


def java_pattern(name: str) -> str:
    """A Java regular expression (no parenthesis: KerberosName's rule grammar allows none in a
    match) matching ``name`` in any letter case, as a principal's first component can be."""
    return "".join(_lower_to(c) for c in name)


def validate(names: Iterable[str], key_name: str) -> list[str]:
    """Config check for reserved names: POSIX-like, as service users are (and as they must be
    to go into an auth_to_local pattern)."""
    out = []
    for i, n in enumerate(names):
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.$-]*", n):
            raise ValueError(
                f"{key_name}[{i}] {n!r}: use only letters, digits and _ . $ - (these names go into "
                "auth_to_local rules and SSSD filters)"
            )
        out.append(n)
    return out
