"""Pure planning of HDFS homes: the wanted homes (policy.py) and one listing of the prefix
-> actions and reports. No I/O here, so every case is a fast unit test."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config import HdfsConfig, SafetyConfig
from .._directory.model import Directory
from .._plan import over_limit
from .file_status import FileStatus
from .policy import home_path, wanted_homes

# Action kinds, in the order a run applies them per user. FINISH hands over a home whose create
# was interrupted after MKDIRS (owned by the superuser, with the create mode): not drift.
CREATE, FINISH, FIX_OWNER, FIX_MODE, QUOTA, LOCK = "create", "finish", "fix_owner", "fix_mode", "set_quota", "lock"
# RENAME moves a renamed user's home (found by the objectGUID dirkit recorded for it) to the new name.
RENAME = "rename"
Quota = tuple[int, int]  # (namespace, space) as GETQUOTAUSAGE reports them; -1 = none
HomeStatus = tuple[str, str, str]  # (owner, group, mode) of a home directory


@dataclass(frozen=True, slots=True)
class HomeAction:
    """One thing to do to one home (create, chown, chmod, quota, lock, rename), or a drift to report."""

    kind: str  # create | rename | finish | fix_owner | fix_mode | set_quota | lock
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

    kind: str  # drift | departed | refused | reused
    path: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """This report as docs/json.md's `hdfs provision --json` documents it."""
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


@dataclass
class HomesPlan:
    """Every home the policy wants, what is there, and the actions that make them agree."""

    prefix: str
    actions: list[HomeAction] = field(default_factory=list)
    reports: list[HomeReport] = field(default_factory=list)
    wanted: int = 0
    existing: int = 0
    held: str = ""  # why the locks in this plan exceed the safety limits ("" if they do not)
    wanted_names: list[str] = field(default_factory=list)  # the homes' names (kept in the state)
    wanted_guids: dict[str, str] = field(default_factory=dict)  # home name -> its user's objectGUID
    departed_names: list[str] = field(default_factory=list)  # homes present whose user is gone or disabled
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


def quota_checks(cfg: HdfsConfig, d: Directory, listing: list[FileStatus]) -> list[str]:
    """Paths of existing homes with a quota rule: their quota is read back and re-checked."""
    present = {e.name for e in listing}
    return [h.path for h in wanted_homes(cfg, d)[0] if h.quota and h.user in present]


