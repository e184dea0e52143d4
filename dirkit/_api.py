"""The public API: one ``Dirkit`` object per config, with a method for everything the CLI does.

    from dirkit import Dirkit
    kit = Dirkit("/etc/dirkit/dirkit.toml")
    result = kit.sync(dry_run=True)
    print(result.plan.counts())

Each CLI command is: parse options, one call here, print. Errors are ``DirkitError``
subclasses (see ``dirkit.errors``) carrying the exit code the CLI uses.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, get_args

from . import _deadline as deadline
from . import _kerberos as kerberos
from . import _report as access_report
from . import _sync as engine
from ._budget import Budget
from ._budget import budget as revocation_budget
from ._config import Config, EmrConfig, HdfsConfig, load, required, reserved_names
from ._deploy import AwsChange, Deployer, DeployPlan
from ._directory.model import AccountState, Directory, User
from ._directory.names import NamePolicy
from ._directory.source import AccountSource, DirectorySource
from ._homes import script
from ._homes.plan import Adoption, plan_adoptions
from ._homes.provision import HomesResult, HomesTarget, connect, provision
from ._outputs import cloudformation, documents, emr, role_mappings, yarn
from ._outputs.documents import Document
from ._plan import Plan
from ._report import AccessReport, Revoked
from ._safe_files import write_atomic
from ._sssd import view as sssd_view
from ._sssd.view import ClusterView
from ._state import HeldPlan, Run, SnapshotKeeper, SnapshotRow, StateStore
from .errors import DirectoryError, NotFoundError, UsageError

if TYPE_CHECKING:
    from ._verify.checks import UserReport
    from ._watch import Watcher

Progress = Callable[[str], None]
HueFormat = Literal["ini", "classification"]
CoreSiteFormat = Literal["xml", "classification"]


class Dirkit:
    """dirkit for one config. ``source`` replaces AD as the directory to read (tests use an
    in-memory one), ``homes_target`` replaces WebHDFS for HDFS homes; ``progress`` receives
    progress lines for a person watching."""

    def __init__(
        self,
        config: Config | str | Path | None = None,
        *,
        source: DirectorySource | None = None,
        homes_target: HomesTarget | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load(config)
        self.source = source
        self.homes_target = homes_target
        self.progress = progress
        self.names = NamePolicy(self.config.names, self.config.directory.realm, reserved_names(self.config))
        # The snapshot this object's last run stored or loaded: the next run of this process
        # starts from it instead of loading it again (what makes `dirkit watch`'s runs cheap).
        self._keeper = SnapshotKeeper()

    # -- the directory -------------------------------------------------------------------
    def read(self) -> Directory:
        """Read AD now (the whole configured scope; never a partial picture)."""
        with self._deadline():
            return engine.read(self.config, self.source, self.progress)

    def last_snapshot(self) -> Directory:
        """The last applied snapshot; NotFoundError when no sync has been applied yet."""
        with StateStore(self.config.state.path) as store:
            return self._last_snapshot(store)

    def _last_snapshot(self, store: StateStore) -> Directory:
        d = store.last_snapshot()
        if d is None:
            raise NotFoundError(
                f"no applied snapshot in {self.config.state.path} yet: run `dirkit sync` first, or drop --from-state"
            )
        return d

    def snapshot(self, *, from_state: bool = False) -> Directory:
        """What dirkit sees: a fresh read, or the last applied snapshot."""
        return self.last_snapshot() if from_state else self.read()

    def find_user(self, name: str, *, from_state: bool = False) -> tuple[Directory, User]:
        """A user by any spelling (``User@REALM``, other case) or by sAMAccountName."""
        d = self.snapshot(from_state=from_state)
        wanted = self.names.normalise(name).name
        u = (d.user_by_name(wanted) if wanted else None) or next((x for x in d.users.values() if x.sam == name), None)
        if u is None:
            raise NotFoundError(f"no user {name!r} in the snapshot")
        return d, u

    def snapshot_view(self, user: str | None = None, *, from_state: bool = False) -> SnapshotView:
        """`dirkit snapshot`: the snapshot (or one ``user`` of it, by any spelling) beside what
        the cluster nodes' SSSD will say of it."""
        if user is None:
            d = self.snapshot(from_state=from_state)
            return SnapshotView(d, self.cluster_view(d))
        d, found = self.find_user(user, from_state=from_state)
        return SnapshotView(d, self.cluster_view(d, only=[found.guid]), found)

    # -- watch ---------------------------------------------------------------------------
    def watcher(self, reload: Callable[[], Dirkit] | None = None) -> Watcher:
        """`dirkit watch`'s loop over this object: ``run()`` it (until ``stop()``, from a signal
        handler); ``reload()`` switches to the Dirkit ``reload`` makes (default: this one's
        config file loaded again) between runs."""
        from ._watch import Watcher

        def again() -> Dirkit:  # (a config made in memory has no file to read again)
            if self.config.source is None:
                return self
            return Dirkit(
                self.config.source, source=self.source, homes_target=self.homes_target, progress=self.progress
            )

        return Watcher(self, reload or again)

    # -- sync ----------------------------------------------------------------------------
    def plan(self) -> tuple[Directory, Plan]:
        """Read and plan against the last applied state. Changes nothing."""
        with self._deadline():
            return engine.plan(self.config, self.source, self.progress, self._keeper)

    def sync(self, *, dry_run: bool = False, allow_removals: bool = False, full: bool = False) -> engine.SyncResult:
        """Read (only what changed, when the watermark allows; everything with ``full``), plan
        and (unless ``dry_run``) apply: state, documents, HDFS homes. Bounded by
        ``run.deadline_seconds`` (DeadlineExceeded past it), as every method that talks to AD
        or the NameNode is."""
        return self._sync(dry_run=dry_run, allow_removals=allow_removals, full=full)

    def _sync(
        self, *, dry_run: bool = False, allow_removals: bool = False, full: bool = False, command: str = "sync"
    ) -> engine.SyncResult:
        with self._deadline():
            return engine.sync(
                self.config,
                dry_run=dry_run,
                allow_removals=allow_removals,
                progress=self.progress,
                source=self.source,
                homes_target=self.homes_target,
                full=full,
                keeper=self._keeper,
                command=command,
            )

    def approve(self, digest: str) -> engine.SyncResult:
        """Apply the held plan whose digest starts with ``digest``: recorded as approved first
        (so that if this run cannot go now, the next scheduled run computing the same plan
        applies it), then a sync that applies exactly that plan. Raises NotFoundError for an
        unknown digest, ThresholdError if the directory has changed the plan since."""
        with StateStore(self.config.state.path) as store:
            held = store.find_held(digest) if len(digest) >= 6 else None
            if held is None:
                pending = ", ".join(h.digest[:12] for h in store.held_plans()) or "none"
                raise NotFoundError(
                    f"no held plan starts with {digest!r} (give at least 6 characters; held now: {pending})"
                )
            store.approve(held.digest)
        with self._deadline():
            return engine.sync(
                self.config,
                progress=self.progress,
                source=self.source,
                homes_target=self.homes_target,
                approve=held.digest,
                keeper=self._keeper,
            )

    def held_plans(self) -> list[HeldPlan]:
        """Plans a safety limit stopped that are not applied yet (approved or not)."""
        with StateStore(self.config.state.path) as store:
            return store.held_plans()

    def history(self, limit: int = 20) -> list[Run]:
        """The most recent runs, newest first."""
        with StateStore(self.config.state.path) as store:
            return store.runs(limit)

    def run(self, run_id: int) -> Run:
        """One run's record: what it read, planned, applied, held, and what failed."""
        with StateStore(self.config.state.path) as store:
            found = store.run(run_id)
        if found is None:
            raise NotFoundError(f"no run #{run_id} in {self.config.state.path}")
        return found

    # -- documents -----------------------------------------------------------------------
    def security_configuration(self, *, check: bool = True, from_state: bool = False) -> Document:
        """The EMR security configuration; with ``check``, role mappings are checked against
        the AD snapshot (identifiers missing, renamed by the names policy, or shadowed)."""
        self._emr()
        return self._document(
            "emr-security-configuration", "json", self.snapshot(from_state=from_state) if check else None
        )

    def _document(self, name: str, fmt: str, directory: Directory | None) -> Document:
        """One of the registry's documents (_outputs/documents.py), rendered and checked."""
        return documents.find(name, fmt).render(self.config, directory)

    def explain(
        self, user: str, path: str, *, from_state: bool = False, directory: Directory | None = None
    ) -> role_mappings.Decision:
        """Which IAM role EMRFS would use for ``user`` on ``path``, and why; and what the cluster
        nodes pick instead where a group of the user's does not resolve there (``cluster_role``).
        From ``directory`` when given, else a fresh read or the last applied snapshot."""
        d = directory or self.snapshot(from_state=from_state)
        u = d.user_by_name(self.names.normalise(user).name or user)
        view = self.cluster_view(d, only=[u.guid] if u else [])
        return role_mappings.explain(self._emr(), d, self.names, user, path, view)

    # -- the access report ----------------------------------------------------------------
    def report(
        self, *, from_state: bool = True, at: float | str | None = None, since: float | str | None = None
    ) -> AccessReport:
        """Who can reach what (`dirkit report`): every user's groups, cluster view, home and role
        per S3 prefix; per role its grants; per group its members. From the last applied
        snapshot (an auditor's picture of what is in force), the one in force at ``at``, or a
        fresh read (``from_state=False``). ``since``: also who gained and lost each role and
        group since the snapshot in force then, and who was revoked in between. Times: a UNIX
        time, ``YYYY-MM-DD`` (that day's start, UTC) or ISO 8601. A fresh read and ``at`` are
        two different pictures: asking for both is a UsageError, not one of them silently."""
        if at is not None and not from_state:
            raise UsageError("--fresh reads AD now; --at reports a stored snapshot: give one of them")
        at = access_report.parse_time(at, "--at") if isinstance(at, str) else at
        since = access_report.parse_time(since, "--since") if isinstance(since, str) else since
        row: SnapshotRow | None
        with StateStore(self.config.state.path) as store:
            if at is not None:
                row, d = store.snapshot_at(at)
            elif from_state:
                row, d = store.last_snapshot_row(), self._last_snapshot(store)
            else:
                row, d = None, self.read()
            base = store.snapshot_at(since) if since is not None else None
            homes, proofs = store.home_statuses(), store.revocations()
            budget = self._budget(store)
        report = access_report.build(
            self.config, d, self.cluster_view(d), row, homes=homes, revocations=proofs, as_of=at, budget=budget
        )
        if base is None or since is None:
            return report
        old = access_report.build(self.config, base[1], self.cluster_view(base[1]), base[0], as_of=since)
        return replace(report, changes=access_report.changes(old, report, base[1], d, since, proofs))

    def revocation_budget(self) -> Budget:
        """How long the cluster may still honour a user AD has just revoked, layer by layer
        (``[revocation]``, ``[sssd]``; dirkit's own delay from its recent runs)."""
        with StateStore(self.config.state.path) as store:
            return self._budget(store)

    def _budget(self, store: StateStore) -> Budget:
        runs = [(r.command, r.started, r.record.get("seconds")) for r in store.runs(20) if r.outcome != "running"]
        return revocation_budget(self.config, [(c.split(" ")[0], t, s) for c, t, s in runs if "--dry-run" not in c])

    def revoked(self, since: float | str | None = None) -> tuple[Revoked, ...]:
        """Users enabled in the snapshot in force at ``since`` (default: the oldest kept) and
        disabled or gone in the last applied one."""
        since = access_report.parse_time(since, "--since") if isinstance(since, str) else since
        with StateStore(self.config.state.path) as store:
            now = self._last_snapshot(store)  # none yet: "run `dirkit sync` first"
            if since is None:  # the widest window the state can prove: its oldest kept snapshot
                since = next(r.taken for r in store.snapshots() if r.kept)
            old = store.snapshot_at(since)[1]
        return access_report.revoked(old, now)

    # -- the cluster's view (SSSD) ---------------------------------------------------------
    def cluster_view(self, directory: Directory, *, only: Sequence[str] | None = None) -> ClusterView:
        """What the cluster nodes' SSSD will say of every user of ``directory`` (or of those
        whose GUIDs are in ``only``) under the ``[sssd]`` settings (SSSD's own, as EMR leaves
        them, when the section is absent)."""
        return sssd_view.predict(
            directory, self.config.sssd, self.config.directory.realm, only, reserved_names(self.config)
        )

    def sssd_config(self) -> Document:
        """The ``[domain/...]`` block that makes the nodes see what dirkit predicts, with no
        difference from AD's view (`dirkit sssd config`)."""
        return self._document("sssd", "conf", None)

    def iam_documents(self) -> Document:
        """Trust and S3 policy skeletons per mapping role, and the EC2 role's side (`emr iam`)."""
        self._emr()
        return self._document("emr-iam", "json", None)

    def cloudformation(self) -> Document:
        """One CloudFormation template: security configuration, mapping roles, the EC2 role's
        side; the security configuration checked as `emr security-config` checks it, against the
        last applied snapshot when there is one (AWS Managed AD refused, mapping warnings)."""
        sc = self._stored_security_configuration()
        return Document(emr.dumps(cloudformation.template(self._emr(), json.loads(sc.text))), sc.warnings)

    def _stored_security_configuration(self) -> Document:
        """The registry's security configuration, checked against the last applied snapshot if
        any (`emr apply`/`diff` and CloudFormation read no AD; a first run has no snapshot)."""
        self._emr()
        path = Path(self.config.state.path)
        d = None
        if path.exists():
            with StateStore(path) as store:
                d = store.last_snapshot()
        return self._document("emr-security-configuration", "json", d)

    def deploy_plan(
        self, *, profile: str | None = None, region: str | None = None, endpoint_url: str | None = None
    ) -> DeployPlan:
        """What `emr apply` would change in AWS. Credentials, region and endpoint come the boto3
        way unless given (``endpoint_url``: another EMR/IAM endpoint, e.g. moto's server)."""
        return self._deployer(profile, region, endpoint_url).plan()

    def deploy(
        self,
        *,
        dry_run: bool = False,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> tuple[DeployPlan, list[AwsChange]]:
        """Make AWS match the documents (never deleting anything); returns the plan and what was done."""
        deployer = self._deployer(profile, region, endpoint_url)
        plan = deployer.plan()
        return plan, [] if dry_run else deployer.apply(plan)

    def _deployer(self, profile: str | None, region: str | None, endpoint_url: str | None) -> Deployer:
        return Deployer.connect(
            self._emr(),
            self._stored_security_configuration(),
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
        )

    def kerberos_attributes(self, *, reveal_secrets: bool = False) -> Document:
        """`--kerberos-attributes` for `aws emr create-cluster`; secrets only with ``reveal_secrets``."""
        doc = emr.dumps(emr.kerberos_attributes(self._emr(), reveal_secrets))
        return Document(doc, secret=reveal_secrets)

    def hue_config(self, fmt: HueFormat = "ini", *, from_state: bool = False) -> Document:
        """Hue's LDAP block (``ini``) or the EMR ``hue-ini`` classification (``classification``)."""
        _check_format(fmt, HueFormat)
        required(self.config, "hue", self.config.hue)
        return self._document("hue", fmt, self.last_snapshot() if from_state else None)

    def core_site(self, fmt: CoreSiteFormat = "xml", *, from_state: bool = False) -> Document:
        """auth_to_local and LDAP group mapping as core-site XML or an EMR classification.
        From the last snapshot, users whose groups LdapGroupsMapping cannot see are warned about."""
        _check_format(fmt, CoreSiteFormat)
        required(self.config, "hadoop", self.config.hadoop)
        return self._document("core-site", fmt, self.last_snapshot() if from_state else None)

    def yarn_config(self, fmt: CoreSiteFormat = "xml", *, from_state: bool = False) -> Document:
        """CapacityScheduler's queue hierarchy and placement rules ([yarn]) as
        capacity-scheduler.xml or an EMR classification; from the last snapshot, mappings that
        never match, place fewer users than AD's view says, or never decide are warned about."""
        _check_format(fmt, CoreSiteFormat)
        required(self.config, "yarn", self.config.yarn)
        return self._document("capacity-scheduler", fmt, self.last_snapshot() if from_state else None)

    def placement(self, user: str, *, from_state: bool = False, directory: Directory | None = None) -> yarn.Placement:
        """The YARN queue ``user``'s applications land in ([yarn] queue mappings, first match
        wins), from the groups the ResourceManager's group mapping returns for them. From
        ``directory`` when given, else a fresh read or the last applied snapshot."""
        y = required(self.config, "yarn", self.config.yarn)
        d = directory or self.snapshot(from_state=from_state)
        name = self.names.normalise(user).name or user
        u = d.user_by_name(name)
        groups = yarn.resourcemanager_groups_of(self.config, d, u) if u else []
        return yarn.place(y, name, groups)

    def _emr(self) -> EmrConfig:
        return required(self.config, "emr", self.config.emr)

    # -- HDFS homes ----------------------------------------------------------------------
    def provision_homes(
        self,
        *,
        from_state: bool = False,
        dry_run: bool = False,
        fix_drift: bool = False,
        lock_departed: bool = False,
        allow_removals: bool = False,
    ) -> HomesResult:
        """Make every enabled user's home exist as the policy says. Failures of single users
        are in ``result.failed`` (the others are done); an unreachable NameNode raises.
        ``lock_departed`` locks only homes dirkit provisioned before, within the safety limits.
        Unless ``dry_run``, it holds the run lock (LockedError while a sync runs), as sync does."""
        with self._deadline():
            return self._provision_homes(from_state, dry_run, fix_drift, lock_departed, allow_removals)

    def _provision_homes(
        self, from_state: bool, dry_run: bool, fix_drift: bool, lock_departed: bool, allow_removals: bool
    ) -> HomesResult:
        d = self.snapshot(from_state=from_state)
        kerberos.use_krb5_conf(self.config.kerberos.krb5_conf)  # only commands that log in need it
        with StateStore(self.config.state.path) as store, store.lock() if not dry_run else nullcontext():
            result = provision(
                self._hdfs(),
                d,
                dry_run=dry_run,
                fix_drift=fix_drift,
                lock_departed=lock_departed,
                owned=store.owned_homes(),
                safety=self.config.safety,
                allow_removals=allow_removals,
                progress=self.progress,
                fs=self.homes_target,
                departed=store.departed_homes(),
                protected=reserved_names(self.config),
                record_pending=store.record_pending,
            )
            if not dry_run:
                store.remember_homes(result.owned_homes(), result.plan.departed_names, result.statuses())
        return result

    def adopt_homes(self, names: Sequence[str], *, dry_run: bool = False, from_state: bool = False) -> list[Adoption]:
        """Make existing directories under the prefix dirkit's homes (`dirkit hdfs adopt`):
        each must already be owned by the enabled AD user of its name. Only adopted homes are
        ever renamed, handed over or locked by dirkit; the rest of the prefix is left alone."""
        h = self._hdfs()
        d = self.snapshot(from_state=from_state)
        kerberos.use_krb5_conf(self.config.kerberos.krb5_conf)
        target = self.homes_target if self.homes_target is not None else connect(h)
        try:
            listing = target.list(h.prefix) or []
        finally:
            if self.homes_target is None:
                target.close()
        with StateStore(self.config.state.path) as store, store.lock() if not dry_run else nullcontext():
            out = plan_adoptions(h, d, listing, list(names), store.owned_homes(), reserved_names(self.config))
            adopted = {a.name: a.guid for a in out if a.guid}
            if adopted and not dry_run:
                seen = {e.name: (e.owner, e.group, e.permission) for e in listing if e.name in adopted}
                store.remember_homes(adopted, statuses=seen)
        return out

    def write_emr_step(self, out_dir: Path, script_uri: str, *, from_state: bool = False) -> list[Path]:
        """Write the `hdfs dfs` homes script and the EMR step that runs it; returns the paths."""
        steps = emr.dumps(script.render_step(script_uri))  # a bad URI fails before reading AD
        h = self._hdfs()
        docs = {
            "dirkit-homes.sh": script.render_script(h, self.snapshot(from_state=from_state)),
            "emr-steps.json": steps,
        }
        for name, text in docs.items():
            write_atomic(out_dir / name, text.encode(), 0o644, key="--out-dir")
        return [out_dir / name for name in docs]

    def _deadline(self) -> AbstractContextManager[None]:
        return deadline.limit(self.config.run.deadline_seconds)

    def _hdfs(self) -> HdfsConfig:
        return required(self.config, "hdfs", self.config.hdfs)

    # -- verify --------------------------------------------------------------------------
    def verify(self, users: Sequence[str] = (), *, from_state: bool = False) -> list[UserReport]:
        """Can these configured test identities (default: all) really use the cluster?"""
        required(self.config, "verify", self.config.verify)
        from ._verify.checks import verify  # gssapi, requests, a child process: only here

        return verify(self.config, self.snapshot(from_state=from_state), list(users) or None)

    def verify_revoked(self, since: float | str | None = None) -> list[UserReport]:
        """Prove that every user revoked since ``since`` (see ``revoked``) is really out: each
        end-to-end check passes when the access is refused. Each user's proof is kept in the
        state (the access report shows the last one)."""
        required(self.config, "verify", self.config.verify)
        from ._verify.revoked import proof, prove  # gssapi, requests, a child process: only here

        gone = self.revoked(since)
        with self._deadline():
            reports = prove(self.config, gone, self._account_states([r.guid for r in gone]))
        when = time.time()
        with StateStore(self.config.state.path) as store:
            store.record_revocations([proof(r, rep, when) for r, rep in zip(gone, reports, strict=True)])
        return reports

    def _account_states(self, guids: list[str]) -> dict[str, AccountState] | str:
        """The accounts as AD says they are now (``verify --revoked``'s evidence), or why AD
        could not be asked."""
        if not guids:
            return {}
        source = self.source
        if source is None:
            from ._directory.reader import LdapSource  # ldap3: only when AD is asked

            source = LdapSource(self.config)
        if not isinstance(source, AccountSource):
            return "this directory source cannot re-read accounts"
        try:
            return source.account_states(guids)
        except DirectoryError as exc:
            return str(exc)


def _check_format(fmt: str, allowed: object) -> None:
    """An unknown format is a usage error, not silently another format."""
    choices = get_args(allowed)
    if fmt not in choices:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(choices)}")


