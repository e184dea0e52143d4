"""The stored form of a snapshot: a round trip gives the same directory, older formats are still
read, and a damaged one is refused (never half-loaded)."""

from __future__ import annotations

import json
import zlib

import pytest
from test_build import group, make, user

from dirkit._directory import encoding
from dirkit._directory.model import Directory
from dirkit._plan import content_digest, plan_digest


def _hard_case() -> Directory:
    # Nesting with a cycle, a primary group, a member outside the scope, a DN whose case
    # differs from its object's, a user in no group, and an unsafe name.
    users = [user("alice", 1001), user("bob", 1002, pgid=1200), user("carol", 1003), user("-bad", 1004)]
    groups = [
        group("g1", 1100, "alice", "g2", "CN=Outsider,DC=elsewhere"),
        group("g2", 1101, "g3", "cn=BOB,DC=x"),
        group("g3", 1102, "g1"),
        group("staff", 1200),
        group("Domain Users", 513),
    ]
    return make(users, groups)


def _same(a: Directory, b: Directory) -> None:
    assert a.users == b.users and a.groups == b.groups and a.issues == b.issues
    assert dict(a.direct) == dict(b.direct)
    assert {u: dict(ms) for u, ms in a.effective.items()} == {u: dict(ms) for u, ms in b.effective.items()}
    assert dict(a.stats) == dict(b.stats)
    assert plan_digest(a) == plan_digest(b) and content_digest(a) == content_digest(b)


def test_a_round_trip_gives_the_same_directory() -> None:
    d = _hard_case()
    back = encoding.decode(encoding.encode(d))
    _same(d, back)
    alice, g2 = back.user_by_name("alice"), back.group_by_name("g2")
    assert alice is not None and g2 is not None and back.explain(alice, g2) == ["g1", "g3", "g2"]
    # The member written in another case than its object's DN keeps AD's spelling.
    assert "cn=BOB,DC=x" in back.groups["g-g2"].member_dns


def test_many_batches_round_trip() -> None:
    d = make([user(f"u{i}", 2000 + i) for i in range(5000)], [group("all", 1100, *[f"u{i}" for i in range(5000)])])
    _same(d, encoding.decode(encoding.encode(d)))


def test_a_format_2_snapshot_is_still_read() -> None:
    # What dirkit wrote before format 3: one JSON document (the membership rows of v2).
    doc = {
        "v": 2,
        "users": [["u1", "CN=a,DC=x", "a", "a", "S-1-5-21-1-2-3-1001", None, None, True, "S-1-5-21-1-2-3-513", 7]],
        "groups": [
            ["g1", "CN=g1,DC=x", "g1", "g1", "S-1-5-21-1-2-3-1100", 3, ["CN=a,DC=x"]],
            ["g2", "CN=g2,DC=x", "g2", "g2", "S-1-5-21-1-2-3-1101", 4, ["CN=g1,DC=x"]],
        ],
        "direct": {"u1": ["g1"]},
        "effective": {"u1": [["g1", None, False, 1], ["g2", "g1", False, 2]]},
        "issues": [["foreign_member", "CN=S-1,DC=x", "not synced"]],
        "stats": {"users": 1},
    }
    d = encoding.decode(zlib.compress(json.dumps(doc, separators=(",", ":")).encode()))
    u = d.users["u1"]
    assert d.group_names_of(u) == ["g1", "g2"] and d.explain(u, d.groups["g2"]) == ["g1", "g2"]
    assert d.direct["u1"] == frozenset({"g1"}) and d.issues[0].kind == "foreign_member"


def test_a_truncated_snapshot_is_refused() -> None:
    raw = zlib.decompress(encoding.encode(make([user(f"u{i}", 2000 + i) for i in range(5000)], [])))
    whole_lines = b"\n".join(raw.split(b"\n")[:-2])  # the last line (membership maps) is gone
    with pytest.raises(ValueError, match="truncated"):
        encoding.decode(zlib.compress(whole_lines))
    with pytest.raises(ValueError):  # cut inside a line
        encoding.decode(zlib.compress(raw[: len(raw) // 2]))


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown snapshot format 9"):
        encoding.decode(zlib.compress(b'{"v":9}\n'))
