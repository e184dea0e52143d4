"""HDFS homes for every enabled, in-scope AD user, over WebHDFS with SPNEGO.

One LISTSTATUS of the prefix tells what exists; only differences become actions, so a run
with nothing to do makes the same small number of requests whatever the user count. Homes are
never deleted. Each user's actions run on a bounded pool of authenticated sessions; one
user's failure is reported and does not stop the others.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import _deadline as deadline
from .. import _faults as faults
from .._config import HdfsConfig, SafetyConfig
from .._directory.model import Directory
from .._log import event
from .._reserved import Reserved
from ..errors import DirkitError, HdfsError, HdfsUnavailable, PartialFailure, ThresholdError

if TYPE_CHECKING:
    from .webhdfs import WebHdfs
from .file_status import FileStatus
from .plan import (
    CREATE,
    FINISH,
    FIX_MODE,
    FIX_OWNER,
    LOCK,
    QUOTA,
    RENAME,
    HomeAction,
    HomesPlan,
    HomeStatus,
    Owned,
    Quota,
    plan_homes,
    quota_checks,
    scope_names,
)
from .policy import home_path

log = logging.getLogger("dirkit.homes")


class HomesTarget(Protocol):
    """What provisioning needs from a file system: WebHdfs, or an in-memory one in unit tests."""

    requests: int

    def status(self, path: str) -> FileStatus | None:
        """The path's status, or None if it does not exist."""

    def list(self, path: str) -> list[FileStatus] | None:
        """The directory's entries, or None if it does not exist."""

    def mkdirs(self, path: str, permission: str) -> bool:
        """Create the directory (and its parents) with this permission; True if created."""

    def set_owner(self, path: str, owner: str, group: str) -> None:
        """Set the path's owner and group."""

    def rename(self, path: str, destination: str) -> None:
        """Move ``path`` to ``destination``."""

    def set_permission(self, path: str, permission: str) -> None:
        """Set the path's permission (octal, e.g. 750)."""

    def set_quota(self, path: str, namespace: int | None, space: int | None) -> None:
        """Set the namespace and space quotas (None: leave that one unset)."""

    def quota(self, path: str) -> Quota:
        """The path's quotas now."""

    def close(self) -> None:
        """Release the connection."""


@dataclass
class HomesResult:
    """What provisioning did: the plan, the actions done, those that failed (with why), and its cost."""

    plan: HomesPlan
    done: list[HomeAction] = field(default_factory=list)
    failed: list[tuple[HomeAction, str]] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    # "full": every home planned against a listing of the prefix; "scoped": only a delta's users
    # (see Scope); what the prefix's modificationTime was once the pass ended (0: not known).
    scope: Literal["full", "scoped"] = "full"
    prefix_mtime: int = 0

    def raise_for_failures(self) -> None:
        """PartialFailure when some actions failed (the others are done; a re-run converges):
        the one place that decides it, for `dirkit sync` and `dirkit hdfs provision` alike."""
        if self.failed:
            raise PartialFailure(
                f"{len(self.failed)} HDFS home action(s) failed: " + "; ".join(e for _, e in self.failed[:3])
            )

    def owned_homes(self) -> dict[str, str]:
        """Home name -> objectGUID of every home that is dirkit's after this run: those it owned
        and kept, and those whose create, rename or finish was done (others stay pending)."""
        out = dict(self.plan.owned)
        for a in self.done:
            if a.kind in (CREATE, RENAME, FINISH) and a.user in self.plan.pending:
                out[a.user] = self.plan.pending[a.user]
        return out

    def statuses(self) -> dict[str, HomeStatus]:
        """Home name -> (owner, group, mode) as this run left it: the listing it read, with the
        actions it applied on top (what `dirkit report` shows as the home's last known state)."""
        out = dict(self.plan.seen)
        for a in self.done:
            owner, group, mode = out.get(a.user, ("", "", ""))
            if a.kind == RENAME:
                owner, group, mode = out.pop(posixpath.basename(a.source), (owner, group, mode))
            out[a.user] = (a.owner or owner, a.group or group, a.mode or mode)
        return out

    def to_json(self) -> dict[str, Any]:
        """This result as docs/json.md's `hdfs provision --json` documents it."""
        return {
            **self.plan.to_json(),
            "done": len(self.done),
            "scope": self.scope,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "failed": [{**a.to_json(), "error": e} for a, e in self.failed],
        }


