"""The incremental model equals the rebuild (issue 33, item 3): over thousands of random deltas
(seeded, bounded in time), ``incremental.apply`` gives exactly the ``Directory`` that
``build(*merge(...))`` gives: users, groups, names (collisions coming and going), direct and
effective memberships with their chains, issues and the read's counts. Deltas are made as AD
makes them: a deleted or moved object leaves the groups that listed it rewritten without those
groups being reported changed (AD's link maintenance), other groups are read again at random
(as the reader re-reads some), and each delta applies to the result of the last one, so the
index a delta leaves behind is tested too."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields, replace

from dirkit._config import SafetyConfig
from dirkit._directory import encoding
from dirkit._directory.build import RawGroup, RawUser, build, dn_key
from dirkit._directory.delta import Changed, merge
from dirkit._directory.incremental import apply, touched
from dirkit._directory.model import Directory, ReadInfo
from dirkit._directory.names import NamePolicy
from dirkit._outputs import hadoop
from dirkit._plan import content_digest, make_plan, named_memberships, plan_digest

BASE = "DC=ex,DC=test"
SAFETY = SafetyConfig(max_removals=10**6, max_removal_percent=100)
BASES = [f"OU=People,{BASE}", f"OU=Groups,{BASE}"]
DOM = "S-1-5-21-7-7-7"
SAMS = ["ann", "Ann", "bob", "cy", "dee", "hdfs", "bad@x", "-opt", "eve", "fay", "gus", "hal", "ivy", "jo"]
STRANGERS = [
    f"CN=S-1-5-21-9-9-9-1105,CN=ForeignSecurityPrincipals,{BASE}",
    f"CN=contact1,OU=People,{BASE}",
    "CN=far,OU=Outside,DC=other,DC=test",
    f"CN=AWSAdmin,OU=AWS Reserved,{BASE}",
]


@dataclass
class World:
    """What the DC holds now (raw), and how to tell a delta of it."""

    rnd: random.Random
    users: dict[str, RawUser] = field(default_factory=dict)
    groups: dict[str, RawGroup] = field(default_factory=dict)
    n: int = 0

    def guid(self) -> str:
        self.n += 1
        return f"{self.n:08x}-0000-4000-8000-000000000000"

    def new_user(self) -> RawUser:
        g = self.guid()
        rid = 2000 + self.n
        # Existing groups' RIDs, and some of groups not made yet (a primary group that appears).
        rids = [int(x.sid.rsplit("-", 1)[1]) for x in self.groups.values()] + [513, 3000 + self.n + 2]
        return RawUser(
            guid=g,
            dn=f"CN=u{self.n},OU=People,{BASE}",
            sam=self.rnd.choice(SAMS),
            sid=f"{DOM}-{rid}",
            upn=None,
            display_name=None,
            uac=self.rnd.choice([512, 514]),
            primary_group_id=self.rnd.choice(rids),
            usn=self.n,
            system=self.rnd.random() < 0.05,
        )

    def new_group(self) -> RawGroup:
        g = self.guid()
        sid = f"S-1-5-32-{500 + self.n}" if self.rnd.random() < 0.05 else f"{DOM}-{3000 + self.n}"
        return RawGroup(g, f"CN=g{self.n},OU=Groups,{BASE}", self.rnd.choice(SAMS), sid, self.n, self.members())

    def members(self) -> tuple[str, ...]:
        pool = [u.dn for u in self.users.values()] + [g.dn for g in self.groups.values()] + STRANGERS
        return tuple(self.rnd.sample(pool, min(len(pool), self.rnd.randint(0, 6))))

    def drop_member(self, dn: str) -> None:
        """AD's link maintenance: the groups listing ``dn`` lose it, their uSNChanged unmoved."""
        for gid, g in self.groups.items():
            if any(dn_key(m) == dn_key(dn) for m in g.members):
                self.groups[gid] = replace(g, members=tuple(m for m in g.members if dn_key(m) != dn_key(dn)))

    def rename_member(self, old: str, new: str) -> None:
        for gid, g in self.groups.items():
            if any(dn_key(m) == dn_key(old) for m in g.members):
                self.groups[gid] = replace(g, members=tuple(new if dn_key(m) == dn_key(old) else m for m in g.members))

    def delta(self) -> tuple[list[Changed], list[RawUser], list[RawGroup]]:
        """Change the world at random; what a delta read reports of it."""
        changed: dict[str, Changed] = {}
        rnd = self.rnd
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            users, groups = list(self.users), list(self.groups)
            if op < 0.15 or not users:
                u = self.new_user()
                self.users[u.guid] = u
                changed[u.guid] = Changed(u.guid, u.dn, False, False)
            elif op < 0.35:
                gid = rnd.choice(users)
                u = self.users[gid]
                u = replace(
                    u,
                    sam=rnd.choice([u.sam, rnd.choice(SAMS)]),
                    uac=rnd.choice([512, 514]),
                    primary_group_id=rnd.choice([u.primary_group_id, 513, *(int(g.sid.rsplit("-", 1)[1]) for g in self.groups.values())]),
                    usn=u.usn + 1,
                )  # fmt: off
                self.users[gid] = u
                changed[gid] = Changed(gid, u.dn, False, False)
            elif op < 0.45:
                gid = rnd.choice(users)
                u = self.users[gid]
                new_dn = f"CN=m{self.guid()[:8]},OU=People,{BASE}"
                self.rename_member(u.dn, new_dn)
                self.users[gid] = replace(u, dn=new_dn)
                changed[gid] = Changed(gid, new_dn, False, False)
            elif op < 0.55:
                gid = rnd.choice(users)
                u = self.users.pop(gid)
                self.drop_member(u.dn)
                changed[gid] = Changed(gid, "", True, False, last_dn=u.dn)
            elif op < 0.62:
                g = self.new_group()
                self.groups[g.guid] = g
                changed[g.guid] = Changed(g.guid, g.dn, False, False)
            elif op < 0.8 and groups:
                gid = rnd.choice(groups)
                g = self.groups[gid]
                self.groups[gid] = replace(g, sam=rnd.choice([g.sam, rnd.choice(SAMS)]), members=self.members())
                changed[gid] = Changed(gid, g.dn, False, False)
            elif op < 0.87 and groups:
                gid = rnd.choice(groups)
                g = self.groups.pop(gid)
                self.drop_member(g.dn)
                changed[gid] = Changed(gid, "", True, False, last_dn=g.dn)
            elif op < 0.93 and groups:
                gid = rnd.choice(groups)
                g = self.groups[gid]
                new_dn = f"CN=n{self.guid()[:8]},OU=Groups,{BASE}"
                self.rename_member(g.dn, new_dn)
                self.groups[gid] = replace(g, dn=new_dn)
                changed[gid] = Changed(gid, new_dn, False, False)
            else:  # an object out of the scope deleted: only its DN in member lists tells
                gone = rnd.choice(STRANGERS)
                self.drop_member(gone)
                changed[f"x-{self.guid()}"] = Changed(f"x-{self.guid()}", "", True, False, last_dn=gone)
        users_now = [self.users[g] for g in changed if g in self.users]
        groups_now = [self.groups[g] for g in changed if g in self.groups]
        reread = [g for gid, g in self.groups.items() if gid not in changed and rnd.random() < 0.1]
        return list(changed.values()), users_now, groups_now + reread


