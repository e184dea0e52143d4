"""Read -> plan -> apply: the sync engine behind ``Dirkit.plan`` and ``Dirkit.sync``.

The directory comes from a ``DirectorySource`` (AD over LDAP by default) and HDFS homes go to
a ``HomesTarget`` (WebHDFS by default), so the safety threshold, the lock, every outcome and
its exit code are unit-tested without services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import __version__
from . import _deadline as deadline
from . import _faults as faults
from . import _kerberos as kerberos
from . import _metrics as metrics
from ._config import Config, reserved_names
from ._directory import incremental
from ._directory.delta import Watermark, fingerprint
from ._directory.model import Directory, ReadInfo
from ._directory.reader import LdapSource
from ._directory.source import DeltaSource, DirectorySource
from ._homes.provision import HomesResult, HomesTarget, Scope, provision
from ._log import event
from ._notify import notify
from ._outputs import files
from ._plan import Plan, content_digest, make_plan, plan_digest
from ._revocation import RevokedNames, run_actions
from ._run_record import ActionRecord, HomeActionCounts, PlanRecord, ReadRecord, RunOutcome, RunRecord
from ._state import DocumentsPass, HomesPass, SnapshotKeeper, StateStore
from .errors import DirkitError, PartialFailure, StateError, ThresholdError

log = logging.getLogger("dirkit.sync")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncResult:
    """What one sync did: the plan, whether it was applied, the run id, documents and homes."""

    plan: Plan
    applied: bool
    run_id: int | None
    seconds: float
    read: ReadInfo  # what the run's read learned
    files: tuple[files.FileChange, ...] = ()  # documents in output.directory, when configured
    homes: HomesResult | None = None  # HDFS homes, when [hdfs] is configured
    revocation: tuple[ActionRecord, ...] = ()  # the cache flushes run for what it revoked ([revocation])
    # The snapshot; a run that found nothing changed has not loaded it: loaded on first use.
    loaded: Directory | None = field(default=None, repr=False)
    load: Callable[[], Directory | None] | None = field(default=None, repr=False, compare=False)

    @property
    def stats(self) -> dict[str, Any]:
        """:attr:`read` in its documented JSON form (docs/json.md)."""
        return self.read.to_stats()

    def to_json(self) -> dict[str, Any]:
        """`sync --json` and `approve --json`, as docs/json.md documents them."""
        return {
            **self.plan.to_json(),
            "applied": self.applied,
            "run_id": self.run_id,
            "stats": self.read.to_stats(),
            "files": [f.to_json() for f in self.files],
            "homes": self.homes.to_json() if self.homes else None,
            "revocation": [asdict(a) for a in self.revocation],
        }

    def superuser_warnings(self) -> list[str]:
        """The snapshot's superuser-group warnings, loading a stored snapshot only when its
        stats say it has one (a run with nothing changed does not load it otherwise)."""
        if self.loaded is None and not self.read.issue_kinds.get("superuser_group"):
            return []
        return self.directory.superuser_warnings()

    @property
    def directory(self) -> Directory:
        """The snapshot read (loaded from state on first use when the run found nothing changed)."""
        if self.loaded is None:
            d = self.load() if self.load else None
            if d is None:
                raise StateError("the run's snapshot is no longer in the state database")
            object.__setattr__(self, "loaded", replace(d, read=self.read))
        assert self.loaded is not None
        return self.loaded


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
    for issue in d.issues:
        event(log, "directory_issue", logging.DEBUG, kind=issue.kind, dn=issue.dn, detail=issue.detail)
    _log_info(d.read, seconds)


def _log_info(info: ReadInfo, seconds: float) -> None:
    event(
        log,
        "read",
        kind=info.kind or "full",
        users=info.users,
        groups=info.groups,
        memberships=info.memberships,
        issues=info.issue_count,
        ldap_searches=info.searches,
        dc=info.dc or None,
        **({"changed_objects": info.changed_objects} if info.kind == "delta" else {}),
        seconds=round(seconds, 3),
    )
    kinds = info.issue_kinds
    if kinds:  # one summary line (cron logs stay readable); each issue with -v or in `dirkit snapshot`
        event(log, "directory_issues", logging.WARNING, total=sum(kinds.values()), **kinds)


TOMBSTONE_HINT = (
    "the sync account may not read CN=Deleted Objects: deltas find deletions by listing every GUID in scope "
    "when anything changed; grant it List Contents + Read Property there (README: Delta reads)"
)


def _account(config: Config) -> str:
    return str(config.ldap.principal if config.ldap.bind == "kerberos" else config.ldap.bind_dn)


def documents_inputs(config: Config, content: str) -> str:
    """What the documents are made from: the snapshot (its content digest), the whole
    configuration, and this dirkit (a newer one may render them otherwise)."""
    data = [content, config.model_dump(mode="json"), __version__]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


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
    directory: Directory | None  # None: nothing changed at all, and the snapshot was not loaded
    info: ReadInfo  # what the read learned (with the stored snapshot's counts, when unchanged)
    plan: Plan
    digest: str
    content: str
    changed: bool  # the plan is not empty (the digest differs from the last snapshot's)
    save: bool  # the snapshot must be stored: its content (not only the plan) changed
    watermark: Watermark | None  # to store once the run is applied
    previous: Callable[[], Directory]  # the last applied snapshot, loaded once when asked for
    base_content: str | None = None  # the last applied snapshot's content digest (None: none yet)

    def snapshot(self) -> Directory:
        """What was read: the new snapshot, or (nothing changed) the stored one, loaded now."""
        return self.directory if self.directory is not None else replace(self.previous(), read=self.info)


def _read_and_plan(
    config: Config, store: StateStore, source: DirectorySource | None, progress: Progress | None, full: bool = False
) -> _Read:
    """Read (a delta when the watermark allows it) and plan against the last snapshot. When the
    digest equals the last snapshot's, the plan is empty; after a full read the (large) previous
    snapshot is then not even loaded, nor after a delta that found nothing changed at all."""
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
        delta = src.read_delta(wm, previous)
        if delta.unchanged:
            info = delta.read.with_content_of(store.last_read())
            _log_info(info, time.monotonic() - t0)
            empty = Plan.nothing(info.named_objects)
            assert last_digest is not None and last_content is not None
            # The USN moved outside the scope: the watermark moves with it (nothing else is written).
            moved = wm.usn if info.highest_usn is None else info.highest_usn
            new_wm = replace(wm, usn=moved, taken=now) if moved != wm.usn else None
            return _Read(
                directory=None,
                info=info,
                plan=empty,
                digest=last_digest,
                content=last_content,
                changed=False,
                save=False,
                watermark=new_wm,
                previous=previous,
                base_content=last_content,
            )
        current, why = delta.directory, delta.why
        if current is not None:
            _log_read(current, time.monotonic() - t0)
    elif why is None:
        why = "this directory source reads whole snapshots only"
    if current is None:
        current = read(config, src, progress, quantiles)
    faults.point("read")
    info = replace(current.read, why=why or "")
    if info != current.read:  # (a delta's "" already: a copy would lose what the delta touched)
        current = replace(current, read=info)
    delta_read = info.kind == "delta"
    if not delta_read:  # the read's own line says how much; this one says why it was not a delta
        event(log, "full_read", why=why or "")
    if info.tombstone_rights is False and (not delta_read or wm is None or wm.tombstone_rights):
        event(log, "no_tombstone_rights", logging.WARNING, account=_account(config), hint=TOMBSTONE_HINT)
    new_wm = None
    if info.highest_usn is not None and config.ldap.delta:
        new_wm = Watermark(
            info.dc,
            info.invocation_id,
            info.highest_usn,
            fingerprint(config),
            now,
            wm.last_full if (delta_read and wm is not None) else now,
            tombstone_rights=info.tombstone_rights,
        )
    # A delta builds on the stored snapshot: a change the plan does not show (a moved user's
    # DN, say) must be stored too, or the next delta would build on a stale picture.
    # After a delta, both digests are kept up from the objects it touched (see _plan.py).
    base = loaded[0] if loaded else None
    content = content_digest(current, (base, last_content) if base is not None and last_content else None)
    save = config.ldap.delta and content != last_content
    digest = plan_digest(current, (base, last_digest) if base is not None and last_digest else None)
    if digest == last_digest:
        return _Read(
            directory=current,
            info=info,
            plan=Plan.nothing(info.named_objects),
            digest=digest,
            content=content,
            changed=False,
            save=save,
            watermark=new_wm,
            previous=previous,
            base_content=last_content,
        )
    if progress:
        progress("planning against the last applied snapshot")
    prev = loaded[0] if loaded else store.last_snapshot()
    return _Read(
        directory=current,
        info=info,
        plan=make_plan(prev, current, config.safety),
        digest=digest,
        content=content,
        changed=True,
        save=True,
        watermark=new_wm,
        previous=previous,
        base_content=last_content,
    )


def plan(
    config: Config,
    source: DirectorySource | None = None,
    progress: Progress | None = None,
    keeper: SnapshotKeeper | None = None,
) -> tuple[Directory, Plan]:
    """Read and plan against the last applied state. Changes nothing."""
    with StateStore(config.state.path, keeper) as store:
        r = _read_and_plan(config, store, source, progress)
        return r.snapshot(), r.plan


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
    keeper: SnapshotKeeper | None = None,
    command: str = "sync",
) -> SyncResult:
    """Read, plan and (unless ``dry_run``) apply. Raises LockedError if another run is going,
    ThresholdError (nothing applied; the plan is held for `dirkit approve`) if removals exceed
    the safety limits, PartialFailure if the directory state was applied but some HDFS homes
    were not. ``approve``: the digest of a held plan a human approved; the run applies only
    that plan and refuses (ThresholdError) if the directory has changed it since.

    Every run leaves a record (`dirkit history --run N`), the metrics file if configured, and
    runs the notifier if the outcome is one it wants. ``keeper``: the snapshot a previous run of
    this process left, reused while it is still the newest stored (not loaded again).
    ``command``: what the run record calls it ("watch" for `dirkit watch`'s runs)."""
    t0 = time.monotonic()
    if config.output.directory is not None:
        files.render_all(config, None)  # a config error in a document section stops us before any read
    with StateStore(config.state.path, keeper) as store, store.lock():
        for killed in store.running_runs():  # marked interrupted by start_run below
            doc = RunRecord(killed.id, killed.command, outcome="interrupted", started=killed.started)
            if config.notify is None:  # the one line cron mails (MAILTO), even with -q
                event(log, "previous_run_interrupted", logging.ERROR, run_id=killed.id, hint="this run converges")
            notify(config.notify, doc)
        command = f"{command} --dry-run" if dry_run else command
        run = SyncRun(config, store, RunRecord(store.start_run(command), command), t0, progress, source, homes_target)
        outcome: RunOutcome = "failed"
        message = ""
        try:
            result = run.sync(dry_run=dry_run, allow_removals=allow_removals, full=full, approve=approve)
            outcome = (
                "dry-run" if dry_run else "applied" if result.applied and run.did_something(result) else "no-changes"
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
            message = (
                f"{exc}: {applied if run.record.applied else 'nothing was applied'}. A DC, the NameNode or a "
                "command was still answering: check them (-v logs each request), or raise run.deadline_seconds"
            )
            raise deadline.Expired(message) from None
        except BaseException as exc:
            message = str(exc) if isinstance(exc, DirkitError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            deadline.stop()  # the run's work is over: recording it is not cut short
            run.end(outcome, message)


@dataclass
class SyncRun:
    """One sync run, with the lock held: its config, state store and record, and a method per
    phase (read and plan, hold or go, documents, state, homes). `sync` and `approve` both run it."""

    config: Config
    store: StateStore
    record: RunRecord
    t0: float
    progress: Progress | None = None
    source: DirectorySource | None = None
    homes_target: HomesTarget | None = None
    counts: dict[str, int] = field(default_factory=dict)  # non-zero plan counts, files and homes done
    rendered: DocumentsPass | None = None  # the documents this run rendered (None: not rendered)

    def sync(self, *, dry_run: bool, allow_removals: bool, full: bool, approve: str | None) -> SyncResult:
        """Every phase in order; the record says how far the run got."""
        r = self.read_and_plan(full)
        approved = self.hold_or_go(r.plan, dry_run, allow_removals, approve)
        # Documents and homes need the snapshot: when nothing changed, it is loaded only if one
        # of them has something to do (their inputs, or the files or the prefix, moved).
        loaded = [r.directory] if r.directory is not None else []

        def current() -> Directory:
            if not loaded:
                loaded.append(r.snapshot())
            return loaded[0]

        docs, changes = self.documents(r, current)
        if dry_run:
            homes = self.homes(current, r, dry_run=True)
            return self.result(r, loaded[0] if loaded else None, False, changes, homes)
        self.save(r, r.directory, docs, changes, approved)
        actions = self.revocation(r.plan)  # before the homes: a homes failure must not skip it
        homes = self.homes(current, r)
        event(log, "applied", changes=len(r.plan.changes), run_id=self.record.run_id, seconds=self._seconds())
        return self.result(r, loaded[0] if loaded else None, True, changes, homes, actions)

    def revocation(self, p: Plan) -> tuple[ActionRecord, ...]:
        """The cluster's caches told of what the applied plan revoked ([revocation]); recorded."""
        actions = tuple(run_actions(self.config.revocation, RevokedNames.of(p)))
        if actions:
            self.record.revocation = list(actions)
        return actions

    def read_and_plan(self, full: bool) -> _Read:
        r = _read_and_plan(self.config, self.store, self.source, self.progress, full)
        faults.point("planned")
        p = r.plan
        self.counts.update({k: v for k, v in p.counts().items() if v})
        info = r.info
        self.record.read = ReadRecord.of(info)
        self.record.issues = dict(info.issue_kinds)
        self.record.plan = PlanRecord(
            p.digest, self.counts.copy(), p.removals, p.first_run, p.threshold_exceeded, p.threshold_reason
        )
        event(log, "plan", changes=len(p.changes), removals=p.removals, first_run=p.first_run, **self.counts)
        return r

    def hold_or_go(self, p: Plan, dry_run: bool, allow_removals: bool, approve: str | None) -> bool:
        """Raise ThresholdError (holding the plan unless ``dry_run``) when a safety limit stops it;
        return whether it goes as an approved plan."""
        if approve is not None and p.digest != approve:
            raise ThresholdError(
                f"approval refused: the directory has changed the plan since it was held ({approve[:12]}); it is now "
                f"{p.digest[:12]}. Nothing was applied. Review it with `dirkit plan`."
            )
        approved = approve is not None or (p.threshold_exceeded and self.store.approved(p.digest))
        if p.threshold_exceeded and not (allow_removals or approved):
            if not dry_run:
                self.store.hold(p.digest, self.record.run_id, p.threshold_reason, self.counts)
                self.record.held = p.digest
            held = "would be held" if dry_run else "is held"
            raise ThresholdError(
                f"safety threshold: {p.threshold_reason}. Nothing was applied. The plan {held} as {p.digest[:12]}: "
                f"review it with `dirkit plan`, then `dirkit approve {p.digest[:12]}` (or re-run with --allow-removals)."
            )
        return approved

    def documents(
        self, r: _Read, current: Callable[[], Directory]
    ) -> tuple[dict[str, str], tuple[files.FileChange, ...]]:
        """The documents for output.directory, rendered and compared with what is there; not
        rendered again when their inputs are the last applied run's and the files are as it
        wrote them (its warnings are logged again, as a rendering would log them)."""
        out_dir = self.config.output.directory
        if out_dir is None:
            return {}, ()
        inputs = documents_inputs(self.config, r.content)
        last = self.store.documents_pass()
        if last is not None and last.inputs == inputs and files.as_written(out_dir, last.files):
            for name, w in last.warnings:
                event(log, "document_warning", logging.WARNING, document=name, warning=w)
            return {}, tuple(files.FileChange(name, "unchanged") for name in sorted(last.files))
        rendered = files.render_all(self.config, current())
        for name, doc in rendered.items():  # the same checks as `dirkit emr security-config` & co.
            for w in doc.warnings:
                event(log, "document_warning", logging.WARNING, document=name, warning=w)
        docs = {name: doc.text for name, doc in rendered.items()}
        self.rendered = DocumentsPass(
            inputs,
            {name: hashlib.sha256(text.encode()).hexdigest() for name, text in docs.items()},
            tuple((name, w) for name, doc in rendered.items() for w in doc.warnings),
        )
        changes = tuple(files.compare(out_dir, docs))
        touched = [f.name for f in changes if f.status != "unchanged"]
        if touched:
            self.counts["files_changed"] = len(touched)
            self.record.files_changed = touched
        return docs, changes

    def save(
        self,
        r: _Read,
        current: Directory | None,
        docs: dict[str, str],
        changes: tuple[files.FileChange, ...],
        approved: bool,
    ) -> None:
        """Documents, snapshot, watermark, held plans: local writes only, each short. Once
        started they finish, even past the deadline."""
        out_dir = self.config.output.directory
        with deadline.shielded():
            touched = [c.name for c in changes if c.status != "unchanged"]
            if out_dir is not None and touched:
                files.write(out_dir, docs, list(changes))
                event(log, "files_written", directory=out_dir, files=",".join(touched))
            if self.rendered is not None:
                self.store.save_documents_pass(self.rendered)
            if (r.changed or r.save) and current is not None:
                if self.progress:
                    self.progress("saving the snapshot")
                state = self.config.state
                # A delta applied to the stored snapshot is stored as a patch on it.
                base, _ = incremental.delta_base(current)
                saved = self.store.save_snapshot(
                    self.record.run_id,
                    current,
                    state.keep_snapshots,
                    r.digest,
                    r.content,
                    state.history_days,
                    base=base if base is not None and base is r.previous() else None,
                )
                if saved.retention:
                    self.record.retention_skipped = saved.retention
                    event(log, "retention_skipped", logging.WARNING, why=saved.retention)
            if r.watermark is not None:  # after the snapshot it belongs to: a crash between re-reads, never skips
                self.store.save_watermark(r.watermark)
            faults.point("state-saved")
            if approved:
                self.record.approved = r.plan.digest
            if r.changed:  # the applied state moved on: no plan held before can apply as it was
                self.store.resolve_held(self.record.run_id)
            self.record.applied = True

    def homes_scope(self, current: Callable[[], Directory], r: _Read) -> Scope | None:
        """The users whose homes this pass plans (None: every home). After a delta, those it
        touched, when the last clean pass planned every other home against the snapshot the
        delta was applied to, within hdfs.full_check_hours of the last full pass (provision
        checks the prefix's modificationTime too)."""
        hdfs, last = self.config.hdfs, self.store.homes_pass()
        if hdfs is None or last is None or not hdfs.full_check_hours:
            return None
        if time.time() - last.full > hdfs.full_check_hours * 3600 or last.content_digest != r.base_content:
            return None
        if r.directory is None:  # nothing changed: the very snapshot that pass planned against
            return Scope(frozenset(), last.prefix_mtime, last.wanted)
        base, users = incremental.delta_base(current())
        if base is None or base is not r.previous():
            return None
        return Scope(users, last.prefix_mtime, last.wanted)

    def homes(self, current: Callable[[], Directory], r: _Read, dry_run: bool = False) -> HomesResult | None:
        """HDFS homes, after the directory state is applied (planned only with ``dry_run``, from
        the same state). A failure here leaves that state applied (it is correct) and ends the
        run as partial; a re-run converges."""
        cfg, store = self.config, self.store
        if cfg.hdfs is None:
            return None
        scope = self.homes_scope(current, r)
        last = store.homes_pass()  # (remember_homes clears it: read first)
        try:
            homes = provision(
                cfg.hdfs,
                current,
                dry_run=dry_run,
                progress=self.progress,
                fs=self.homes_target,
                departed=store.departed_homes(),
                owned=store.owned_homes(),
                protected=reserved_names(cfg),
                record_pending=store.record_pending,
                scope=scope,
            )
            if dry_run:
                return homes
            store.remember_homes(homes.owned_homes(), homes.plan.departed_names, homes.statuses())
            if not homes.failed and homes.prefix_mtime:
                full = time.time() if homes.scope == "full" or last is None else last.full
                store.save_homes_pass(HomesPass(r.content, homes.prefix_mtime, full, homes.plan.wanted))
        except DirkitError as exc:
            if dry_run:
                raise
            raise PartialFailure(f"directory state applied, HDFS homes not (or not all): {exc}") from exc
        self.counts["homes_done"] = len(homes.done)
        self.record.homes = HomeActionCounts(len(homes.plan.actions), len(homes.done), len(homes.failed))
        event(
            log,
            "homes",
            scope=homes.scope,
            wanted=homes.plan.wanted,
            actions=len(homes.plan.actions),
            done=len(homes.done),
            failed=len(homes.failed),
            reported=len(homes.plan.reports),
            requests=homes.requests,
        )
        homes.raise_for_failures()
        return homes

    def did_something(self, result: SyncResult) -> bool:
        """Applied a change, rewrote a document or did a homes action (else: "no-changes")."""
        return not result.plan.empty or bool(self.counts.get("files_changed")) or bool(self.counts.get("homes_done"))

    def end(self, outcome: RunOutcome, message: str) -> None:
        """Record how the run ended, then metrics and notification (neither may change it)."""
        rec, store = self.record, self.store
        rec.outcome, rec.message, rec.ended, rec.seconds = outcome, message, time.time(), self._seconds()
        rec.held_pending = bool(store.held_plans())
        store.end_run(rec.run_id, outcome, self.counts, message, rec.to_json())
        faults.point("recorded")
        if self.config.metrics.textfile is not None:
            faults.point("metrics")
            try:
                metrics.write(self.config.metrics.textfile, metrics.render(rec, store.last_success()))
            except DirkitError as exc:
                event(log, "metrics_failed", logging.ERROR, error=str(exc))
        notify(self.config.notify, rec)

    def result(
        self,
        r: _Read,
        current: Directory | None,
        applied: bool,
        changes: tuple[files.FileChange, ...],
        homes: HomesResult | None,
        revocation: tuple[ActionRecord, ...] = (),
    ) -> SyncResult:
        path = self.config.state.path

        def load() -> Directory | None:  # after the run: its store is closed
            with StateStore(path, self.store.keeper) as store:
                return store.last_snapshot()

        loaded = current
        if current is not None and current.read != r.info:  # (a copy of 100k users' maps otherwise)
            loaded = replace(current, read=r.info)
        seconds = time.monotonic() - self.t0
        return SyncResult(
            plan=r.plan,
            applied=applied,
            run_id=self.record.run_id,
            seconds=seconds,
            read=r.info,
            files=changes,
            homes=homes,
            revocation=revocation,
            loaded=loaded,
            load=load,
        )

    def _seconds(self) -> float:
        return round(time.monotonic() - self.t0, 3)