def apply_one(fs: HomesTarget, a: HomeAction) -> None:
    if a.kind == CREATE:
        # MKDIRS ignores umask and takes the mode; a new home is then handed to its user.
        fs.mkdirs(a.path, a.mode)
        faults.point("after-mkdirs")
        fs.set_owner(a.path, a.owner, a.group)
        faults.point("after-setowner")
    elif a.kind == RENAME:
        # The renamed user's home, moved to the new name and handed to it (a crash between the
        # two leaves a home owned by the old name: drift the next run reports, and --fix-drift fixes).
        fs.rename(a.source, a.path)
        fs.set_owner(a.path, a.owner, a.group)
    elif a.kind in (FIX_OWNER, FINISH):
        fs.set_owner(a.path, a.owner, a.group)
    elif a.kind in (FIX_MODE, LOCK):
        fs.set_permission(a.path, a.mode)
    elif a.kind == QUOTA:
        fs.set_quota(a.path, a.namespace, a.space)


def connect(cfg: HdfsConfig) -> WebHdfs:
    """A WebHDFS client authenticated as the HDFS superuser from its keytab."""
    if cfg.insecure:
        event(
            log,
            "insecure_webhdfs",
            logging.WARNING,
            url=cfg.url,
            why="hdfs.allow_insecure_http: the NameNode's auth cookie (the HDFS superuser's identity) travels in clear",
        )
    from .webhdfs import WebHdfs  # requests and gssapi: only when a NameNode is used

    return WebHdfs.from_keytab(
        cfg.url, cfg.principal, cfg.keytab, timeout=cfg.timeout_seconds, pool_size=cfg.concurrency, ca_file=cfg.ca_file
    )


@dataclass(frozen=True)
class Scope:
    """A pass over a delta's users only (objectGUIDs), allowed when the last pass planned every
    home against the snapshot this delta was applied to, and the prefix's modificationTime is
    still what that pass left (``prefix_mtime``; no entry was made, removed or renamed there
    since). Their paths are read one by one when they are few, else the prefix is listed. An
    owner or mode changed by hand under an unchanged prefix shows at the next full pass
    (hdfs.full_check_hours), and so does an entry someone else makes there while a pass applies."""

    users: frozenset[str]
    prefix_mtime: int
    wanted: int = 0  # the last pass's count: what a pass over no user reports


STAT_AT_MOST = 200  # paths read one by one; past that, one listing is cheaper


