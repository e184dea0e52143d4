"""The one home-directory policy: for each enabled, named AD user, the path, owner, group,
mode and quota their HDFS home should have. Both the WebHDFS provisioning (plan.py) and the
`hdfs dfs` script (script.py) take their homes from here, so they can never disagree.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .._config import HdfsConfig, QuotaRule, hdfs_path_problem
from .._directory.model import Directory, User
from ..errors import HdfsError


@dataclass(frozen=True, slots=True)
class Home:
    user: str
    path: str
    owner: str
    group: str
    mode: str  # octal without a leading 0, the form WebHDFS reports ("750")
    quota: QuotaRule | None = None
    guid: str = ""  # the user's objectGUID: a renamed user's home is followed by it


def check_path(path: str) -> str:
    """Refuse anything but a clean absolute path: no `..`/`.` components, no empty components."""
    problem = hdfs_path_problem(path)
    if problem:
        raise HdfsError(f"refusing path {path!r}: {problem}")
    return path


def mode(cfg: HdfsConfig) -> str:
    return format(int(cfg.mode, 8), "o")  # "0750" -> "750"


def home_path(prefix: str, name: str) -> str | None:
    """prefix/name, or None if the result would not be a direct child of prefix."""
    path = posixpath.join(prefix, name)
    try:
        check_path(path)
    except HdfsError:
        return None
    if posixpath.dirname(path) != prefix or posixpath.basename(path) != name:
        return None
    return path


def group_for(cfg: HdfsConfig, d: Directory, u: User) -> str:
    if cfg.group == "fixed":
        return cfg.group_name or ""
    if cfg.group == "primary":
        pg = d.group_by_sid(u.primary_group_sid or "")
        return pg.name if pg and pg.name else (u.name or "")
    return u.name or ""


def quota_for(rules: list[QuotaRule], groups: list[str]) -> QuotaRule | None:
    """The first rule naming one of the user's effective groups."""
    return next((r for r in rules if r.group in groups), None)


def wanted_homes(cfg: HdfsConfig, d: Directory, users: Collection[str] | None = None) -> tuple[list[Home], list[str]]:
    """(homes every enabled named user should have, names refused as unsafe paths); ``users``:
    of those users only (objectGUIDs). The names policy should make a refusal impossible; it is
    checked here anyway, and reported."""
    if users is None:  # the whole snapshot's: once per snapshot and policy (plan and quotas ask)
        key = f"wanted_homes:{cfg.prefix}:{cfg.mode}:{cfg.group}:{cfg.group_name}:{cfg.quotas!r}"
        return d.derived(key, lambda: _wanted(cfg, d, d.named_users()))
    named = sorted((d.users[g] for g in users if g in d.users and d.users[g].name), key=lambda u: u.name or "")
    return _wanted(cfg, d, named)


def _wanted(cfg: HdfsConfig, d: Directory, named: Iterable[User]) -> tuple[list[Home], list[str]]:
    homes: list[Home] = []
    refused: list[str] = []
    m = mode(cfg)
    for u in named:
        name = u.name or ""
        if not u.enabled:
            continue
        path = home_path(cfg.prefix, name)
        if path is None:
            refused.append(name)
            continue
        quota = quota_for(cfg.quotas, d.group_names_of(u))
        homes.append(Home(name, path, name, group_for(cfg, d, u), m, quota, u.guid))
    return homes, refused
