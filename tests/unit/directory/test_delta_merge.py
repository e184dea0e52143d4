"""Delta reads, the pure parts: when a full read is due, and merging changes into a snapshot."""

from __future__ import annotations

from dataclasses import replace

from seed_fixture import BASE, DOM, seed_config, seed_directory

from dirkit._directory.build import RawGroup, RawUser, build
from dirkit._directory.delta import (
    Changed,
    Watermark,
    entered_scope,
    fingerprint,
    groups_listing,
    merge,
    primary_group_moves,
)
from dirkit._directory.names import NamePolicy
from dirkit._sync import full_read_reason

NOW = 1_000_000.0


def wm(**kw: object) -> Watermark:
    cfg = seed_config()
    base = Watermark(cfg.ldap.urls[0], "inv", 100, fingerprint(cfg), NOW - 60, NOW - 3600)
    return replace(base, **kw)


def test_a_full_read_happens_for_each_documented_reason() -> None:
    cfg = seed_config()
    assert full_read_reason(cfg, wm(), False, NOW) is None
    assert "no watermark" in (full_read_reason(cfg, None, False, NOW) or "")
    assert "--full" in (full_read_reason(cfg, wm(), True, NOW) or "")
    assert "scope, filters or names" in (full_read_reason(cfg, wm(fingerprint="other"), False, NOW) or "")
    assert "no longer in ldap.urls" in (full_read_reason(cfg, wm(dc="ldaps://gone:636"), False, NOW) or "")
    assert "older than" in (full_read_reason(cfg, wm(taken=NOW - 8 * 86400), False, NOW) or "")
    assert "scheduled full read" in (full_read_reason(cfg, wm(last_full=NOW - 25 * 3600), False, NOW) or "")
    off = seed_config(ldap={"delta": False})
    assert "off" in (full_read_reason(off, wm(), False, NOW) or "")
    names = seed_config(names={"case": "preserve"})
    assert "names policy" in (full_read_reason(names, wm(), False, NOW) or "")


def _u(sam: str, rid: int, ou: str = "CN=Users", pgid: int = 513, created: int = 1) -> RawUser:
    return RawUser(
        f"guid-{sam}", f"CN={sam},{ou},{BASE}", sam, f"{DOM}-{rid}", None, None, 512, pgid, 200, created_usn=created
    )


def test_merge_replays_what_ad_does_to_unchanged_groups() -> None:
    prev = seed_directory()
    data_science = next(g for g in prev.groups.values() if g.sam == "grp_data_science")
    moved = _u("datascientist1", 1102, ou="OU=Elsewhere")  # its DN changed; the group was not re-read
    deleted = Changed("guid-dataeng1", f"CN=dataeng1\\0ADEL:x,CN=Deleted Objects,{BASE}", True, False)
    changed = [Changed(moved.guid, moved.dn, False, False), deleted]
    users, groups = merge(prev, changed, [moved], [])
    d = build(users, groups, NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])
    ds = d.user_by_name("datascientist1")
    assert ds is not None and "grp_analytics" in d.group_names_of(ds)  # rewritten member DN still resolves
    assert d.user_by_name("dataeng1") is None
    engineering = next(g for g in groups if g.sam == "grp_data_engineering")
    assert not any("dataeng1" in m for m in engineering.members)  # AD dropped the deleted member
    assert data_science.guid in {g.guid for g in groups}


def test_member_lists_ad_rewrites_unseen_are_found_for_reading_again() -> None:
    # A primary group moved, an object back in scope, one gone unseen: AD rewrote member lists
    # without changing the groups, so the delta reads those groups again (no full read).
    prev = seed_directory()
    assert primary_group_moves(prev, [_u("admin1", 1100, pgid=1200)]) == {f"{DOM}-513", f"{DOM}-1200"}
    assert primary_group_moves(prev, [_u("admin1", 1100)]) == set()
    assert entered_scope(prev, [_u("old1", 1300, created=50)], [], 100) == [f"CN=old1,CN=Users,{BASE}"]
    assert entered_scope(prev, [_u("new1", 1301, created=150)], [], 100) == []  # created since: no stale DNs
    grp = RawGroup("g-x", f"CN=x,{BASE}", "x", f"{DOM}-9", 1, (), 50)
    assert entered_scope(prev, [], [grp], 100) == [f"CN=x,{BASE}"]
    eng = prev.group_by_name("grp_data_engineering")
    assert eng is not None
    assert groups_listing(prev, [f"cn=DATAENG1,CN=Users,{BASE}"]) == {eng.guid}  # DNs compare case-blind
