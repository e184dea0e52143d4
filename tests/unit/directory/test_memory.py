"""The model's memory per user is pinned (issue 21): a change that doubles it fails here, long
before a 100k-user directory stops fitting its budget. tracemalloc counts Python's own
allocations, so the figure is the same on every machine. Both ways a model comes to be are
pinned: built from a read, and loaded from the state database (what every delta does)."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable

from dirkit._directory.build import RawGroup, RawUser, build
from dirkit._directory.encoding import decode, encode
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy

BASE = "DC=example,DC=com"
# Measured when pinned (2026-12-02): 1,728 bytes per user (its strings included) with 3 groups
# each and 5 % as many groups as users, the member DNs shared with the users' (as they were
# here, not as LDAP hands them out); a loaded snapshot about 2,900 (100k users). With one string per DN,
# slots and shared memberships (2026-12-03): 1,200 bytes built from LDAP-like entries, 1,150
# loaded. The limit leaves room for noise, not for a second copy of anything.
BYTES_PER_USER_LIMIT = 1_600


def _raw(n: int) -> tuple[list[RawUser], list[RawGroup]]:
    rng = random.Random(21)
    users = [
        RawUser(f"{i:08x}-0000-4000-8000-000000000000", f"CN=user{i},OU=People,{BASE}", f"user{i}",
                f"S-1-5-21-1-2-3-{1000 + i}", f"user{i}@EXAMPLE.COM", None, 512, 513, i)
        for i in range(n)
    ]  # fmt: off
    n_groups = n // 20
    members: list[list[str]] = [[] for _ in range(n_groups)]
    for u in users:
        for j in rng.sample(range(n_groups), 3):
            members[j].append("".join(u.dn))  # a string of its own, as LDAP returns each value
    groups = [
        RawGroup(f"{j:08x}-1111-4000-8000-000000000000", f"CN=grp{j},OU=Groups,{BASE}", f"grp{j}",
                 f"S-1-5-21-1-2-3-{900000 + j}", j, tuple(members[j]))
        for j in range(n_groups)
    ]  # fmt: off
    groups.append(RawGroup("domain-users", f"CN=Domain Users,{BASE}", "Domain Users", "S-1-5-21-1-2-3-513", 1, ()))
    return users, groups


def _bytes_per_user(n: int, make: Callable[[], Directory]) -> tuple[Directory, float]:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        d = make()
        return d, (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()


def _built(n: int) -> Directory:
    users, groups = _raw(n)
    return build(users, groups, NamePolicy(), [BASE])  # the raw entries go: the model stays


def test_the_model_costs_a_bounded_number_of_bytes_per_user() -> None:
    n = 5_000
    d, per_user = _bytes_per_user(n, lambda: _built(n))
    assert len(d.users) == n and all(len(d.group_names_of(u)) == 4 for u in list(d.users.values())[:10])
    assert per_user < BYTES_PER_USER_LIMIT, f"{per_user:.0f} bytes per user"


def test_a_snapshot_loaded_from_state_costs_what_a_built_one_does() -> None:
    n = 5_000
    stored = encode(_built(n))
    d, per_user = _bytes_per_user(n, lambda: decode(stored))
    assert len(d.users) == n and all(len(d.group_names_of(u)) == 4 for u in list(d.users.values())[:10])
    assert per_user < BYTES_PER_USER_LIMIT, f"{per_user:.0f} bytes per user"
    # The sharing build made is restored: one membership map per set of groups, one string per DN.
    assert len({id(m) for m in d.effective.values()}) <= n
    dns = {id(u.dn) for u in d.users.values()}
    assert all(id(m) in dns for g in d.groups.values() for m in g.member_dns)
