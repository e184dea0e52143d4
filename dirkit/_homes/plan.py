"""Pure planning of HDFS homes: the wanted homes (policy.py) and one listing of the prefix
-> actions and reports. No I/O here, so every case is a fast unit test."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._config import HdfsConfig, SafetyConfig
from .._directory.model import Directory
from .._plan import over_limit
from .._reserved import Reserved, defaults
from .file_status import FileStatus
from .policy import Home, home_path, wanted_homes

# Action kinds, in the order a run applies them per user. FINISH hands over a home whose create
# was interrupted after MKDIRS (owned by the superuser, with the create mode): not drift.
ActionKind = Literal["create", "rename", "finish", "fix_owner", "fix_mode", "set_quota", "lock"]
CREATE: ActionKind = "create"
FINISH: ActionKind = "finish"
FIX_OWNER: ActionKind = "fix_owner"
FIX_MODE: ActionKind = "fix_mode"
QUOTA: ActionKind = "set_quota"
LOCK: ActionKind = "lock"
LOCKED_MODE = "0"  # what a lock sets, as WebHDFS reports it back (no one but the superuser gets in)
# RENAME moves a renamed user's home (found by the objectGUID dirkit recorded for it) to the new name.
RENAME: ActionKind = "rename"
ReportKind = Literal["drift", "departed", "refused", "reused", "foreign", "protected", "not_renamed"]
Quota = tuple[int, int]  # (namespace, space) as GETQUOTAUSAGE reports them; -1 = none
HomeStatus = tuple[str, str, str]  # (owner, group, mode) of a home directory


@dataclass(frozen=True, slots=True)
class HomeAction:
    """One thing to do to one home (create, chown, chmod, quota, lock, rename), or a drift to report."""

    kind: ActionKind
    user: str
    path: str
    detail: str = ""  # for people; the fields below are what is applied
    source: str = ""  # rename: the home's path before
    owner: str = ""
    group: str = ""
    mode: str = ""
    namespace: int | None = None
    space: int | None = None

    def to_json(self) -> dict[str, Any]:
        """This action as docs/json.md's `hdfs provision --json` documents it."""
        return {"kind": self.kind, "user": self.user, "path": self.path, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class HomeReport:
    """Something about a home that is reported, not (or not yet) acted on."""

    kind: ReportKind
    path: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """This report as docs/json.md's `hdfs provision --json` documents it."""
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Owned:
    """A home the state says dirkit made, for which objectGUID; ``pending``: recorded before
    its MKDIRS (or the RENAME to it) and not yet confirmed, so it may be unfinished."""

    guid: str
    pending: bool = False


@dataclass
class HomesPlan:
    """Every home the policy wants, what is there, and the actions that make them agree."""

    prefix: str
    actions: list[HomeAction] = field(default_factory=list)
    reports: list[HomeReport] = field(default_factory=list)
    wanted: int = 0
    existing: int = 0
    held: str = ""  # why the locks in this plan exceed the safety limits ("" if they do not)
    # Home name -> objectGUID: homes this plan creates or renames to (recorded as pending in the
    # state before the first request), and homes that are dirkit's and stay so.
    pending: dict[str, str] = field(default_factory=dict)
    owned: dict[str, str] = field(default_factory=dict)
    departed_names: list[str] = field(default_factory=list)  # dirkit's homes whose user is gone or disabled
    seen: dict[str, HomeStatus] = field(default_factory=dict)  # home name -> as the listing showed it

    def to_json(self) -> dict[str, Any]:
        """This plan as docs/json.md's `hdfs provision --json` documents it."""
        return {
            "prefix": self.prefix,
            "wanted": self.wanted,
            "existing": self.existing,
            "actions": [a.to_json() for a in self.actions],
            "reports": [r.to_json() for r in self.reports],
        }


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def quota_checks(
    cfg: HdfsConfig, d: Directory, listing: list[FileStatus], users: Collection[str] | None = None
) -> list[str]:
    """Paths of existing homes with a quota rule: their quota is read back and re-checked."""
    present = {e.name for e in listing}
    return [h.path for h in wanted_homes(cfg, d, users)[0] if h.quota and h.user in present]


def plan_homes(
    cfg: HdfsConfig,
    d: Directory,
    listing: list[FileStatus],
    *,
    quotas: dict[str, Quota] | None = None,
    fix_drift: bool = False,
    lock_departed: bool = False,
    owned: Mapping[str, Owned] | None = None,
    safety: SafetyConfig | None = None,
    departed: Mapping[str, float] | None = None,
    now: float | None = None,
    protected: Reserved | None = None,
    users: Collection[str] | None = None,
) -> HomesPlan:
    """The snapshot, one listing of the prefix and the quotas of ``quota_checks`` -> actions
    and reports. ``users`` (objectGUIDs): plan those users' homes only, and of the directories
    listed only those their names (now, before, or of dirkit's home for them) account for: a
    delta's pass, when the last pass planned every other home against the same picture.

    What is dirkit's comes from the state only (``owned``: home name -> the objectGUID dirkit
    created it for), never from a name: a directory that exists and is not dirkit's is
    reported and never touched, whoever in AD has its name. FINISH only completes a pending
    create or rename; RENAME moves a home only when the state says dirkit made it for that
    objectGUID and the listing shows it still owned by the old name. ``protected`` (the
    reserved names) and ``hdfs.lock_exclude`` are never created, renamed, handed over or
    locked. ``lock_departed`` locks dirkit's homes whose user left (``departed``: name -> when
    dirkit first saw them gone) more than ``hdfs.departed_grace_days`` ago; with
    ``hdfs.lock_on_disable`` a disabled user's home is locked at once, and unlocked (its mode
    given back) when the user is enabled again; more locks than ``safety`` allows (its removal
    limits, against the homes present) hold the plan."""
    quotas = quotas or {}
    owned = owned or {}
    departed = departed or {}
    reserved = protected or defaults()
    now = time.time() if now is None else now
    grace = cfg.departed_grace_days * 86400
    prefix = cfg.prefix
    plan = HomesPlan(prefix=prefix)
    existing = {e.name: e for e in listing}
    plan.existing = len(existing)
    if users is not None:
        looked_at = scope_names(d, users, owned)
        existing = {n: e for n, e in existing.items() if n in looked_at}
    plan.seen = {e.name: (e.owner, e.group, e.permission) for e in listing if e.type == "DIRECTORY"}

    def protected_why(name: str) -> str | None:
        if name in cfg.lock_exclude:
            return "protected by hdfs.lock_exclude"
        return reserved.reason(name)

    homes, refused = wanted_homes(cfg, d, users)
    for name in refused:
        plan.reports.append(HomeReport("refused", posixpath.join(prefix, name), f"unsafe home path for {name!r}"))
    home_of = {o.guid: n for n, o in owned.items() if not o.pending}  # objectGUID -> its confirmed home
    # Every name a home is wanted for, the scope's or not: a rename never takes another's.
    # (A scoped pass counts the enabled named users: the names policy leaves none unsafe.)
    wanted = {h.user for h in homes} if users is None else {u.name for u in d.users.values() if u.enabled and u.name}
    plan.wanted = len(homes) if users is None else len(wanted)
    renamed: set[str] = set()
    for h in homes:
        why = protected_why(h.user)
        if why is not None:
            plan.reports.append(HomeReport("protected", h.path, f"{h.user!r} is {why}: no home is made or handed over"))
            continue
        have, mine = existing.get(h.user), owned.get(h.user)
        old = home_of.get(h.guid) if h.guid else None
        if have is None:
            if old is not None and old != h.user and old in existing:
                rename, detail = _rename(cfg, h.user, old, existing[old], wanted, protected_why(old))
                if rename:
                    plan.actions.append(
                        HomeAction(RENAME, h.user, h.path, detail, owner=h.owner, group=h.group, source=rename)
                    )
                    plan.pending[h.user] = h.guid
                    renamed.add(old)
                    continue
                plan.reports.append(HomeReport("not_renamed", home_path(prefix, old) or old, detail))
            plan.actions.append(
                HomeAction(
                    CREATE,
                    h.user,
                    h.path,
                    f"owner {h.owner}:{h.group} mode {h.mode}",
                    owner=h.owner,
                    group=h.group,
                    mode=h.mode,
                )
            )
            plan.pending[h.user] = h.guid
            if h.quota:
                plan.actions.append(
                    HomeAction(
                        QUOTA,
                        h.user,
                        h.path,
                        f"namespace {h.quota.namespace} space {h.quota.space_bytes}",
                        namespace=h.quota.namespace,
                        space=h.quota.space_bytes,
                    )
                )
            continue
        if mine is None:
            detail = (
                f"exists (owner {have.owner}:{have.group}) and dirkit did not create it: left alone. If it is "
                f"{h.user}'s home, `dirkit hdfs adopt {h.user}` makes it dirkit's"
            )
            plan.reports.append(HomeReport("foreign", h.path, detail))
            continue
        if mine.guid != h.guid:
            detail = (
                f"provisioned for another AD account of this name (objectGUID {mine.guid}), now {h.user} is {h.guid}: "
                "not handed over; move it away and the next run makes a new home"
            )
            plan.reports.append(HomeReport("reused", h.path, detail))
            continue
        if have.type != "DIRECTORY":
            plan.reports.append(HomeReport("drift", h.path, f"is a {(have.type or '?').lower()}, not a directory"))
            continue
        if mine.pending and have.owner != h.owner:
            if have.owner == cfg.superuser and have.permission == h.mode:
                detail = f"unfinished create (owner {cfg.superuser}, mode {h.mode}): hand over to {h.owner}:{h.group}"
            elif old is not None and have.owner == old:
                detail = f"unfinished rename from {old}: hand over to {h.owner}:{h.group}"
            else:
                detail = f"dirkit's create did not finish and it is owned by {have.owner}:{have.group}: left alone"
                plan.reports.append(HomeReport("foreign", h.path, detail))
                continue
            plan.actions.append(HomeAction(FINISH, h.user, h.path, detail, owner=h.owner, group=h.group))
            plan.pending[h.user] = h.guid
            continue
        plan.owned[h.user] = h.guid
        _drift(plan, cfg, h, have, quotas, fix_drift)
    named: set[str | None] = {u.name for u in d.users.values() if u.name}
    accounted = wanted | set(refused) | renamed
    _departed(plan, cfg, existing, accounted, named, owned, departed, lock_departed, now, grace, protected_why)
    locks = sum(1 for a in plan.actions if a.kind == LOCK)
    if safety is not None and locks:
        plan.held = over_limit(
            locks, plan.existing, safety.max_removals, safety.max_removal_percent, "homes to lock", "homes present"
        )
    return plan


def scope_names(d: Directory, users: Collection[str], owned: Mapping[str, Owned]) -> set[str]:
    """The home names a pass over ``users`` (objectGUIDs) looks at: their names now and the
    homes dirkit made for them (under a name they had before, too: a rename, a departure)."""
    wanted = set(users)
    names = {u.name for g in wanted if (u := d.users.get(g)) is not None and u.name}
    return names | {n for n, o in owned.items() if o.guid in wanted}


def _rename(
    cfg: HdfsConfig, new: str, old: str, src: FileStatus, wanted: set[str], protected: str | None
) -> tuple[str, str]:
    """(the source path, why) when dirkit's home ``old`` may move to ``new``, else ("", why not)."""
    old_path = home_path(cfg.prefix, old)
    if old_path is None:
        return "", f"{old!r} is not a direct child of the prefix: not renamed"
    if protected is not None:
        return "", f"{old_path} is {protected}: not renamed to {new}"
    if old in wanted:
        return "", f"{old_path} is wanted by another AD user now: not renamed to {new}"
    if src.type != "DIRECTORY" or src.owner != old:
        return "", f"{old_path} is no longer {old}'s directory (owner {src.owner}): not renamed to {new}"
    return (
        old_path,
        f"{old} was renamed to {new} in AD (same objectGUID): {old_path} moves to {home_path(cfg.prefix, new)}",
    )


def _drift(
    plan: HomesPlan, cfg: HdfsConfig, h: Home, have: FileStatus, quotas: Mapping[str, Quota], fix_drift: bool
) -> None:
    """Owner, mode and quota of one of dirkit's homes against the policy."""
    if (have.owner, have.group) != (h.owner, h.group):
        detail = f"owner {have.owner}:{have.group}, want {h.owner}:{h.group}"
        if fix_drift:
            plan.actions.append(HomeAction(FIX_OWNER, h.user, h.path, detail, owner=h.owner, group=h.group))
        else:
            plan.reports.append(HomeReport("drift", h.path, detail + " (--fix-drift fixes it)"))
    if have.permission != h.mode:
        detail = f"mode {have.permission}, want {h.mode}"
        if cfg.lock_on_disable and have.permission == LOCKED_MODE:
            # Locked when the user was disabled (hdfs.lock_on_disable): enabled again, unlocked.
            detail += ": locked, and its user is enabled again (hdfs.lock_on_disable)"
            plan.actions.append(HomeAction(FIX_MODE, h.user, h.path, detail, mode=h.mode))
        elif fix_drift:
            plan.actions.append(HomeAction(FIX_MODE, h.user, h.path, detail, mode=h.mode))
        else:
            plan.reports.append(HomeReport("drift", h.path, detail + " (--fix-drift fixes it)"))
    q = h.quota
    if q is not None and h.path in quotas:
        ns, space = quotas[h.path]
        if (q.namespace not in (None, ns)) or (q.space_bytes not in (None, space)):
            detail = f"quota namespace {ns} space {space}, want {q.namespace} {q.space_bytes}"
            plan.actions.append(HomeAction(QUOTA, h.user, h.path, detail, namespace=q.namespace, space=q.space_bytes))


def _departed(
    plan: HomesPlan,
    cfg: HdfsConfig,
    existing: Mapping[str, FileStatus],
    accounted: set[str],
    named: set[str | None],
    owned: Mapping[str, Owned],
    departed: Mapping[str, float],
    lock_departed: bool,
    now: float,
    grace: float,
    protected_why: Callable[[str], str | None],
) -> None:
    """Directories present that no wanted home accounts for: dirkit's are departed homes (kept,
    or locked when asked), anything else is reported as not dirkit's."""
    for name, entry in sorted(existing.items()):
        if name in accounted:
            continue
        path = home_path(cfg.prefix, name)
        if path is None:  # the NameNode listed a name no home could have: never acted on
            plan.reports.append(
                HomeReport("refused", posixpath.join(cfg.prefix, name), "not a direct child of the prefix")
            )
            continue
        mine = owned.get(name)
        if mine is None or mine.pending:
            plan.reports.append(HomeReport("foreign", path, "dirkit did not create it: left alone"))
            continue
        why = "the AD user is disabled" if name in named else "no AD user by this name (left AD or out of scope)"
        plan.departed_names.append(name)
        since = departed.get(name)
        why += f"; departed since {_day(since)}" if since is not None else "; departed (first seen now)"
        protected = protected_why(name)
        at_once = cfg.lock_on_disable and name in named  # disabled (not gone): no grace
        if not (lock_departed or at_once) or entry.type != "DIRECTORY" or entry.permission == LOCKED_MODE:
            plan.reports.append(HomeReport("departed", path, why + "; home kept"))
        elif protected is not None:
            plan.reports.append(HomeReport("departed", path, why + f"; not locked: {protected}"))
        elif at_once:
            plan.actions.append(
                HomeAction(LOCK, name, path, why + "; locked at once (hdfs.lock_on_disable)", mode=LOCKED_MODE)
            )
        elif grace > 0 and (since is None or now - since < grace):
            until = _day((now if since is None else since) + grace)
            plan.reports.append(
                HomeReport("departed", path, why + f"; not locked before {until} (hdfs.departed_grace_days)")
            )
        else:
            plan.actions.append(HomeAction(LOCK, name, path, why, mode=LOCKED_MODE))


@dataclass(frozen=True, slots=True)
class Adoption:
    """`dirkit hdfs adopt`: a directory made dirkit's home for an AD user (``guid``), or why not."""

    name: str
    path: str
    guid: str = ""  # "": refused, see detail
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """As docs/json.md's `hdfs adopt --json` documents it."""
        return {"name": self.name, "path": self.path, "adopted": bool(self.guid), "detail": self.detail}


def plan_adoptions(
    cfg: HdfsConfig,
    d: Directory,
    listing: list[FileStatus],
    names: list[str],
    owned: Mapping[str, Owned],
    protected: Reserved,
) -> list[Adoption]:
    """Which of the directories ``names`` (under the prefix) may become dirkit's homes: only one
    that exists, is a directory, and is already owned by the enabled AD user of its name, who
    has no home of dirkit's elsewhere. The admin's explicit claim, never inferred from a name."""
    homes = {h.user: h for h in wanted_homes(cfg, d)[0]}
    existing = {e.name: e for e in listing}
    home_of = {o.guid: n for n, o in owned.items() if not o.pending}
    out = []
    for name in names:
        path = home_path(cfg.prefix, name) or posixpath.join(cfg.prefix, name)
        h, e, mine = homes.get(name), existing.get(name), owned.get(name)
        why = "protected by hdfs.lock_exclude" if name in cfg.lock_exclude else protected.reason(name)
        if why is not None:
            out.append(Adoption(name, path, detail=f"{name!r} is {why}: never a home"))
        elif h is None:
            out.append(Adoption(name, path, detail="no enabled AD user has this name: no home is wanted"))
        elif mine is not None and mine.guid != h.guid:
            out.append(Adoption(name, path, detail=f"dirkit made it for another AD account (objectGUID {mine.guid})"))
        elif home_of.get(h.guid, name) != name:
            out.append(Adoption(name, path, detail=f"{name} already has a home of dirkit's: {home_of[h.guid]}"))
        elif e is None or e.type != "DIRECTORY":
            out.append(Adoption(name, path, detail="no such directory (`dirkit sync` makes the home)"))
        elif e.owner != h.owner:
            detail = f"owned by {e.owner}, not {h.owner}: if it is theirs, hand it over first (hdfs dfs -chown {h.owner} {path})"
            out.append(Adoption(name, path, detail=detail))
        else:
            out.append(Adoption(name, path, h.guid, f"now dirkit's home of {name} (objectGUID {h.guid})"))
    return out