def provision(
    cfg: HdfsConfig,
    d: Directory | Callable[[], Directory],
    *,
    dry_run: bool = False,
    fix_drift: bool = False,
    lock_departed: bool = False,
    owned: Mapping[str, Owned] | None = None,
    safety: SafetyConfig | None = None,
    allow_removals: bool = False,
    progress: Callable[[str], None] | None = None,
    fs: HomesTarget | None = None,
    departed: Mapping[str, float] | None = None,
    protected: Reserved | None = None,
    record_pending: Callable[[Mapping[str, str]], None] | None = None,
    scope: Scope | None = None,
) -> HomesResult:
    """Read what exists (one listing), plan, and unless ``dry_run`` apply with per-user
    isolation. ``fs`` defaults to WebHDFS at ``cfg.url`` as ``cfg.principal``. Locks beyond
    the ``safety`` limits raise ThresholdError before anything is applied, unless
    ``allow_removals``; see ``plan_homes`` for ``owned`` and ``protected``. Homes about to be
    created or renamed to go to ``record_pending`` (the state) before the first request, so
    that only what dirkit recorded making is ever dirkit's. ``scope``: see Scope (the prefix
    moved since: every home is planned). ``d`` may be a loader: a scoped pass over no user
    (nothing changed) under an unchanged prefix does not load the snapshot."""
    t0 = time.monotonic()
    target = fs if fs is not None else connect(cfg)
    start = target.requests  # a target given may have served other passes
    try:
        top = target.status(cfg.prefix)
        if top is None:
            raise HdfsError(
                f"hdfs.prefix {cfg.prefix} does not exist on the NameNode; create it (owned by the HDFS "
                "superuser, mode 755) first"
            )
        users = scope.users if scope is not None and top.mtime and top.mtime == scope.prefix_mtime else None
        if users is not None and not users and scope is not None:
            plan = HomesPlan(prefix=cfg.prefix, wanted=scope.wanted)
            return HomesResult(plan, requests=target.requests - start, scope="scoped", prefix_mtime=top.mtime)
        d = d() if callable(d) else d
        names = sorted(scope_names(d, users, owned or {})) if users is not None else []
        if users is not None and len(names) <= STAT_AT_MOST:
            listing = []
            for name in names:
                path = home_path(cfg.prefix, name)
                st = target.status(path) if path is not None else None
                if st is not None:
                    listing.append(replace(st, name=name, mtime=0))
        else:
            listing = target.list(cfg.prefix) or []
        faults.point("homes-listed")
        quotas = {path: target.quota(path) for path in quota_checks(cfg, d, listing, users)}
        plan = plan_homes(
            cfg,
            d,
            listing,
            quotas=quotas,
            fix_drift=fix_drift,
            lock_departed=lock_departed,
            owned=owned,
            safety=safety,
            departed=departed,
            protected=protected,
            users=users,
        )
        result = HomesResult(plan, scope="full" if users is None else "scoped", prefix_mtime=top.mtime)
        if plan.held and not allow_removals and not dry_run:
            raise ThresholdError(
                f"safety threshold: {plan.held}. Nothing was applied. Review with --dry-run, then "
                "re-run with --allow-removals if this is intended."
            )
        if not dry_run and plan.actions:
            if plan.pending and record_pending is not None:
                record_pending(plan.pending)
            _apply(target, cfg, plan, result, progress)
            after = target.status(cfg.prefix)  # its own creates and renames moved it
            result.prefix_mtime = after.mtime if after is not None else 0
        result.requests, result.seconds = target.requests - start, time.monotonic() - t0
        return result
    finally:
        if fs is None:
            target.close()


_BATCH = 20  # users per call to a worker
# What one user's actions came to: the ones done, and the one that failed (with why), if any.
Outcome = tuple[list[HomeAction], tuple[HomeAction, str] | None]


def _apply(
    fs: HomesTarget, cfg: HdfsConfig, plan: HomesPlan, result: HomesResult, progress: Callable[[str], None] | None
) -> None:
    by_user: dict[str, list[HomeAction]] = {}
    for a in plan.actions:
        by_user.setdefault(a.user, []).append(a)

    def run(actions: list[HomeAction]) -> Outcome:
        done: list[HomeAction] = []
        for a in actions:
            try:
                apply_one(fs, a)
            except HdfsUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the others
                return done, (a, str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}")
            done.append(a)
        return done, None

    def run_users(users: list[list[HomeAction]]) -> tuple[list[Outcome], HdfsUnavailable | None]:
        outcomes: list[Outcome] = []
        for actions in users:
            try:
                outcomes.append(run(actions))
            except HdfsUnavailable as exc:  # what this batch applied before is still counted
                return outcomes, exc
        return outcomes, None

    # Users go to the workers in batches: a call (and its Future, a lock and a condition) per
    # user cost ~1 KiB each, 100 MiB of a 100k-user first sync.
    users = list(by_user.values())
    calls = [partial(run_users, users[i : i + _BATCH]) for i in range(0, len(users), _BATCH)]
    unavailable: HdfsUnavailable | None = None
    finished = 0
    with deadline.parallel(calls, cfg.concurrency, "dirkit-hdfs") as futures:
        for f in futures:
            outcomes, lost = f.result()
            unavailable = lost or unavailable
            for done, failure in outcomes:
                result.done += done
                if failure:
                    result.failed.append(failure)
            if progress and finished // 500 != (finished + len(outcomes)) // 500:
                progress(f"homes: {finished + len(outcomes)}/{len(users)} users")
            finished += len(outcomes)
    if unavailable is not None:
        raise HdfsUnavailable(
            f"{unavailable} — {len(result.done)} action(s) were applied before that; "
            "a re-run converges (it only does what is still missing)"
        ) from unavailable
