"""SSSD's ID mapping: the uid or gid an AD object gets on a node, from its objectSid alone.

The algorithm of SSSD's ``src/lib/idmap/sss_idmap.c`` (``sss_idmap_calculate_range``,
``get_range``, ``generate_sec_slice_name``) and ``src/util/murmurhash3.c``, SSSD commit
9238b410e4b3 (2026-08-21), with the defaults of ``sss_idmap_private.h`` and sssd-ad(5)
(``ldap_idmap_range_min`` 200000, ``ldap_idmap_range_max`` 2000200000,
``ldap_idmap_range_size`` 200000, autorid off). A domain's slice is the 32-bit MurmurHash3
(seed 0xdeadbeef) of its SID string modulo the number of slices; an id is the slice's first id
plus the RID. A RID at or beyond the range size falls in a secondary slice named
``<domain SID>-<first RID of its block>``. A slice already taken by another domain moves to
the next free one (so the order domains are seen in matters: only one domain is predicted
exactly; a collision is reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

SEED = 0xDEADBEEF
_M32 = 0xFFFFFFFF


def murmurhash3(data: bytes, seed: int = SEED) -> int:
    """MurmurHash3's x86 32-bit variant, as SSSD's util/murmurhash3.c computes it."""

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & _M32

    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M32
    n = len(data) // 4
    for i in range(n):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = rotl((k * c1) & _M32, 15) * c2 & _M32
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & _M32
    tail = data[4 * n :]
    k = 0
    for i in reversed(range(len(tail))):
        k ^= tail[i] << (8 * i)
    if tail:
        h ^= rotl((k * c1) & _M32, 15) * c2 & _M32
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


@dataclass(frozen=True)
class IdRange:
    """The ID mapping settings of an SSSD domain (sssd-ad(5)'s ``ldap_idmap_range_*``)."""

    min: int = 200000
    max: int = 2000200000
    size: int = 200000

    @property
    def slices(self) -> int:
        return (self.max - self.min) // self.size


@lru_cache(maxsize=1024)  # a domain's SID is hashed once, not once per object of the domain
def slice_of(name: str, r: IdRange = IdRange()) -> int:
    """The slice SSSD picks for a range named ``name`` (a domain SID) when no other domain holds it."""
    return murmurhash3(name.encode()) % r.slices


def unix_id(sid: str, r: IdRange = IdRange()) -> int:
    """The uid (a user) or gid (a group) SSSD maps ``sid`` to, for the only domain of its node."""
    domain, _, rid_text = sid.rpartition("-")
    rid = int(rid_text)
    first_rid = rid // r.size * r.size
    # The primary slice is named by the domain SID, a secondary one by the SID and its first RID.
    name = domain if first_rid == 0 else f"{domain}-{first_rid}"
    return r.min + slice_of(name, r) * r.size + (rid - first_rid)


def collisions(domain_sids: list[str], r: IdRange = IdRange()) -> list[tuple[str, str]]:
    """Pairs of domains whose primary slices coincide: SSSD moves the second one seen to the
    next free slice, so its ids depend on the order the node learns the domains in."""
    seen: dict[int, str] = {}
    out = []
    for sid in domain_sids:
        s = slice_of(sid, r)
        if s in seen:
            out.append((seen[s], sid))
        else:
            seen[s] = sid
    return out
