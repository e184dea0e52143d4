from dataclasses import replace

from dirkit._config import SafetyConfig
from dirkit._directory.build import RawGroup, RawUser, build
from dirkit._directory.encoding import decode, encode
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._plan import make_plan

DOM = "S-1-5-21-1-2-3"


def snapshot(users: list[tuple[str, str, int]], groups: dict[str, list[str]]) -> Directory:
    """users: (guid, sam, uac); groups: name -> member sams."""
    raw_u = [
        RawUser(g, f"CN={s},DC=x", s, f"{DOM}-{1000 + i}", None, None, uac, None, 1)
        for i, (g, s, uac) in enumerate(users)
    ]
    raw_g = [
        RawGroup(f"g-{n}", f"CN={n},DC=x", n, f"{DOM}-{2000 + i}", 1, tuple(f"CN={m},DC=x" for m in ms))
        for i, (n, ms) in enumerate(groups.items())
    ]
    return build(raw_u, raw_g, NamePolicy(), ["DC=x"])


def test_first_run_adds_everything() -> None:
    cur = snapshot([("1", "alice", 512)], {"g": ["alice"]})
    p = make_plan(None, cur, SafetyConfig())
    assert p.first_run and p.counts()["user_added"] == 1 and p.counts()["membership_added"] == 1


def test_no_change_is_empty_and_state_round_trips() -> None:
    cur = snapshot([("1", "alice", 512)], {"g": ["alice"]})
    assert make_plan(decode(encode(cur)), cur, SafetyConfig()).empty


def test_rename_disable_and_membership_changes() -> None:
    prev = snapshot([("1", "alice", 512), ("2", "bob", 512)], {"g": ["alice"], "h": []})
    cur = snapshot([("1", "alice2", 512), ("2", "bob", 514)], {"g": [], "h": ["alice2"]})
    p = make_plan(prev, cur, SafetyConfig())
    kinds = [(c.kind, c.name, c.detail) for c in p.changes]
    assert ("user_renamed", "alice2", "was alice") in kinds
    assert ("user_disabled", "bob", "") in kinds
    assert ("membership_added", "alice2", "h") in kinds and ("membership_removed", "alice2", "g") in kinds
    assert p.removals == 1


def test_threshold_by_count_and_percent() -> None:
    prev = snapshot([(str(i), f"u{i}", 512) for i in range(10)], {})
    cur = snapshot([(str(i), f"u{i}", 512) for i in range(7)], {})
    p = make_plan(prev, cur, SafetyConfig(max_removals=500, max_removal_percent=20))
    assert p.threshold_exceeded and "30.0% of 10" in p.threshold_reason
    p = make_plan(prev, cur, SafetyConfig(max_removals=2, max_removal_percent=100))
    assert p.threshold_exceeded and "max_removals=2" in p.threshold_reason
    assert not make_plan(prev, cur, SafetyConfig(max_removals=3, max_removal_percent=30)).threshold_exceeded


def test_user_losing_usable_name_counts_as_removal() -> None:
    prev = snapshot([("1", "alice", 512)], {})
    cur = snapshot([("1", "alice", 512)], {})
    cur_users = {k: replace(u, name=None) for k, u in cur.users.items()}
    cur = replace(cur, users=cur_users)
    p = make_plan(prev, cur, SafetyConfig(max_removal_percent=100))
    assert [(c.kind, c.detail) for c in p.changes] == [("user_removed", "no longer readable with a usable name")]


def test_digest_matches_exactly_when_the_plan_is_empty() -> None:
    from dirkit._plan import plan_digest

    base = snapshot([("1", "alice", 512), ("2", "bob", 512)], {"g": ["alice"]})
    variants = [
        snapshot([("1", "alice", 512), ("2", "bob", 512)], {"g": ["alice"]}),  # same
        snapshot([("1", "alice", 512), ("2", "bob", 514)], {"g": ["alice"]}),  # disabled
        snapshot([("1", "alice", 512), ("2", "bob", 512)], {"g": ["bob"]}),  # membership
        snapshot([("1", "alicia", 512), ("2", "bob", 512)], {"g": ["alicia"]}),  # rename
        snapshot([("1", "alice", 512)], {"g": ["alice"]}),  # removal
        snapshot([("1", "alice", 512), ("2", "bob", 512)], {"h": ["alice"]}),  # group rename
    ]
    for v in variants:
        assert (plan_digest(v) == plan_digest(base)) == make_plan(base, v, SafetyConfig()).empty
