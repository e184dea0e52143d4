"""The lab's directory content: the seed scenario plus hard cases the sync must get right.

This is data only; ``_samba_seed.py`` writes it into Samba. Changing it changes the cache key
of the provisioned database (see ``ad_dc.cache_key``), so a stale cache is never reused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .settings import AD_BASE, SYNC_ACCOUNT

USERS_CN = f"CN=Users,{AD_BASE}"
HARD_OU = f"OU=HardCases,{AD_BASE}"
OUTSIDE_OU = f"OU=Contractors,{AD_BASE}"
RANGED_GROUP_MEMBERS = 25  # more than one range when the reader forces small ranges


@dataclass(frozen=True)
class User:
    sam: str
    cn: str = ""
    ou: str = USERS_CN
    given: str = ""
    surname: str = ""
    disabled: bool = False
    keytab: bool = False  # export a keytab for this user into the lab's keytab dir
    primary_group: str | None = None  # sAMAccountName of a group; default is Domain Users

    @property
    def dn(self) -> str:
        return f"CN={self.cn or self.sam},{self.ou}"


@dataclass(frozen=True)
class Group:
    sam: str
    ou: str = USERS_CN
    members: tuple[str, ...] = ()  # sAMAccountNames of users/groups, or full DNs

    @property
    def dn(self) -> str:
        return f"CN={self.sam},{self.ou}"


@dataclass(frozen=True)
class Contact:
    cn: str
    ou: str = HARD_OU

    @property
    def dn(self) -> str:
        return f"CN={self.cn},{self.ou}"


@dataclass(frozen=True)
class Seed:
    ous: tuple[str, ...]
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    contacts: tuple[Contact, ...] = ()
    # Foreign security principals (SIDs from another forest) added as group members.
    foreign_sids: tuple[str, ...] = ()
    # Extra memberships added after all groups exist (group sam -> member sams): cycles need it.
    late_members: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["users"] = [{**asdict(u), "dn": u.dn} for u in self.users]
        d["groups"] = [{**asdict(g), "dn": g.dn} for g in self.groups]
        d["contacts"] = [{**asdict(c), "dn": c.dn} for c in self.contacts]
        return d


FOREIGN_SID = "S-1-5-21-1000-2000-3000-1105"

SEED = Seed(
    ous=(HARD_OU, OUTSIDE_OU),
    users=(
        # The seed scenario.
        User("admin1", given="Admin", surname="One"),
        User("dataeng1", given="Data", surname="Eng", keytab=True),
        User("datascientist1", given="Data", surname="Sci"),
        User("disabled1", given="Dis", surname="Abled", disabled=True),
        User(SYNC_ACCOUNT, keytab=True),
        # Hard cases.
        User("cycleuser1", ou=HARD_OU),
        User("pgiduser1", ou=HARD_OU, primary_group="grp_data_engineering"),
        User("zoë.müller", cn="Zoë Müller", ou=HARD_OU),  # unicode
        User("odd space", ou=HARD_OU),
        User("odd#hash", ou=HARD_OU),
        User("odd%pct", ou=HARD_OU),
        User("-dashlead", ou=HARD_OU),
        User("Mixed.Case", ou=HARD_OU),
        # Same name as zoë.müller after Unicode NFC normalisation (decomposed ë): a collision.
        User("zoe\u0308.müller", cn="Zoe Mueller NFD", ou=HARD_OU),
        User("outsider1", ou=OUTSIDE_OU),
        *(User(f"rangeuser{i:02d}", ou=HARD_OU) for i in range(1, RANGED_GROUP_MEMBERS + 1)),
    ),
    groups=(
        Group("grp_data_engineering", members=("dataeng1",)),
        Group("grp_data_science", members=("datascientist1",)),
        Group("grp_analytics", members=("grp_data_science",)),
        Group("grp_cycle_a", ou=HARD_OU),
        Group("grp_cycle_b", ou=HARD_OU, members=("grp_cycle_a",)),
        Group("grp_cycle_c", ou=HARD_OU, members=("grp_cycle_b", "cycleuser1")),
        Group("grp_ranged", ou=HARD_OU, members=tuple(f"rangeuser{i:02d}" for i in range(1, RANGED_GROUP_MEMBERS + 1))),
        Group("grp_mixed", ou=HARD_OU, members=("admin1", "outsider1", "CN=ext-contact1," + HARD_OU)),
        Group("grp odd name", ou=HARD_OU, members=("odd space",)),
    ),
    contacts=(Contact("ext-contact1"),),
    foreign_sids=(FOREIGN_SID,),
    late_members=(
        ("grp_cycle_a", "grp_cycle_c"),  # closes the cycle a -> c -> b -> a
        ("Domain Admins", "admin1"),
        ("grp_mixed", f"<SID={FOREIGN_SID}>"),
    ),
)
