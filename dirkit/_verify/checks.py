"""`dirkit verify`: prove that an AD user can really use the cluster, from outside it.

Per user, in a private credential cache (a fresh 0700 directory; never the admin's):
  identity  not a reserved name, in no superuser group (the cluster's identities stay its own)
  kerberos  TGT from AD, then a cluster-realm service ticket through the trust
  name      the short name Hadoop's auth_to_local gives the principal = dirkit's name
  hdfs      the home exists, is the user's, and the user can list it over WebHDFS (SPNEGO)
  hive      PyHive (Kerberos) connects; SELECT current_user() = the short name; optional probe
  emrfs     the IAM role EMRFS would pick for each configured S3 path
  node      a cluster node's `id USER` is what dirkit predicts its SSSD says
Each check is a ``CheckDef``: a name, its timeout, and a function of the user (``Subject``,
read-only) and the credentials an earlier check obtained, returning its ``Check``. A check
whose service is not configured is reported as skipped. `verify --revoked` (revoked.py) runs
its own list of the same shape, some of them these probes with the verdict inverted.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import gssapi
from gssapi import Credentials
from gssapi.raw.misc import GSSError

from .. import _kerberos as kerberos
from .._child_env import child_env, through
from .._config import (
    Config,
    HdfsConfig,
    Timeouts,
    VerifyConfig,
    VerifyUser,
    ad_site,
    required,
    reserved_names,
    timeouts,
)
from .._directory.model import Directory
from .._directory.names import NamePolicy
from .._homes.webhdfs import WebHdfs
from .._outputs import hadoop, role_mappings
from .._outputs.auth_to_local import short_name
from .._outputs.emr import AWS_MANAGED_AD
from .._sssd import view as sssd_view
from .._sssd.view import ClusterView, differences, parse_id
from ..errors import AuthToLocalError, ConfigError, DirkitError, HdfsError, HdfsUnavailable

Status = Literal["pass", "fail", "skip"]
PASS: Status = "pass"
FAIL: Status = "fail"
SKIP: Status = "skip"
# Why a check failed, where a service was asked: it said no ("refused"), or said nothing
# ("unanswered"); "": it answered, and what it said was wrong. `verify --revoked` inverts on it.
Outcome = Literal["", "refused", "unanswered"]


@dataclass(frozen=True)
class Check:
    """One end-to-end check of one user (kinit, hdfs, hive...): pass, fail or skip, with what was seen."""

    name: str
    status: Status
    detail: str
    seconds: float = 0.0  # how long the check took (a slow service shows before it times out)
    outcome: Outcome = ""
    # What a login check obtained, for the checks after it (the runner passes it on; never printed).
    credentials: Credentials | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """This check as docs/json.md's `verify --json` documents it."""
        return {"check": self.name, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


def inverted(check: Check) -> Check:
    """A probe's verdict the other way round, for `verify --revoked`: access granted is "NOT
    denied", a refusal is "denied", no answer proves nothing ("not proven"); a skip stays one."""
    if check.status == PASS:
        return replace(check, status=FAIL, detail=f"NOT denied: {check.detail}")
    if check.status == SKIP:
        return check
    if check.outcome == "refused":
        return replace(check, status=PASS, detail=f"denied: {check.detail}")
    if check.outcome == "unanswered":
        return replace(check, status=FAIL, detail=f"not proven: {check.detail}")
    return replace(check, status=FAIL, detail=f"NOT denied: {check.detail}")


S = TypeVar("S")


def per_check(t: Timeouts) -> float:
    return t.verify_check


def hive_timeout(t: Timeouts) -> float:
    return t.hive_check


@dataclass(frozen=True)
class CheckDef(Generic[S]):
    """One check: its name, its timeout, and ``run(subject, credentials) -> Check``. Inputs are
    passed and the result returned: a check that times out is abandoned, and whatever it would
    have obtained never reaches the checks after it."""

    name: str
    run: Callable[[S, Credentials | None], Check]
    timeout: Callable[[Timeouts], float] = per_check


@dataclass
class UserReport:
    """Every check of one configured test identity, in order."""

    user: str
    principal: str
    checks: list[Check] = field(default_factory=list)
    ccache: str = ""  # where this user's tickets lived (removed afterwards)

    @property
    def ok(self) -> bool:
        """No check failed (skipped ones do not count against it)."""
        return all(c.status != FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """This report as docs/json.md's `verify --json` documents it."""
        return {
            "user": self.user,
            "principal": self.principal,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
        }


SSSD_PIPE = "/var/lib/sss/pipes/nss"  # where SSSD answers on a node


def probe_env(ccache: str) -> dict[str, str]:
    """The Hive probe's environment: the allow-list (child_env), and its own credential cache."""
    return child_env({"KRB5CCNAME": ccache})


def _klist_path(ccache: str, timeout: float) -> list[str]:
    """The tickets in the user's cache, e.g. the cross-realm TGT then the service ticket."""
    if not shutil.which("klist"):
        return []
    r = subprocess.run(["klist", "-c", ccache], capture_output=True, text=True, timeout=timeout)
    return [line.split()[-1] for line in r.stdout.splitlines() if "@" in line and line[:1].isdigit()]


def login(ident: VerifyUser, principal: str, ccache: str) -> gssapi.Credentials:
    """A TGT from AD for ``principal`` with the identity's keytab or password, into ``ccache``.
    Raises KerberosError, or SecretError when the password reference cannot be read."""
    if ident.keytab is not None:
        return kerberos.keytab_credentials(principal, ident.keytab, ccache)
    assert ident.password is not None  # the config allows exactly one
    return kerberos.password_credentials(principal, ident.password.resolve(), ccache)


def run_checks(checks: Sequence[CheckDef[S]], subject: S, t: Timeouts) -> list[Check]:
    """Each check in order, each bounded by its timeout (timed), with how long it took; the
    credentials a check returns go to the ones after it."""
    out = []
    creds: Credentials | None = None
    for c in checks:
        t0 = time.monotonic()
        check = timed(partial(c.run, subject, creds), c.name, c.timeout(t))
        creds = check.credentials or creds
        out.append(replace(check, seconds=time.monotonic() - t0, credentials=None))
    return out


def hive_session(v: VerifyConfig, ccache: str, expected: str, timeout: float) -> Check:
    """PyHive (Kerberos, the tickets in ``ccache``) opens a HiveServer2 session in a child
    process (PyHive's SASL layer reads only the default cache) and `current_user()` is ``expected``."""
    hv = v.hive
    assert hv is not None
    argv = [sys.executable, "-m", "dirkit._verify.hive_probe", hv.host, str(hv.port), hv.service_name]
    if hv.probe:
        argv.append(hv.probe)
    try:
        r = subprocess.run(argv, env=probe_env(ccache), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Check(
            "hive", FAIL, f"HiveServer2 {hv.host}:{hv.port} did not answer within {timeout:g}s", outcome="unanswered"
        )
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Check("hive", FAIL, f"probe crashed: {r.stderr.strip()[-300:]}", outcome="unanswered")
    if "error" in out:  # the session failed: the server (reachable, the caller checks) said no
        return Check("hive", FAIL, f"HiveServer2 {hv.host}:{hv.port}: {out['error']}", outcome="refused")
    if out["current_user"] != expected:
        return Check("hive", FAIL, f"current_user() is {out['current_user']!r}, expected {expected!r}")
    probe = f"; probe returned {out['probe_rows']} row(s)" if "probe_rows" in out else ""
    return Check("hive", PASS, f"current_user() = {out['current_user']}{probe}")


def node_argv(prefix: Sequence[str], name: str) -> list[str]:
    """``id -- NAME`` run through ``verify.node_command`` (quoted for ssh: child_env.through)."""
    return through(prefix, ["id", "--", name])


def timed(fn: Callable[[], Check], name: str, timeout: float) -> Check:
    """Run one check with a timeout. A check stuck in a library call is abandoned and reported;
    it runs on a daemon thread, so it cannot keep the process alive after the verdict (a
    ThreadPoolExecutor's workers are joined at interpreter exit)."""
    box: queue.Queue[Check] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            box.put(fn())
        except DirkitError as exc:
            box.put(Check(name, FAIL, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one check's surprise must not lose the other users' reports
            box.put(Check(name, FAIL, f"internal error in the {name} check: {type(exc).__name__}: {exc}"))

    threading.Thread(target=run, name=f"dirkit-verify-{name}", daemon=True).start()
    try:
        return box.get(timeout=timeout)
    except queue.Empty:
        return Check(name, FAIL, f"no answer within {timeout:g}s", outcome="unanswered")


@dataclass(frozen=True)
class Subject:
    """Everything `verify`'s checks read about one user, read-only: no check sees another's
    state except the credentials the runner passes on (``CheckDef``)."""

    cfg: Config
    d: Directory
    ident: VerifyUser
    view: ClusterView  # the cluster's view of the whole directory, predicted once per verify
    policy: NamePolicy
    expected: str  # dirkit's name for the user
    principal: str
    ccache: str  # the user's private credential cache
    timeouts: Timeouts

    @property
    def v(self) -> VerifyConfig:
        return required(self.cfg, "verify", self.cfg.verify)


@contextmanager
def subject(cfg: Config, d: Directory, ident: VerifyUser, view: ClusterView | None = None) -> Iterator[Subject]:
    """A Subject, with its credential cache in a fresh 0700 directory removed afterwards."""
    policy = NamePolicy(cfg.names, cfg.directory.realm, reserved_names(cfg))
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-verify-"))
    try:
        yield Subject(
            cfg,
            d,
            ident,
            view if view is not None else sssd_view.predict(d, cfg.sssd, cfg.directory.realm),
            policy,
            policy.normalise(ident.name).name or ident.name,
            f"{ident.name}@{cfg.directory.realm}",
            f"FILE:{tmp / 'ccache'}",
            timeouts(cfg),
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def identity(s: Subject, creds: Credentials | None) -> Check:
    """The AD account is a person, not one of the cluster's identities: its name is not
    reserved, and no group it is in (through any nesting) is a superuser group."""
    named = s.policy.normalise(s.ident.name)
    if named.reserved:
        return Check("identity", FAIL, f"{s.ident.name!r} is a reserved name: {named.reason}")
    u = s.d.user_by_name(named.name or s.ident.name)
    if u is None:
        return Check("identity", SKIP, f"{s.ident.name!r} is not a usable user in the AD snapshot")
    for g in sorted(s.d.groups.values(), key=lambda g: g.sam):
        if g.guid in s.d.effective.get(u.guid, {}) and s.policy.reserved.is_superuser_group(g.sam):
            via = " -> ".join(s.d.groups[x].sam for x in s.d.chain(u.guid, g.guid))
            return Check(
                "identity",
                FAIL,
                f"in {g.sam!r}, named like the cluster's superuser group (via {via}): a cluster whose group "
                "mapping sees it makes this user an HDFS superuser",
            )
    return Check("identity", PASS, "not a reserved name, in no superuser group")


def kerberos_check(s: Subject, creds: Credentials | None) -> Check:
    """A TGT from AD, then a cluster-realm service ticket through the trust; the TGT goes to
    the checks after this one (``Check.credentials``)."""
    if s.d.aws_managed_ad:  # the trust this check walks cannot exist with such a directory
        return Check("kerberos", FAIL, f"{AWS_MANAGED_AD} (this directory is AWS Managed Microsoft AD)")
    try:
        got = login(s.ident, s.principal, s.ccache)
    except DirkitError as exc:  # KerberosError, or a SecretError for the password reference
        return Check("kerberos", FAIL, str(exc).split(" failed: ", 1)[-1])
    service = s.v.service_principal
    try:
        target = gssapi.Name(service, gssapi.NameType.kerberos_principal)
        gssapi.SecurityContext(name=target, creds=got, usage="initiate").step()
    except GSSError as exc:
        return Check("kerberos", FAIL, "TGT from AD ok; " + str(kerberos.ticket_error(service, exc)))
    path = _klist_path(s.ccache, s.timeouts.klist)
    detail = " -> ".join(path) if path else f"TGT from AD, ticket for {service}"
    return Check("kerberos", PASS, detail, credentials=got)


def name(s: Subject, creds: Credentials | None) -> Check:
    """The short name Hadoop's auth_to_local gives the principal is dirkit's name."""
    realm = s.v.cluster_realm or (s.cfg.emr.cluster_realm if s.cfg.emr else None)
    if realm is None:
        return Check("name", SKIP, "no verify.cluster_realm or emr.cluster_realm configured")
    try:
        mechanism = s.cfg.hadoop.auth_to_local_mechanism if s.cfg.hadoop else "hadoop"
        got = short_name(hadoop.auth_to_local(ad_site(s.cfg)), s.principal, realm, mechanism)
    except AuthToLocalError as exc:  # no rule, a malformed principal, a rule Hadoop refuses
        return Check("name", FAIL, f"auth_to_local: {exc}")
    if got != s.expected:
        return Check("name", FAIL, f"Hadoop maps {s.principal} to {got!r}, dirkit's name is {s.expected!r}")
    if s.d.user_by_name(got) is None:
        return Check("name", FAIL, f"{got!r} is not a usable user in the AD snapshot")
    return Check("name", PASS, f"{s.principal} -> {got}")


def hdfs_probe(h: HdfsConfig, creds: Credentials, home: str, owner: str, timeout: float) -> Check:
    """WebHDFS as ``creds``: ``home`` exists, is ``owner``'s, and can be listed. A refusal
    (401/403) is marked ``refused``, a NameNode that does not answer ``unanswered``."""
    try:
        with WebHdfs(h.url, creds, timeout=timeout, pool_size=1, ca_file=h.ca_file) as fs:
            st = fs.status(home)
            if st is None:
                return Check("hdfs", FAIL, f"no home at {home}")
            if st.owner != owner:
                return Check("hdfs", FAIL, f"{home} is owned by {st.owner!r}, not {owner!r}")
            entries = fs.list(home)
    except HdfsUnavailable as exc:
        return Check("hdfs", FAIL, str(exc), outcome="unanswered")
    except HdfsError as exc:
        return Check("hdfs", FAIL, str(exc), outcome="refused")
    return Check("hdfs", PASS, f"{home} is theirs ({st.permission}), listed {len(entries or [])} entries")


def hdfs_check(s: Subject, creds: Credentials | None) -> Check:
    h = s.cfg.hdfs
    if h is None:
        return Check("hdfs", SKIP, "no [hdfs] configured")
    if creds is None:
        return Check("hdfs", SKIP, "no Kerberos credentials (the kerberos check failed)")
    return hdfs_probe(h, creds, f"{h.prefix}/{s.expected}", s.expected, s.timeouts.verify_check)


def hive_check(s: Subject, creds: Credentials | None) -> Check:
    if s.v.hive is None:
        return Check("hive", SKIP, "no [verify.hive] configured")
    if creds is None:
        return Check("hive", SKIP, "no Kerberos credentials (the kerberos check failed)")
    return hive_session(s.v, s.ccache, s.expected, s.timeouts.verify_check)


def node(s: Subject, creds: Credentials | None) -> Check:
    """A node's `id USER` against what dirkit predicts its SSSD says."""
    argv = s.v.node_command if s.v.node_command is not None else ([] if Path(SSSD_PIPE).exists() else None)
    if argv is None:
        return Check("node", SKIP, "not on a cluster node (no SSSD here) and no verify.node_command")
    u = s.d.user_by_name(s.expected)
    if u is None:
        return Check("node", FAIL, f"{s.expected!r} is not a usable user in the AD snapshot")
    nu = s.view.users[u.guid]
    try:
        r = subprocess.run(
            node_argv(argv, nu.name),
            capture_output=True,
            text=True,
            timeout=s.timeouts.verify_check,
            env=child_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("node", FAIL, f"`{' '.join([*argv, 'id'])}` could not run: {exc}")
    answer = parse_id(r.stdout)
    if answer is None:
        return Check("node", FAIL, f"the node does not know {nu.name!r}: {(r.stderr or r.stdout).strip()[:200]}")
    wrong = differences(nu, answer)
    if wrong:
        return Check("node", FAIL, "the node differs from dirkit's prediction: " + "; ".join(wrong[:5]))
    lost = f"; {len(nu.unresolved)} group(s) shown as SIDs, as predicted" if nu.unresolved else ""
    return Check("node", PASS, f"uid={nu.uid} gid={nu.gid} and {len(nu.groups)} group(s) as predicted{lost}")


def emrfs(s: Subject, creds: Credentials | None) -> Check:
    if s.cfg.emr is None or not s.v.s3_paths:
        return Check("emrfs", SKIP, "no [emr] role mappings or verify.s3_paths configured")
    parts = []
    for path in s.v.s3_paths:
        dec = role_mappings.explain(s.cfg.emr, s.d, s.policy, s.expected, path)
        parts.append(f"{path} -> {dec.role.rsplit('/', 1)[-1]}")
    return Check("emrfs", PASS, "; ".join(parts))


# `dirkit verify`'s checks, in order: adding one is one function and one line here.
VERIFY: tuple[CheckDef[Subject], ...] = (
    CheckDef("identity", identity),
    CheckDef("kerberos", kerberos_check),
    CheckDef("name", name),
    CheckDef("hdfs", hdfs_check),
    CheckDef("hive", hive_check, hive_timeout),
    CheckDef("emrfs", emrfs),
    CheckDef("node", node),
)


def verify_user(cfg: Config, d: Directory, ident: VerifyUser, view: ClusterView | None = None) -> UserReport:
    with subject(cfg, d, ident, view) as s:
        return UserReport(ident.name, s.principal, run_checks(VERIFY, s, s.timeouts), ccache=s.ccache)


def verify(cfg: Config, d: Directory, names: list[str] | None = None) -> list[UserReport]:
    """Verify the configured test identities (or those named), concurrently."""
    v = required(cfg, "verify", cfg.verify)
    idents = v.users
    if names:
        by_name = {u.name.lower(): u for u in v.users}
        missing = [n for n in names if n.lower() not in by_name]
        if missing:
            raise ConfigError(
                f"no credentials for {', '.join(missing)}: add them to [[verify.users]] (keytab or password reference)"
            )
        idents = [by_name[n.lower()] for n in names]
    if not idents:
        raise ConfigError("verify.users is empty: nothing to verify")
    kerberos.use_krb5_conf(cfg.kerberos.krb5_conf)
    with ThreadPoolExecutor(max_workers=min(8, len(idents)), thread_name_prefix="dirkit-verify") as pool:
        view = sssd_view.predict(d, cfg.sssd, cfg.directory.realm)
        return list(pool.map(lambda i: verify_user(cfg, d, i, view), idents))
