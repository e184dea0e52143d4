"""The model's memory per user is pinned (issue 21): a change that doubles it fails here, long
before a 100k-user directory stops fitting its budget. tracemalloc counts Python's own
allocations, so the figure is the same on every machine."""

from __future__ import annotations

import random
import tracemalloc

from dirkit.directory.build import RawGroup, RawUser, build
from dirkit.directory.names import NamePolicy

BASE = "DC=example,DC=com"
# Measured when pinned (2026-12-02): 1,728 bytes per user (its strings included) with 3 groups
# each and 5 % as many groups as users. The limit leaves room for noise, not for a second copy.
BYTES_PER_USER_LIMIT = 2_600


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
            members[j].append(u.dn)
    groups = [
        RawGroup(f"{j:08x}-1111-4000-8000-000000000000", f"CN=grp{j},OU=Groups,{BASE}", f"grp{j}",
                 f"S-1-5-21-1-2-3-{900000 + j}", j, tuple(members[j]))
        for j in range(n_groups)
    ]  # fmt: off
    groups.append(RawGroup("domain-users", f"CN=Domain Users,{BASE}", "Domain Users", "S-1-5-21-1-2-3-513", 1, ()))
    return users, groups


def test_the_model_costs_a_bounded_number_of_bytes_per_user() -> None:
    n = 5_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        users, groups = _raw(n)
        d = build(users, groups, NamePolicy(), [BASE])
        del users, groups  # what stays is the model (it keeps the member DNs it was built from)
        per_user = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(d.users) == n and all(len(d.group_names_of(u)) == 4 for u in list(d.users.values())[:10])
    assert per_user < BYTES_PER_USER_LIMIT, f"{per_user:.0f} bytes per user"
