"""The sync API: read AD, plan against the last applied state, apply. The CLI is a thin layer
over these functions; a library user can do everything the CLI does."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import hdfs, kerberos, render
from .config import Config
from .directory.model import Directory
from .directory.reader import read_directory
from .errors import DirkitError, PartialFailure, ThresholdError
from .log import event
from .plan import Plan, make_plan, plan_digest
from .state import StateStore

log = logging.getLogger("dirkit.sync")
Progress = Callable[[str], None]
__all__ = ["SyncResult", "plan", "read", "sync"]


@dataclass(frozen=True)
class SyncResult:
    directory: Directory
    plan: Plan
    applied: bool
    run_id: int | None
    seconds: float
    files: tuple[render.FileChange, ...] = ()  # documents in output.directory, when configured
    homes: hdfs.HomesResult | None = None  # HDFS homes, when [hdfs] is configured


def read(config: Config, progress: Progress | None = None, usn_quantiles: Sequence[int] = ()) -> Directory:
    """Read AD into a Directory (``usn_quantiles`` from the last snapshot balance the work)."""
    kerberos.use_krb5_conf(config.kerberos.krb5_conf)
    t0 = time.monotonic()
    d = read_directory(config, progress, usn_quantiles)
    event(log, "read", users=d.stats["users"], groups=d.stats["groups"], memberships=d.stats["memberships"],
          issues=d.stats["issues"], ldap_searches=d.stats["ldap_searches"], dc=d.stats["dc"],
          seconds=round(time.monotonic() - t0, 3))  # fmt: skip
    if d.issues:
        # One summary line (cron logs stay readable); each issue with -v or in `dirkit snapshot`.
        kinds: dict[str, int] = {}
        for issue in d.issues:
            kinds[issue.kind] = kinds.get(issue.kind, 0) + 1
            event(log, "directory_issue", logging.DEBUG, kind=issue.kind, dn=issue.dn, detail=issue.detail)
        event(log, "directory_issues", logging.WARNING, total=len(d.issues), **kinds)
    return d


def _read_and_plan(config: Config, store: StateStore, progress: Progress | None) -> tuple[Directory, Plan, str, bool]:
    """Read AD and plan against the last snapshot. Returns (directory, plan, digest, changed):
    when the digest equals the last snapshot's, the plan is empty and the (large) previous
    snapshot is not even loaded, which is the common case under cron."""
    quantiles, last_digest = store.last_meta()
    current = read(config, progress, quantiles)
    digest = plan_digest(current)
    if digest == last_digest:
        named = sum(1 for u in current.users.values() if u.name) + sum(1 for g in current.groups.values() if g.name)
        return current, Plan((), 0, named, False, "", False), digest, False
    return current, make_plan(store.last_snapshot(), current, config.safety), digest, True


def _homes(config: Config, current: Directory, counts: dict[str, int], store: StateStore, run_id: int,
           progress: Progress | None) -> hdfs.HomesResult | None:  # fmt: skip
    """HDFS homes, after the directory state is applied. A failure here leaves that state
    applied (it is correct) and ends the run as partial; a re-run converges."""
    if config.hdfs is None:
        return None
    try:
        homes = hdfs.provision(config, current, progress=progress)
    except DirkitError as exc:
        msg = f"directory state applied, HDFS homes not (or not all): {exc}"
        store.end_run(run_id, "partial", counts, msg)
        raise PartialFailure(msg) from None
    counts["homes_done"] = len(homes.done)
    event(log, "homes", wanted=homes.plan.wanted, actions=len(homes.plan.actions), done=len(homes.done),
          failed=len(homes.failed), reported=len(homes.plan.reports), requests=homes.requests)  # fmt: skip
    if homes.failed:
        msg = f"{len(homes.failed)} HDFS home action(s) failed: " + "; ".join(e for _, e in homes.failed[:3])
        store.end_run(run_id, "partial", counts, msg)
        raise PartialFailure(msg)
    return homes


def plan(config: Config, progress: Progress | None = None) -> tuple[Directory, Plan]:
    """Read AD and plan against the last applied state. Changes nothing."""
    store = StateStore(config.state.path)
    try:
        current, p, _, _ = _read_and_plan(config, store, progress)
    finally:
        store.close()
    return current, p


def sync(config: Config, *, dry_run: bool = False, allow_removals: bool = False,
         progress: Progress | None = None) -> SyncResult:  # fmt: skip
    """Read, plan and (unless ``dry_run``) apply. Raises LockedError if another run is going,
    ThresholdError (nothing applied) if removals exceed the safety limits."""
    t0 = time.monotonic()
    out_dir = config.output.directory
    if out_dir is not None:
        render.render_all(config, None)  # a config error in a document section stops us before any read
    store = StateStore(config.state.path)
    try:
        with store.lock():
            run_id = store.start_run("sync --dry-run" if dry_run else "sync")
            try:
                current, p, digest, changed = _read_and_plan(config, store, progress)
                counts = {k: v for k, v in p.counts().items() if v}
                event(log, "plan", changes=len(p.changes), removals=p.removals, first_run=p.first_run, **counts)
                if p.threshold_exceeded and not allow_removals:
                    msg = (f"safety threshold: {p.threshold_reason}. Nothing was applied. Review with "
                           "`dirkit plan`, then re-run with --allow-removals if this is intended.")  # fmt: skip
                    store.end_run(run_id, "threshold", counts, msg)
                    raise ThresholdError(msg)
                docs = render.render_all(config, current) if out_dir is not None else {}
                files = tuple(render.compare(out_dir, docs)) if out_dir is not None else ()
                touched = [f.name for f in files if f.status != "unchanged"]
                if touched:
                    counts["files_changed"] = len(touched)
                if dry_run:
                    homes = hdfs.provision(config, current, dry_run=True) if config.hdfs else None
                    store.end_run(run_id, "dry-run", counts)
                    return SyncResult(current, p, False, run_id, time.monotonic() - t0, files, homes)
                if out_dir is not None and touched:
                    render.write(out_dir, docs, list(files))
                    event(log, "files_written", directory=out_dir, files=",".join(touched))
                if changed:
                    store.save_snapshot(run_id, current, config.state.keep_snapshots, digest)
                homes = _homes(config, current, counts, store, run_id, progress)
                store.end_run(run_id, "applied" if (not p.empty or touched or counts.get("homes_done")) else "no-changes",
                              counts)  # fmt: skip
                event(log, "applied", changes=len(p.changes), run_id=run_id,
                      seconds=round(time.monotonic() - t0, 3))  # fmt: skip
                return SyncResult(current, p, True, run_id, time.monotonic() - t0, files, homes)
            except (ThresholdError, PartialFailure):
                raise
            except BaseException as exc:
                msg = str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}"
                store.end_run(run_id, "failed", message=msg)
                raise
    finally:
        store.close()
