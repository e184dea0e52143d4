"""Directory building: memberships, primary groups, nesting with cycles, collisions."""

from dirkit._directory.build import RawGroup, RawUser, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy

DOM = "S-1-5-21-1-2-3"
BASE = "DC=x"


def user(sam: str, rid: int, pgid: int = 513, uac: int = 512) -> RawUser:
    return RawUser(
        guid=f"u-{sam}",
        dn=f"CN={sam},{BASE}",
        sam=sam,
        sid=f"{DOM}-{rid}",
        upn=None,
        display_name=None,
        uac=uac,
        primary_group_id=pgid,
        usn=1,
    )


def group(sam: str, rid: int, *members: str) -> RawGroup:
    return RawGroup(
        guid=f"g-{sam}",
        dn=f"CN={sam},{BASE}",
        sam=sam,
        sid=f"{DOM}-{rid}",
        usn=1,
        members=tuple(m if "=" in m else f"CN={m},{BASE}" for m in members),
    )


def make(users: list[RawUser], groups: list[RawGroup]) -> Directory:
    return build(users, groups, NamePolicy(realm="X"), [BASE])


def test_nesting_with_a_cycle_and_paths() -> None:
    d = make(
        [user("alice", 1000)],
        [group("Domain Users", 513), group("a", 1100, "c"), group("b", 1101, "a"), group("c", 1102, "b", "alice")],
    )
    alice = d.user_by_name("alice")
    assert alice is not None
    assert d.group_names_of(alice) == ["a", "b", "c", "domain users"]
    assert d.explain(alice, d.group_by_name("b")) == ["c", "a", "b"]
    assert d.effective[alice.guid]["g-Domain Users"].primary


def test_member_dn_lookup_ignores_case() -> None:
    d = make([user("alice", 1000)], [group("g", 1100, "cn=ALICE,dc=X")])
    assert d.group_names_of(d.user_by_name("alice")) == ["g"]


def test_disabled_flag() -> None:
    d = make([user("bob", 1000, uac=514)], [])
    assert d.user_by_name("bob").enabled is False


def test_collision_excludes_both_and_reports() -> None:
    d = make([user("Bob", 1000), user("BOB", 1001)], [])
    assert d.user_by_name("bob") is None
    assert [i.kind for i in d.issues] == ["name_collision", "name_collision"]


def test_a_sam_account_name_with_an_at_sign_is_a_name_not_a_principal() -> None:
    # Issue 19, item 6: AD accepts '@' in a sAMAccountName written over LDAP. `alice@X` (X is the
    # realm) used to be stripped to `alice`, collide with Alice, and drop both: Alice showed as
    # removed and, after the grace period, `--lock-departed` locked her home.
    from dirkit._config import SafetyConfig
    from dirkit._plan import make_plan

    before = make([user("alice", 1000)], [group("grp", 1100, "alice")])
    after = make([user("alice", 1000), user("alice@X", 1001)], [group("grp", 1100, "alice"), group("grp@X", 1101)])
    alice = after.user_by_name("alice")
    assert alice is not None and alice.sid.endswith("-1000")
    assert after.group_names_of(alice) == ["grp"]
    assert sorted((i.kind, i.detail) for i in after.issues) == [
        ("unsafe_name", "'alice@X': contains '@' (a sAMAccountName with '@' would read as user@domain)"),
        ("unsafe_name", "'grp@X': contains '@' (a sAMAccountName with '@' would read as user@domain)"),
    ]
    plan = make_plan(before, after, SafetyConfig())
    assert plan.removals == 0 and not [c for c in plan.changes if "alice" in str(c) and "removed" in str(c)]


def test_unsafe_group_still_carries_nesting() -> None:
    # A user in a group with an unusable name still gets the groups above it.
    d = make([user("alice", 1000)], [group("-bad", 1100, "alice"), group("top", 1101, "-bad")])
    alice = d.user_by_name("alice")
    assert d.group_names_of(alice) == ["top"]
    assert any(i.kind == "unsafe_name" for i in d.issues)


