"""Read -> plan -> apply: the sync engine behind ``Dirkit.plan`` and ``Dirkit.sync``.

The directory comes from a ``DirectorySource`` (AD over LDAP by default) and HDFS homes go to
a ``HomesTarget`` (WebHDFS by default), so the safety threshold, the lock, every outcome and
its exit code are unit-tested without services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import deadline, faults, kerberos, metrics
from .config import Config
from .directory.delta import Watermark, fingerprint
from .directory.model import Directory
from .directory.reader import LdapSource
from .directory.source import DeltaSource, DirectorySource
from .errors import DirkitError, PartialFailure, StateError, ThresholdError
from .homes.provision import HomesResult, HomesTarget, provision
from .log import event
from .notify import notify
from .outputs import files
from .plan import Plan, content_digest, make_plan, plan_digest
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
    _log_read(d, time.monotonic() - t0)
    return d


def _log_read(d: Directory, seconds: float) -> None:
    """One summary line (kind, counts, searches), plus one line per directory issue at debug."""
    event(
        log,
        "read",
        kind=d.stats.get("read_kind", "full"),
        users=d.stats.get("users"),
        groups=d.stats.get("groups"),
        memberships=d.stats.get("memberships"),
        issues=d.stats.get("issues"),
        ldap_searches=d.stats.get("ldap_searches"),
        dc=d.stats.get("dc"),
        **({"changed_objects": d.stats["changed_objects"]} if "changed_objects" in d.stats else {}),
        seconds=round(seconds, 3),
    )
    if d.issues:
        # One summary line (cron logs stay readable); each issue with -v or in `dirkit snapshot`.
        kinds: dict[str, int] = {}
        for issue in d.issues:
            kinds[issue.kind] = kinds.get(issue.kind, 0) + 1
            event(log, "directory_issue", logging.DEBUG, kind=issue.kind, dn=issue.dn, detail=issue.detail)
        event(log, "directory_issues", logging.WARNING, total=len(d.issues), **kinds)


def full_read_reason(config: Config, wm: Watermark | None, force: bool, now: float) -> str | None:
    """Why this run must read everything (None: a delta read may do)."""
    ldap = config.ldap
    if not ldap.delta:
        return "delta reads are off (ldap.delta = false)"
    if force:
        return "asked for (--full)"
    if wm is None:
        return "no watermark yet (first run, or no run was applied since delta reads were on)"
    if wm.fingerprint != fingerprint(config):
        return "the scope, filters or names policy changed since the watermark"
    if wm.dc not in ldap.urls:
        return f"the watermark's DC {wm.dc} is no longer in ldap.urls"
    if now - wm.taken > ldap.watermark_max_age_hours * 3600:
        return f"the watermark is older than ldap.watermark_max_age_hours = {ldap.watermark_max_age_hours:g}"
    if now - wm.last_full > ldap.full_read_every_hours * 3600:
        return f"the scheduled full read is due (ldap.full_read_every_hours = {ldap.full_read_every_hours:g})"
    return None


@dataclass
class _Read:
    directory: Directory
    plan: Plan
    digest: str
    content: str
    changed: bool  # the plan is not empty (the digest differs from the last snapshot's)
    save: bool  # the snapshot must be stored: its content (not only the plan) changed
    watermark: Watermark | None  # to store once the run is applied


def _read_and_plan(
    config: Config, store: StateStore, source: DirectorySource | None, progress: Progress | None, full: bool = False
) -> _Read:
    """Read (a delta when the watermark allows it) and plan against the last snapshot. When the
    digest equals the last snapshot's, the plan is empty; after a full read the (large) previous
    snapshot is then not even loaded."""
    quantiles, last_digest, last_content = store.last_meta()
    wm = store.watermark()
    now = time.time()
    why = full_read_reason(config, wm, full, now)
    src = source or LdapSource(config)
    loaded: list[Directory | None] = []

    def previous() -> Directory:
        if not loaded:
            loaded.append(store.last_snapshot())
        prev = loaded[0]
        if prev is None:  # last_meta() said there is one: only a concurrent writer could do this
            raise StateError(f"state.path {config.state.path}: the last snapshot vanished during the run")
        return prev

    if why is None and last_digest is None:
        why = "no applied snapshot to apply a delta to"
    current: Directory | None = None
    if why is None and wm is not None and isinstance(src, DeltaSource):
        kerberos.use_krb5_conf(config.kerberos.krb5_conf)
        t0 = time.monotonic()
        current, why = src.read_delta(wm, previous)
        if current is not None:
            _log_read(current, time.monotonic() - t0)
    elif why is None:
        why = "this directory source reads whole snapshots only"
    if current is None:
        current = read(config, src, progress, quantiles)
    faults.point("read")
    current = replace(current, stats={**current.stats, "read_why": why or ""})
    delta = current.stats.get("read_kind") == "delta"
    if not delta:  # the read's own line says how much; this one says why it was not a delta
        event(log, "full_read", why=why or "")
    new_wm = None
    if "highest_usn" in current.stats and config.ldap.delta:
        last_full = wm.last_full if (delta and wm is not None) else now
        new_wm = Watermark(
            str(current.stats["dc"]),
            str(current.stats["invocation_id"]),
            int(current.stats["highest_usn"]),
            fingerprint(config),
            now,
            last_full,
            tombstones_seen=delta,  # a delta happens only once a tombstone was seen; a full read starts over
        )
    # A delta builds on the stored snapshot: a change the plan does not show (a moved user's
    # DN, say) must be stored too, or the next delta would build on a stale picture.
    content = content_digest(current)
    save = config.ldap.delta and content != last_content
    digest = plan_digest(current)
    if digest == last_digest:
        named = sum(1 for u in current.users.values() if u.name) + sum(1 for g in current.groups.values() if g.name)
        return _Read(current, Plan((), 0, named, False, "", False), digest, content, False, save, new_wm)
    prev = loaded[0] if loaded else store.last_snapshot()
    return _Read(current, make_plan(prev, current, config.safety), digest, content, True, True, new_wm)


def plan(
    config: Config, source: DirectorySource | None = None, progress: Progress | None = None
) -> tuple[Directory, Plan]:
    """Read and plan against the last applied state. Changes nothing."""
    with StateStore(config.state.path) as store:
        r = _read_and_plan(config, store, source, progress)
    return r.directory, r.plan


def _homes(
    config: Config,
    current: Directory,
    counts: dict[str, int],
    store: StateStore,
    target: HomesTarget | None,
    progress: Progress | None,
    record: dict[str, Any],
) -> HomesResult | None:
    """HDFS homes, after the directory state is applied. A failure here leaves that state
    applied (it is correct) and ends the run as partial; a re-run converges."""
    if config.hdfs is None:
        return None
    try:
        homes = provision(config.hdfs, current, progress=progress, fs=target, departed=store.departed_homes())
        store.remember_homes(homes.plan.wanted_names, homes.plan.departed_names)
    except DirkitError as exc:
        raise PartialFailure(f"directory state applied, HDFS homes not (or not all): {exc}") from exc
    counts["homes_done"] = len(homes.done)
    record["homes"] = {"actions": len(homes.plan.actions), "done": len(homes.done), "failed": len(homes.failed)}
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
        raise PartialFailure(
            f"{len(homes.failed)} HDFS home action(s) failed: " + "; ".join(e for _, e in homes.failed[:3])
        )
    return homes


def _read_record(d: Directory) -> dict[str, Any]:
    st = d.stats
    return {
        "kind": st.get("read_kind", "full"),
        "why": st.get("read_why", ""),
        "dc": st.get("dc"),
        "searches": st.get("ldap_searches", 0),
        "changed_objects": st.get("changed_objects"),
        "failed_over_from": st.get("failed_over_from", []),
        "users": len(d.users),
        "groups": len(d.groups),
    }


def _issues(d: Directory) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for issue in d.issues:
        kinds[issue.kind] = kinds.get(issue.kind, 0) + 1
    return kinds


def sync(
    config: Config,
    *,
    dry_run: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
    source: DirectorySource | None = None,
    homes_target: HomesTarget | None = None,
    full: bool = False,
    approve: str | None = None,
) -> SyncResult:
    """Read, plan and (unless ``dry_run``) apply. Raises LockedError if another run is going,
    ThresholdError (nothing applied; the plan is held for `dirkit approve`) if removals exceed
    the safety limits, PartialFailure if the directory state was applied but some HDFS homes
    were not. ``approve``: the digest of a held plan a human approved; the run applies only
    that plan and refuses (ThresholdError) if the directory has changed it since.

    Every run leaves a record (`dirkit history --run N`), the metrics file if configured, and
    runs the notifier if the outcome is one it wants."""
    t0 = time.monotonic()
    out_dir = config.output.directory
    if out_dir is not None:
        files.render_all(config, None)  # a config error in a document section stops us before any read
        for w in files.warnings(config):
            event(log, "document_warning", logging.WARNING, warning=w)
    with StateStore(config.state.path) as store, store.lock():
        for killed in store.running_runs():  # marked interrupted by start_run below
            doc = {"run_id": killed.id, "command": killed.command, "started": killed.started, "outcome": "interrupted"}
            if config.notify is None:  # the one line cron mails (MAILTO), even with -q
                event(log, "previous_run_interrupted", logging.ERROR, run_id=killed.id, hint="this run converges")
            notify(config.notify, doc)
        run_id = store.start_run("sync --dry-run" if dry_run else "sync")
        record: dict[str, Any] = {"run_id": run_id, "command": "sync --dry-run" if dry_run else "sync"}
        counts: dict[str, int] = {}
        outcome, message = "failed", ""
        try:
            result = _sync(
                config,
                store,
                run_id,
                record,
                counts,
                dry_run,
                allow_removals,
                progress,
                source,
                homes_target,
                full,
                approve,
                t0,
            )
            outcome = (
                "dry-run"
                if dry_run
                else "applied"
                if result.applied and _did_something(result, counts)
                else ("no-changes")
            )
            return result
        except ThresholdError as exc:
            outcome, message = "threshold", str(exc)
            raise
        except PartialFailure as exc:
            outcome, message = "partial", str(exc)
            raise
        except deadline.Expired as exc:
            applied = "the directory state was applied, HDFS homes not (or not all): the next run finishes them"
            message = f"{exc}: {applied if record.get('applied') else 'nothing was applied'}"
            raise deadline.Expired(message) from None
        except BaseException as exc:
            message = str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            deadline.stop()  # the run's work is over: recording it is not cut short
            record.update(outcome=outcome, message=message, ended=time.time(), seconds=round(time.monotonic() - t0, 3))
            record["held_pending"] = bool(store.held_plans())
            store.end_run(run_id, outcome, counts, message, record)
            faults.point("recorded")
            _after_run(config, store, record)


def _did_something(result: SyncResult, counts: dict[str, int]) -> bool:
    return not result.plan.empty or bool(counts.get("files_changed")) or bool(counts.get("homes_done"))


def _after_run(config: Config, store: StateStore, record: dict[str, Any]) -> None:
    """Metrics and notification: neither may change the run's outcome."""
    if config.metrics.textfile is not None:
        faults.point("metrics")
        try:
            metrics.write(config.metrics.textfile, metrics.render(record, store.last_success()))
        except DirkitError as exc:
            event(log, "metrics_failed", logging.ERROR, error=str(exc))
    notify(config.notify, record)


