"""HDFS home directories for every enabled, in-scope AD user, over WebHDFS with SPNEGO.

One LISTSTATUS of the prefix tells what exists; only differences become actions, so a run
with nothing to do makes the same small number of requests whatever the user count. Homes are
never deleted. Each user's actions run on a bounded pool of authenticated sessions; one
user's failure is reported and does not stop the others.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import kerberos
from .config import Config, HdfsConfig, QuotaRule, missing_section
from .directory.model import Directory, User
from .errors import DirkitError
from .hdfs_client import HdfsError, HdfsUnavailable, WebHdfs, check_path

# Action kinds, in the order a run applies them per user.
CREATE, FIX_OWNER, FIX_MODE, QUOTA, LOCK = "create", "fix_owner", "fix_mode", "set_quota", "lock"


@dataclass(frozen=True)
class HomeAction:
    kind: str  # create | fix_owner | fix_mode | set_quota | lock
    user: str
    path: str
    detail: str = ""  # for people; the fields below are what is applied
    owner: str = ""
    group: str = ""
    namespace: int | None = None
    space: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "user": self.user, "path": self.path, "detail": self.detail}


@dataclass(frozen=True)
class HomeReport:
    """Something about a home that is reported, not (or not yet) acted on."""

    kind: str  # drift | departed | refused
    path: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


@dataclass
class HomesPlan:
    prefix: str
    actions: list[HomeAction] = field(default_factory=list)
    reports: list[HomeReport] = field(default_factory=list)
    wanted: int = 0
    existing: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "wanted": self.wanted, "existing": self.existing,
                "actions": [a.to_json() for a in self.actions], "reports": [r.to_json() for r in self.reports]}  # fmt: skip


@dataclass
class HomesResult:
    plan: HomesPlan
    done: list[HomeAction] = field(default_factory=list)
    failed: list[tuple[HomeAction, str]] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "done": len(self.done), "requests": self.requests,
                "seconds": round(self.seconds, 3),
                "failed": [{**a.to_json(), "error": e} for a, e in self.failed]}  # fmt: skip


def _mode(m: str) -> str:
    return format(int(m, 8), "o")  # "0750" -> "750", the form WebHDFS reports


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


def _group_for(cfg: HdfsConfig, d: Directory, u: User) -> str:
    if cfg.group == "fixed":
        return cfg.group_name or ""
    if cfg.group == "primary":
        pg = d.group_by_sid(u.primary_group_sid or "")
        return pg.name if pg and pg.name else (u.name or "")
    return u.name or ""


def _quota_for(rules: list[QuotaRule], groups: list[str]) -> QuotaRule | None:
    return next((r for r in rules if r.group in groups), None)


def plan_homes(cfg: HdfsConfig, d: Directory, listing: list[dict[str, Any]], *, fix_drift: bool = False,
               lock_departed: bool = False) -> HomesPlan:  # fmt: skip
    """Pure: the snapshot and one listing of the prefix -> actions and reports."""
    prefix = cfg.prefix
    plan = HomesPlan(prefix=prefix)
    existing = {e["pathSuffix"]: e for e in listing}
    plan.existing = len(existing)
    mode = _mode(cfg.mode)
    known: dict[str, User] = {}
    for u in d.named_users():
        assert u.name is not None
        known[u.name] = u
        if not u.enabled:
            continue
        path = home_path(prefix, u.name)
        if path is None:  # the names policy should make this impossible: refuse loudly anyway
            plan.reports.append(HomeReport("refused", posixpath.join(prefix, u.name), f"unsafe home path for {u.name!r}"))
            continue
        plan.wanted += 1
        group = _group_for(cfg, d, u)
        quota = _quota_for(cfg.quotas, d.group_names_of(u))
        have = existing.get(u.name)
        if have is None:
            plan.actions.append(HomeAction(CREATE, u.name, path, f"owner {u.name}:{group} mode {mode}",
                                           owner=u.name, group=group))  # fmt: skip
            if quota:
                plan.actions.append(HomeAction(QUOTA, u.name, path, f"namespace {quota.namespace} space "
                                               f"{quota.space_bytes}", namespace=quota.namespace,
                                               space=quota.space_bytes))  # fmt: skip
            continue
        if have.get("type") != "DIRECTORY":
            plan.reports.append(HomeReport("drift", path, f"is a {have.get('type', '?').lower()}, not a directory"))
            continue
        if (have.get("owner"), have.get("group")) != (u.name, group):
            detail = f"owner {have.get('owner')}:{have.get('group')}, want {u.name}:{group}"
            if fix_drift:
                plan.actions.append(HomeAction(FIX_OWNER, u.name, path, detail, owner=u.name, group=group))
            else:
                plan.reports.append(HomeReport("drift", path, detail + " (--fix-drift fixes it)"))
        if have.get("permission") != mode:
            detail = f"mode {have.get('permission')}, want {mode}"
            if fix_drift:
                plan.actions.append(HomeAction(FIX_MODE, u.name, path, detail))
            else:
                plan.reports.append(HomeReport("drift", path, detail + " (--fix-drift fixes it)"))
    for name, entry in sorted(existing.items()):
        owner = known.get(name)
        path = posixpath.join(prefix, name)
        if owner is not None and owner.enabled:
            continue
        if owner is None:
            why = "no AD user by this name (left AD, out of scope, or not an AD home)"
        else:
            why = "the AD user is disabled"
        if lock_departed and entry.get("type") == "DIRECTORY" and entry.get("permission") != "0":
            plan.actions.append(HomeAction(LOCK, name, path, why))
        else:
            plan.reports.append(HomeReport("departed", path, why + "; home kept"))
    return plan


def _apply_one(fs: WebHdfs, cfg: HdfsConfig, a: HomeAction) -> None:
    mode = _mode(cfg.mode)
    if a.kind == CREATE:
        # MKDIRS ignores umask and takes the mode; a new home is then handed to its user.
        fs.mkdirs(a.path, mode)
        fs.set_owner(a.path, a.owner, a.group)
    elif a.kind == FIX_OWNER:
        fs.set_owner(a.path, a.owner, a.group)
    elif a.kind == FIX_MODE:
        fs.set_permission(a.path, mode)
    elif a.kind == QUOTA:
        fs.set_quota(a.path, a.namespace, a.space)
    elif a.kind == LOCK:
        fs.set_permission(a.path, "0")


def client(cfg: Config, pool_size: int | None = None) -> WebHdfs:
    h = require(cfg)
    kerberos.use_krb5_conf(cfg.kerberos.krb5_conf)
    return WebHdfs.from_keytab(h.url, h.principal, h.keytab, timeout=h.timeout_seconds,
                               pool_size=pool_size or h.concurrency)  # fmt: skip


def require(cfg: Config) -> HdfsConfig:
    if cfg.hdfs is None:
        raise missing_section(cfg, "hdfs")
    return cfg.hdfs


def provision(cfg: Config, d: Directory, *, dry_run: bool = False, fix_drift: bool = False,
              lock_departed: bool = False, progress: Callable[[str], None] | None = None) -> HomesResult:  # fmt: skip
    """Read what exists (one listing), plan, and unless ``dry_run`` apply with per-user isolation."""
    h = require(cfg)
    t0 = time.monotonic()
    with client(cfg) as fs:
        if fs.status(h.prefix) is None:
            raise HdfsError(f"hdfs.prefix {h.prefix} does not exist on the NameNode; create it (owned by the HDFS "
                            "superuser, mode 755) first")  # fmt: skip
        listing = fs.list(h.prefix) or []
        plan = plan_homes(h, d, listing, fix_drift=fix_drift, lock_departed=lock_departed)
        result = HomesResult(plan)
        if dry_run or not plan.actions:
            result.requests, result.seconds = fs.requests, time.monotonic() - t0
            return result
        by_user: dict[str, list[HomeAction]] = {}
        for a in plan.actions:
            by_user.setdefault(a.user, []).append(a)

        def run(actions: list[HomeAction]) -> tuple[list[HomeAction], tuple[HomeAction, str] | None]:
            done: list[HomeAction] = []
            for a in actions:
                try:
                    _apply_one(fs, h, a)
                except HdfsUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the others
                    return done, (a, str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}")
                done.append(a)
            return done, None

        with ThreadPoolExecutor(max_workers=h.concurrency, thread_name_prefix="dirkit-hdfs") as pool:
            futures = [pool.submit(run, acts) for acts in by_user.values()]
            unavailable: HdfsUnavailable | None = None
            for n, f in enumerate(futures, 1):
                try:
                    done, failure = f.result()
                except HdfsUnavailable as exc:
                    unavailable = exc
                    continue
                result.done += done
                if failure:
                    result.failed.append(failure)
                if progress and n % 500 == 0:
                    progress(f"homes: {n}/{len(futures)} users")
        result.requests, result.seconds = fs.requests, time.monotonic() - t0
        if unavailable is not None:
            raise HdfsUnavailable(f"{unavailable} — {len(result.done)} action(s) were applied before that; "
                                  "a re-run converges (it only does what is still missing)")  # fmt: skip
        return result