def plan_homes(
    cfg: HdfsConfig,
    d: Directory,
    listing: list[FileStatus],
    *,
    quotas: dict[str, Quota] | None = None,
    fix_drift: bool = False,
    lock_departed: bool = False,
    known: set[str] | None = None,
    safety: SafetyConfig | None = None,
    departed: Mapping[str, float] | None = None,
    now: float | None = None,
    known_guids: Mapping[str, str] | None = None,
) -> HomesPlan:
    """The snapshot, one listing of the prefix and the quotas of ``quota_checks`` -> actions
    and reports. ``lock_departed`` locks only homes named in ``known`` (those dirkit has
    provisioned before), not in ``hdfs.lock_exclude``, and whose user left (``departed``:
    name -> when dirkit first saw them gone) more than ``hdfs.departed_grace_days`` ago; more
    locks than ``safety`` allows (its removal limits, against the homes present) hold the plan.
    ``known_guids`` (home name -> the objectGUID it was provisioned for) lets a renamed user's
    home follow them (renamed, not left behind), and a name taken by another account be reported."""
    quotas = quotas or {}
    known = known or set()
    departed = departed or {}
    now = time.time() if now is None else now
    grace = cfg.departed_grace_days * 86400
    prefix = cfg.prefix
    plan = HomesPlan(prefix=prefix)
    existing = {e.name: e for e in listing}
    plan.existing = len(existing)
    plan.seen = {e.name: (e.owner, e.group, e.permission) for e in listing if e.type == "DIRECTORY"}
    homes, refused = wanted_homes(cfg, d)
    for name in refused:
        plan.reports.append(HomeReport("refused", posixpath.join(prefix, name), f"unsafe home path for {name!r}"))
    plan.wanted = len(homes)
    plan.wanted_names = [h.user for h in homes]
    plan.wanted_guids = {h.user: h.guid for h in homes if h.guid}
    known_guids = known_guids or {}
    home_of = {g: n for n, g in known_guids.items()}  # objectGUID -> the name its home has
    wanted = {h.user for h in homes}
    renamed: set[str] = set()
    for h in homes:
        have = existing.get(h.user)
        old = home_of.get(h.guid, h.user) if h.guid else h.user
        old_path = home_path(prefix, old) if old != h.user else None
        old_home = existing.get(old) if old_path else None
        if have is None and old_home is not None and old_path and old not in wanted and old not in cfg.lock_exclude:
            if old_home.type == "DIRECTORY":
                detail = f"{old} was renamed to {h.user} in AD (same objectGUID): {old_path} moves to {h.path}"
                plan.actions.append(
                    HomeAction(RENAME, h.user, h.path, detail, owner=h.owner, group=h.group, source=old_path)
                )
                renamed.add(old)
                continue
        if have is not None and known_guids.get(h.user, h.guid) != h.guid:
            other = known_guids[h.user]
            detail = (
                f"provisioned for another AD account of this name (objectGUID {other}), now {h.user} is {h.guid}: "
                "not handed over; move it away and the next run makes a new home"
            )
            plan.reports.append(HomeReport("reused", h.path, detail))
            plan.wanted_guids.pop(h.user, None)  # still the other account's home in the state
            continue
        if have is not None and old_path and have.owner == old != h.owner:
            # A rename interrupted after RENAME, before SETOWNER: finish it (not drift).
            detail = f"unfinished rename from {old}: hand over to {h.owner}:{h.group}"
            plan.actions.append(HomeAction(FINISH, h.user, h.path, detail, owner=h.owner, group=h.group))
            continue
        if have is None:
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
        if have.type != "DIRECTORY":
            plan.reports.append(HomeReport("drift", h.path, f"is a {(have.type or '?').lower()}, not a directory"))
            continue
        unfinished = have.owner == cfg.superuser != h.owner and have.permission == h.mode
        if unfinished:
            detail = f"unfinished create (owner {cfg.superuser}, mode {h.mode}): hand over to {h.owner}:{h.group}"
            plan.actions.append(HomeAction(FINISH, h.user, h.path, detail, owner=h.owner, group=h.group))
        elif (have.owner, have.group) != (h.owner, h.group):
            detail = f"owner {have.owner}:{have.group}, want {h.owner}:{h.group}"
            if fix_drift:
                plan.actions.append(HomeAction(FIX_OWNER, h.user, h.path, detail, owner=h.owner, group=h.group))
            else:
                plan.reports.append(HomeReport("drift", h.path, detail + " (--fix-drift fixes it)"))
        if have.permission != h.mode:
            detail = f"mode {have.permission}, want {h.mode}"
            if fix_drift:
                plan.actions.append(HomeAction(FIX_MODE, h.user, h.path, detail, mode=h.mode))
            else:
                plan.reports.append(HomeReport("drift", h.path, detail + " (--fix-drift fixes it)"))
        q = h.quota
        if q is not None and h.path in quotas:
            ns, space = quotas[h.path]
            if (q.namespace not in (None, ns)) or (q.space_bytes not in (None, space)):
                detail = f"quota namespace {ns} space {space}, want {q.namespace} {q.space_bytes}"
                plan.actions.append(
                    HomeAction(QUOTA, h.user, h.path, detail, namespace=q.namespace, space=q.space_bytes)
                )
    enabled = {h.user for h in homes} | set(refused)
    named = {u.name for u in d.named_users()}
    for name, entry in sorted(existing.items()):
        if name in enabled or name in renamed:
            continue
        path = home_path(prefix, name)
        if path is None:  # the NameNode listed a name no home could have: never acted on
            plan.reports.append(HomeReport("refused", posixpath.join(prefix, name), "not a direct child of the prefix"))
            continue
        if name not in named:
            why = "no AD user by this name (left AD, out of scope, or not an AD home)"
        else:
            why = "the AD user is disabled"
        plan.departed_names.append(name)
        since = departed.get(name)
        why += f"; departed since {_day(since)}" if since is not None else "; departed (first seen now)"
        if not lock_departed or entry.type != "DIRECTORY" or entry.permission == "0":
            plan.reports.append(HomeReport("departed", path, why + "; home kept"))
        elif name in cfg.lock_exclude:
            plan.reports.append(HomeReport("departed", path, why + "; not locked: in hdfs.lock_exclude"))
        elif name not in known:
            plan.reports.append(HomeReport("departed", path, why + "; not locked: dirkit never provisioned it"))
        elif grace > 0 and (since is None or now - since < grace):
            until = _day((now if since is None else since) + grace)
            plan.reports.append(
                HomeReport("departed", path, why + f"; not locked before {until} (hdfs.departed_grace_days)")
            )
        else:
            plan.actions.append(HomeAction(LOCK, name, path, why, mode="0"))
    locks = sum(1 for a in plan.actions if a.kind == LOCK)
    if safety is not None and locks:
        plan.held = over_limit(
            locks, plan.existing, safety.max_removals, safety.max_removal_percent, "homes to lock", "homes present"
        )
    return plan