def write_chunks(chunks: Iterable[str], out: Path | None, stdout: BinaryIO | None = None) -> str:
    """Write text that comes in parts (a long report) as it comes, to ``out`` atomically or (None)
    to ``stdout`` (default: this process's); the sha256 of what was written."""
    digest = hashlib.sha256()

    def encoded() -> Iterator[bytes]:
        for chunk in chunks:
            data = chunk.encode()
            digest.update(data)
            yield data

    if out is not None:
        write_atomic(out, encoded(), 0o644, key="--out")
    else:
        sink = stdout or sys.stdout.buffer
        for data in encoded():
            sink.write(data)
        sink.flush()
    return digest.hexdigest()


@dataclass(frozen=True)
class SnapshotView:
    """A snapshot (or one user of it) beside the cluster nodes' view (`dirkit snapshot`)."""

    directory: Directory
    cluster: ClusterView
    user: User | None = None

    def to_json(self) -> dict[str, Any]:
        """docs/json.md's `snapshot --json` (or `snapshot --user U --json`)."""
        if self.user is not None:
            node = self.cluster.users[self.user.guid].to_json()
            return {**self.directory.user_json(self.user), "cluster": node}
        return {**self.directory.to_json(), "cluster": {"warnings": self.cluster.warnings(self.directory)}}


def write_document(doc: Document, out: Path) -> None:
    """Write a generated document atomically (the CLI's ``--out``); 0600 if it holds secrets."""
    write_atomic(out, doc.text.encode(), 0o600 if doc.secret else 0o644, key="--out")