def _diff(a: Directory, b: Directory) -> str:
    out = []
    for f in fields(Directory):
        if f.compare and getattr(a, f.name) != getattr(b, f.name):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if isinstance(x, dict | type(a.users)):
                keys = sorted(set(x) | set(y))
                bad = [(k, x.get(k), y.get(k)) for k in keys if x.get(k) != y.get(k)][:3]
                out.append(f"{f.name}: {bad}")
            else:
                out.append(f"{f.name}: {x!r}\n  != {y!r}")
    return "\n".join(out)


def _gaps_by_walking_member(d: Directory) -> dict[str, list[str]]:
    visible = hadoop.memberof_groups(d)
    gaps = {}
    for u in d.named_users():
        missing = sorted(set(d.group_names_of(u)) - set(visible.get(u.guid, ())) - {"domain users"})
        if u.enabled and missing:
            gaps[u.name or u.sam] = missing
    return gaps


def _check(seed: int, steps: int, include_system: bool = False) -> None:
    rnd = random.Random(seed)
    world = World(rnd)
    world.groups["du"] = RawGroup("du", f"CN=Domain Users,OU=Groups,{BASE}", "Domain Users", f"{DOM}-513", 0, ())
    for _ in range(rnd.randint(2, 6)):
        g = world.new_group()
        world.groups[g.guid] = g
    for _ in range(rnd.randint(3, 12)):
        u = world.new_user()
        world.users[u.guid] = u
    for gid, g in list(world.groups.items()):  # some nesting, cycles included
        world.groups[gid] = replace(g, members=world.members())
    policy = NamePolicy()
    d = build(
        list(world.users.values()), list(world.groups.values()), policy, BASES, ReadInfo(kind="full"), include_system
    )
    assert hadoop.mapping_gaps(d) == _gaps_by_walking_member(d)
    for step in range(steps):
        changed, users, groups = world.delta()
        info = ReadInfo(kind="delta", changed_objects=len(changed))
        want = build(*merge(d, changed, users, groups), policy, BASES, info, include_system)
        got = apply(d, changed, users, groups, policy, BASES, info, include_system)
        assert got == want, f"seed {seed} step {step}: {changed}\n{_diff(got, want)}"
        # The plan and the digests from what the delta touched equal those of the rebuild.
        why = f"seed {seed} step {step}: {changed}"
        assert make_plan(d, got, SAFETY) == make_plan(d, want, SAFETY), why
        # The membership limit's base the plan left on ``got`` (counted from d's, over what the
        # delta touched) is the one counted over every user of the rebuild.
        assert got.cached("named_memberships") == named_memberships(want), why
        assert plan_digest(got, (d, plan_digest(d))) == plan_digest(want), why
        assert content_digest(got, (d, content_digest(d))) == content_digest(want), why
        # core-site's warning: what LdapGroupsMapping misses, for the touched users only (d has
        # its gaps computed), equals the rebuild's, and the member-walking definition's.
        assert hadoop.mapping_gaps(got) == hadoop.mapping_gaps(want) == _gaps_by_walking_member(want), why
        # The stored patch (what the delta touched) on the stored base gives the rebuild.
        t = touched(got, d)
        assert t is not None, why
        patch = encoding.encode_patch(got, t.users, t.groups)
        assert encoding.decode_patch(d, patch) == want, why
        d = got


def test_random_deltas_give_what_the_rebuild_gives() -> None:
    t0 = time.monotonic()
    seed = 0
    while seed < 3000 and time.monotonic() - t0 < 20:  # about 3,000 chains of 6 deltas in CI's time
        _check(seed, steps=6, include_system=seed % 7 == 0)
        seed += 1
    assert seed >= 300, f"only {seed} chains in 20 s"
