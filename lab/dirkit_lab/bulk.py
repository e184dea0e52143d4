"""Bulk directory data for benchmarks: N users, N/20 groups (a tenth of them nesting two others),
and one group of half the users (at 10,000 users: 500 groups and a 5,000-member group). Groups
grow with the users so that a benchmark over sizes measures one shape at several scales.

Loaded offline with ``ldbadd`` into sam.ldb while Samba is stopped, in 1,000-entry chunks
(one transaction each: much faster on Samba 4.17 than one huge transaction). Users get no
password (userAccountControl 544 = enabled + PASSWD_NOTREQD); every 50th is disabled (546).
"""

from __future__ import annotations

import random
from pathlib import Path

from . import host
from .settings import AD_BASE, AD_REALM, LabPaths

USERS_OU = f"OU=BulkUsers,{AD_BASE}"
GROUPS_OU = f"OU=BulkGroups,{AD_BASE}"
CHUNK = 1000


def _user_dn(i: int) -> str:
    return f"CN=bulkuser{i:05d},{USERS_OU}"


def _group_dn(j: int) -> str:
    return f"CN=bulkgrp{j:03d},{GROUPS_OU}"


def shape(users: int) -> tuple[int, int]:
    """(groups, members of the big group) for ``users`` bulk users."""
    return max(1, users // 20), users // 2


def write_ldif(out: Path, users: int) -> list[Path]:
    """Write chunked user LDIF files and one group LDIF; return them in load order."""
    groups, big = shape(users)
    nesting = max(1, groups // 10)
    rnd = random.Random(1)  # deterministic: the same data every time
    out.mkdir(parents=True, exist_ok=True)
    members: dict[int, list[int]] = {j: [] for j in range(1, groups + 1)}
    chunks: list[Path] = []
    entries = [f"dn: {USERS_OU}\nobjectClass: organizationalUnit\n"]
    for i in range(1, users + 1):
        name = f"bulkuser{i:05d}"
        uac = 546 if i % 50 == 0 else 544
        entries.append(
            f"dn: {_user_dn(i)}\nobjectClass: user\nsAMAccountName: {name}\n"
            f"userPrincipalName: {name}@{AD_REALM}\ngivenName: Bulk\nsn: User{i:05d}\n"
            f"userAccountControl: {uac}\n"
        )
        for j in rnd.sample(range(1, groups + 1), rnd.randint(0, min(4, groups))):
            members[j].append(i)
        if len(entries) >= CHUNK:
            chunks.append(_write_chunk(out, len(chunks), entries))
            entries = []
    if entries:
        chunks.append(_write_chunk(out, len(chunks), entries))
    group_entries = [f"dn: {GROUPS_OU}\nobjectClass: organizationalUnit\n"]
    # Reverse order so that nested (higher-numbered) groups exist before their parents.
    for j in range(groups, 0, -1):
        lines = [f"dn: {_group_dn(j)}", "objectClass: group", f"sAMAccountName: bulkgrp{j:03d}"]
        lines += [f"member: {_user_dn(i)}" for i in members[j]]
        if j <= nesting:  # the first tenth of the groups each nest two later groups
            lines += [f"member: {_group_dn(k)}" for k in rnd.sample(range(j + 1, groups + 1), min(2, groups - j))]
        group_entries.append("\n".join(lines) + "\n")
    if big:
        lines = [f"dn: CN=grp_big,{GROUPS_OU}", "objectClass: group", "sAMAccountName: grp_big"]
        lines += [f"member: {_user_dn(i)}" for i in range(1, big + 1)]
        group_entries.append("\n".join(lines) + "\n")
    groups_file = out / "groups.ldif"
    groups_file.write_text("\n".join(group_entries))
    return [*chunks, groups_file]


def _write_chunk(out: Path, n: int, entries: list[str]) -> Path:
    f = out / f"users_{n:04d}.ldif"
    f.write_text("\n".join(entries))
    return f


def load(p: LabPaths, users: int) -> None:
    """Add the bulk data to the (stopped) lab database."""
    files = write_ldif(p.bulk / f"u{users}", users)
    for f in files:
        host.run(["ldbadd", f"--configfile={p.smb_conf}", "-H", p.sam_ldb, f], log=p.logs / "bulk.log", timeout=900)