def _sync(
    config: Config,
    store: StateStore,
    run_id: int,
    record: dict[str, Any],
    counts: dict[str, int],
    dry_run: bool,
    allow_removals: bool,
    progress: Progress | None,
    source: DirectorySource | None,
    homes_target: HomesTarget | None,
    full: bool,
    approve: str | None,
    t0: float,
) -> SyncResult:
    out_dir = config.output.directory
    r = _read_and_plan(config, store, source, progress, full)
    faults.point("planned")
    current, p = r.directory, r.plan
    counts.update({k: v for k, v in p.counts().items() if v})
    record["read"] = _read_record(current)
    record["issues"] = _issues(current)
    record["plan"] = {
        "digest": p.digest,
        "counts": counts.copy(),
        "removals": p.removals,
        "first_run": p.first_run,
        "threshold_exceeded": p.threshold_exceeded,
        "threshold_reason": p.threshold_reason,
    }
    event(log, "plan", changes=len(p.changes), removals=p.removals, first_run=p.first_run, **counts)
    if approve is not None and p.digest != approve:
        raise ThresholdError(
            f"approval refused: the directory has changed the plan since it was held ({approve[:12]}); it is now "
            f"{p.digest[:12]}. Nothing was applied. Review it with `dirkit plan`."
        )
    approved = approve is not None or (p.threshold_exceeded and store.approved(p.digest))
    if p.threshold_exceeded and not (allow_removals or approved):
        if not dry_run:
            store.hold(p.digest, run_id, p.threshold_reason, counts)
            record["held"] = p.digest
        held = "would be held" if dry_run else "is held"
        raise ThresholdError(
            f"safety threshold: {p.threshold_reason}. Nothing was applied. The plan {held} as {p.digest[:12]}: "
            f"review it with `dirkit plan`, then `dirkit approve {p.digest[:12]}` (or re-run with --allow-removals)."
        )
    docs = files.render_all(config, current) if out_dir is not None else {}
    changes = tuple(files.compare(out_dir, docs)) if out_dir is not None else ()
    touched = [f.name for f in changes if f.status != "unchanged"]
    if touched:
        counts["files_changed"] = len(touched)
        record["files_changed"] = touched
    if dry_run:
        homes = provision(config.hdfs, current, dry_run=True, fs=homes_target) if config.hdfs else None
        return SyncResult(current, p, False, run_id, time.monotonic() - t0, changes, homes)
    # Local writes only, each short: once started they finish, even past the deadline.
    with deadline.shielded():
        if out_dir is not None and touched:
            files.write(out_dir, docs, list(changes))
            event(log, "files_written", directory=out_dir, files=",".join(touched))
        if r.changed or r.save:
            store.save_snapshot(run_id, current, config.state.keep_snapshots, r.digest, r.content)
        if r.watermark is not None:  # after the snapshot it belongs to: a crash between re-reads, never skips
            store.save_watermark(r.watermark)
        faults.point("state-saved")
        if approved:
            record["approved"] = p.digest
        if r.changed:  # the applied state moved on: no plan held before can apply as it was
            store.resolve_held(run_id)
        record["applied"] = True
    homes = _homes(config, current, counts, store, homes_target, progress, record)
    event(log, "applied", changes=len(p.changes), run_id=run_id, seconds=round(time.monotonic() - t0, 3))
    return SyncResult(current, p, True, run_id, time.monotonic() - t0, changes, homes)