def test_unresolved_members_are_classified() -> None:
    d = build(
        [user("alice", 1000)],
        [group("g", 1100, "CN=S-1-5-11,CN=ForeignSecurityPrincipals,DC=x", "CN=contact,DC=x", "CN=far,DC=elsewhere")],
        NamePolicy(),
        [BASE],
    )
    assert sorted(i.kind for i in d.issues) == ["foreign_member", "non_user_member", "outside_scope"]


def test_snapshot_json_is_deterministic() -> None:
    users = [user("b", 1001), user("a", 1000)]
    groups = [group("g2", 1101, "a", "b"), group("g1", 1100, "g2")]
    one = make(users, groups).to_json()
    two = make(list(reversed(users)), list(reversed(groups))).to_json()
    assert one == two


def test_system_accounts_are_left_out_quietly_unless_included() -> None:
    from dataclasses import replace

    admin = replace(user("Administrator", 500), system=True)
    users = [admin, user("alice", 1100)]
    groups = [group("Domain Admins", 512, "Administrator", "alice")]
    d = build(users, groups, NamePolicy(), [BASE])
    assert d.user_by_name("administrator") is None and d.user_by_name("alice") is not None
    assert d.issues == () and d.stats["system_accounts_left_out"] == 1  # a member, but not an issue
    included = build(users, groups, NamePolicy(), [BASE], include_system=True)
    assert included.user_by_name("administrator") is not None


def test_builtin_groups_are_left_out_like_sssd_does() -> None:
    from dataclasses import replace

    users = [user("alice", 1100)]
    builtin_users = replace(group("Users", 545, "Domain Users"), sid="S-1-5-32-545")
    groups = [group("Domain Users", 513), builtin_users]
    d = build(users, groups, NamePolicy(), [BASE])
    alice = d.user_by_name("alice")
    assert alice is not None and d.group_names_of(alice) == ["domain users"]
    assert d.group_by_name("users") is None and d.stats["builtin_groups_left_out"] == 1


def test_a_deep_nesting_chain_costs_memory_linear_in_its_length() -> None:
    # Issue 19, item 7: a chain of 1,000 nested groups (1,000 member values in all) took 1.4 GB
    # (each group's whole ancestor chain was stored per ancestor); the snapshot stored them too.
    import tracemalloc
    import zlib

    from dirkit._directory.encoding import decode, encode

    n = 1000
    chain = [group(f"g{i}", 2000 + i, f"g{i - 1}" if i else "deep") for i in range(n)]
    tracemalloc.start()
    try:
        d = make([user("deep", 1000)], chain)
        stored = encode(d)
        back = decode(stored)
        state = zlib.decompress(stored)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert len(state) < 200 * n  # O(memberships): a few GUIDs per membership, not a chain each
    deep = back.user_by_name("deep")
    top = back.group_by_name(f"g{n - 1}")
    assert deep is not None and top is not None
    assert back.explain(deep, top) == [f"g{i}" for i in range(n)]  # the `via` chain is kept
    assert len(back.group_names_of(deep)) == n


def test_users_with_the_same_groups_share_one_membership_map() -> None:
    d = make([user(f"u{i}", 1000 + i) for i in range(50)], [group("g", 1100, *[f"u{i}" for i in range(50)])])
    assert len({id(m) for m in d.effective.values()}) == 1


def test_aws_managed_ad_is_seen_in_objects_and_in_members_not_read() -> None:
    plain = make([user("alice", 1001)], [group("g", 1100, "alice")])
    assert plain.stats["aws_managed_ad"] is False
    by_member = make([user("alice", 1001)], [group("g", 1100, "alice", "CN=AWS Admins,OU=AWS Reserved,DC=x")])
    assert by_member.stats["aws_managed_ad"] is True
    by_object = make([user("alice", 1001)], [group("AWS Delegated Admins", 1100)])
    assert by_object.stats["aws_managed_ad"] is False  # a name is not a place: only the OU counts
    moved = RawGroup("g-aws", "CN=x,OU=AWS Delegated Groups,DC=x", "x", f"{DOM}-1101", 1, ())
    assert make([user("alice", 1001)], [moved]).stats["aws_managed_ad"] is True
