"""Read -> plan -> apply: the sync engine behind ``Dirkit.plan`` and ``Dirkit.sync``.

The directory comes from a ``DirectorySource`` (AD over LDAP by default) and HDFS homes go to
a ``HomesTarget`` (WebHDFS by default), so the safety threshold, the lock, every outcome and
its exit code are unit-tested without services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import kerberos
from .config import Config
from .directory.model import Directory
from .directory.reader import LdapSource
from .directory.source import DirectorySource
from .errors import DirkitError, PartialFailure, ThresholdError
from .homes.provision import HomesResult, HomesTarget, provision
from .log import event
from .outputs import files
from .plan import Plan, make_plan, plan_digest
from .state import StateStore

log = logging.getLogger("dirkit.sync")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncResult:
    directory: Directory
    plan: Plan
    applied: bool
    run_id: int | None
    seconds: float
    files: tuple[files.FileChange, ...] = ()  # documents in output.directory, when configured
    homes: HomesResult | None = None  # HDFS homes, when [hdfs] is configured


def read(
    config: Config,
    source: DirectorySource | None = None,
    progress: Progress | None = None,
    usn_quantiles: list[int] | None = None,
) -> Directory:
    """Read the directory (``usn_quantiles`` from the last snapshot balance the work) and log
    one summary line, plus one line per directory issue at debug level."""
    kerberos.use_krb5_conf(config.kerberos.krb5_conf)
    t0 = time.monotonic()
    d = (source or LdapSource(config)).read(usn_quantiles or (), progress)
    event(
        log,
        "read",
        users=d.stats.get("users"),
        groups=d.stats.get("groups"),
        memberships=d.stats.get("memberships"),
        issues=d.stats.get("issues"),
        ldap_searches=d.stats.get("ldap_searches"),
        dc=d.stats.get("dc"),
        seconds=round(time.monotonic() - t0, 3),
    )
    if d.issues:
        # One summary line (cron logs stay readable); each issue with -v or in `dirkit snapshot`.
        kinds: dict[str, int] = {}
        for issue in d.issues:
            kinds[issue.kind] = kinds.get(issue.kind, 0) + 1
            event(log, "directory_issue", logging.DEBUG, kind=issue.kind, dn=issue.dn, detail=issue.detail)
        event(log, "directory_issues", logging.WARNING, total=len(d.issues), **kinds)
    return d


def _read_and_plan(
    config: Config, store: StateStore, source: DirectorySource | None, progress: Progress | None
) -> tuple[Directory, Plan, str, bool]:
    """Read and plan against the last snapshot. Returns (directory, plan, digest, changed):
    when the digest equals the last snapshot's, the plan is empty and the (large) previous
    snapshot is not even loaded, which is the common case under cron."""
    quantiles, last_digest = store.last_meta()
    current = read(config, source, progress, quantiles)
    digest = plan_digest(current)
    if digest == last_digest:
        named = sum(1 for u in current.users.values() if u.name) + sum(1 for g in current.groups.values() if g.name)
        return current, Plan((), 0, named, False, "", False), digest, False
    return current, make_plan(store.last_snapshot(), current, config.safety), digest, True


def plan(
    config: Config, source: DirectorySource | None = None, progress: Progress | None = None
) -> tuple[Directory, Plan]:
    """Read and plan against the last applied state. Changes nothing."""
    with StateStore(config.state.path) as store:
        current, p, _, _ = _read_and_plan(config, store, source, progress)
    return current, p


def _homes(
    config: Config,
    current: Directory,
    counts: dict[str, int],
    store: StateStore,
    run_id: int,
    target: HomesTarget | None,
    progress: Progress | None,
) -> HomesResult | None:
    """HDFS homes, after the directory state is applied. A failure here leaves that state
    applied (it is correct) and ends the run as partial; a re-run converges."""
    if config.hdfs is None:
        return None
    try:
        homes = provision(config.hdfs, current, progress=progress, fs=target)
        store.remember_homes(homes.plan.wanted_names)
    except DirkitError as exc:
        msg = f"directory state applied, HDFS homes not (or not all): {exc}"
        store.end_run(run_id, "partial", counts, msg)
        raise PartialFailure(msg) from exc
    counts["homes_done"] = len(homes.done)
    event(
        log,
        "homes",
        wanted=homes.plan.wanted,
        actions=len(homes.plan.actions),
        done=len(homes.done),
        failed=len(homes.failed),
        reported=len(homes.plan.reports),
        requests=homes.requests,
    )
    if homes.failed:
        msg = f"{len(homes.failed)} HDFS home action(s) failed: " + "; ".join(e for _, e in homes.failed[:3])
        store.end_run(run_id, "partial", counts, msg)
        raise PartialFailure(msg)
    return homes


def sync(
    config: Config,
    *,
    dry_run: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
    source: DirectorySource | None = None,
    homes_target: HomesTarget | None = None,
) -> SyncResult:
    """Read, plan and (unless ``dry_run``) apply. Raises LockedError if another run is going,
    ThresholdError (nothing applied) if removals exceed the safety limits, PartialFailure if
    the directory state was applied but some HDFS homes were not."""
    t0 = time.monotonic()
    out_dir = config.output.directory
    if out_dir is not None:
        files.render_all(config, None)  # a config error in a document section stops us before any read
        for w in files.warnings(config):
            event(log, "document_warning", logging.WARNING, warning=w)
    with StateStore(config.state.path) as store, store.lock():
        run_id = store.start_run("sync --dry-run" if dry_run else "sync")
        try:
            current, p, digest, changed = _read_and_plan(config, store, source, progress)
            counts = {k: v for k, v in p.counts().items() if v}
            event(log, "plan", changes=len(p.changes), removals=p.removals, first_run=p.first_run, **counts)
            if p.threshold_exceeded and not allow_removals:
                msg = (
                    f"safety threshold: {p.threshold_reason}. Nothing was applied. Review with "
                    "`dirkit plan`, then re-run with --allow-removals if this is intended."
                )
                store.end_run(run_id, "threshold", counts, msg)
                raise ThresholdError(msg)
            docs = files.render_all(config, current) if out_dir is not None else {}
            changes = tuple(files.compare(out_dir, docs)) if out_dir is not None else ()
            touched = [f.name for f in changes if f.status != "unchanged"]
            if touched:
                counts["files_changed"] = len(touched)
            if dry_run:
                homes = provision(config.hdfs, current, dry_run=True, fs=homes_target) if config.hdfs else None
                store.end_run(run_id, "dry-run", counts)
                return SyncResult(current, p, False, run_id, time.monotonic() - t0, changes, homes)
            if out_dir is not None and touched:
                files.write(out_dir, docs, list(changes))
                event(log, "files_written", directory=out_dir, files=",".join(touched))
            if changed:
                store.save_snapshot(run_id, current, config.state.keep_snapshots, digest)
            homes = _homes(config, current, counts, store, run_id, homes_target, progress)
            outcome = "applied" if (not p.empty or touched or counts.get("homes_done")) else "no-changes"
            store.end_run(run_id, outcome, counts)
            event(log, "applied", changes=len(p.changes), run_id=run_id, seconds=round(time.monotonic() - t0, 3))
            return SyncResult(current, p, True, run_id, time.monotonic() - t0, changes, homes)
        except (ThresholdError, PartialFailure):
            raise
        except BaseException as exc:
            msg = str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}"
            store.end_run(run_id, "failed", message=msg)
            raise
