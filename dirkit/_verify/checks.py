"""`dirkit verify`: prove that an AD user can really use the cluster, from outside it.

Per user, in a private credential cache (a fresh 0700 directory; never the admin's):
  kerberos  TGT from AD, then a cluster-realm service ticket through the trust
  name      the short name Hadoop's auth_to_local gives the principal = dirkit's name
  hdfs      the home exists, is the user's, and the user can list it over WebHDFS (SPNEGO)
  hive      PyHive (Kerberos) connects; SELECT current_user() = the short name; optional probe
  emrfs     the IAM role EMRFS would pick for each configured S3 path
Every check has a timeout; a check whose service is not configured is reported as skipped.
"""

from __future__ import annotations

import json
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gssapi
from gssapi.raw.misc import GSSError

from .. import _kerberos as kerberos
from .._child_env import child_env
from .._config import Config, Timeouts, VerifyConfig, VerifyUser, ad_site, required, reserved_names, timeouts
from .._directory.model import Directory
from .._directory.names import NamePolicy
from .._homes.webhdfs import WebHdfs
from .._outputs import hadoop, role_mappings
from .._outputs.auth_to_local import short_name
from .._outputs.emr import AWS_MANAGED_AD
from .._sssd import view as sssd_view
from .._sssd.view import ClusterView, differences, parse_id
from ..errors import AuthToLocalError, ConfigError, DirkitError, HdfsError

CHECKS = ("identity", "kerberos", "name", "hdfs", "hive", "emrfs", "node")
PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Check:
    """One end-to-end check of one user (kinit, hdfs, hive...): pass, fail or skip, with what was seen."""

    name: str
    status: str  # pass | fail | skip
    detail: str
    seconds: float = 0.0  # how long the check took (a slow service shows before it times out)

    def to_json(self) -> dict[str, Any]:
        """This check as docs/json.md's `verify --json` documents it."""
        return {"check": self.name, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


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


def run_checks(steps: Sequence[tuple[str, Callable[[], Check]]], t: Timeouts) -> list[Check]:
    """Each step in order, each bounded by its timeout (timed), with how long it took."""
    out = []
    for name, fn in steps:
        t0 = time.monotonic()
        check = timed(fn, name, t.hive_check if name == "hive" else t.verify_check)
        out.append(replace(check, seconds=time.monotonic() - t0))
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
        return Check("hive", FAIL, f"HiveServer2 {hv.host}:{hv.port} did not answer within {timeout:g}s")
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Check("hive", FAIL, f"probe crashed: {r.stderr.strip()[-300:]}")
    if "error" in out:
        return Check("hive", FAIL, f"HiveServer2 {hv.host}:{hv.port}: {out['error']}")
    if out["current_user"] != expected:
        return Check("hive", FAIL, f"current_user() is {out['current_user']!r}, expected {expected!r}")
    probe = f"; probe returned {out['probe_rows']} row(s)" if "probe_rows" in out else ""
    return Check("hive", PASS, f"current_user() = {out['current_user']}{probe}")


class _UserRun:
    def __init__(self, cfg: Config, d: Directory, ident: VerifyUser, view: ClusterView | None = None) -> None:
        self.cfg, self.d, self.ident = cfg, d, ident
        # The cluster's view of the whole directory: predicted once per verify, not per user.
        self.view = view if view is not None else sssd_view.predict(d, cfg.sssd, cfg.directory.realm)
        self.v = required(cfg, "verify", cfg.verify)
        self.timeouts = timeouts(cfg)
        self.policy = NamePolicy(cfg.names, cfg.directory.realm, reserved_names(cfg))
        self.expected = self.policy.normalise(ident.name).name or ident.name
        self.principal = f"{ident.name}@{cfg.directory.realm}"
        self.tmp = Path(tempfile.mkdtemp(prefix="dirkit-verify-"))  # mode 0700
        self.ccache = f"FILE:{self.tmp / 'ccache'}"
        self.creds: gssapi.Credentials | None = None

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def identity(self) -> Check:
        """The AD account is a person, not one of the cluster's identities: its name is not
        reserved, and no group it is in (through any nesting) is a superuser group."""
        named = self.policy.normalise(self.ident.name)
        if named.reserved:
            return Check("identity", FAIL, f"{self.ident.name!r} is a reserved name: {named.reason}")
        u = self.d.user_by_name(named.name or self.ident.name)
        if u is None:
            return Check("identity", SKIP, f"{self.ident.name!r} is not a usable user in the AD snapshot")
        for g in sorted(self.d.groups.values(), key=lambda g: g.sam):
            if g.guid in self.d.effective.get(u.guid, {}) and self.policy.reserved.is_superuser_group(g.sam):
                via = " -> ".join(self.d.groups[x].sam for x in self.d.chain(u.guid, g.guid))
                return Check(
                    "identity",
                    FAIL,
                    f"in {g.sam!r}, named like the cluster's superuser group (via {via}): a cluster whose group "
                    "mapping sees it makes this user an HDFS superuser",
                )
        return Check("identity", PASS, "not a reserved name, in no superuser group")

    def kerberos(self) -> Check:
        if self.d.aws_managed_ad:  # the trust this check walks cannot exist with such a directory
            return Check("kerberos", FAIL, f"{AWS_MANAGED_AD} (this directory is AWS Managed Microsoft AD)")
        try:
            creds = login(self.ident, self.principal, self.ccache)
        except DirkitError as exc:  # KerberosError, or a SecretError for the password reference
            return Check("kerberos", FAIL, str(exc).split(" failed: ", 1)[-1])
        return self._service_ticket(creds)

    def _service_ticket(self, creds: gssapi.Credentials) -> Check:
        service = self.v.service_principal
        try:
            target = gssapi.Name(service, gssapi.NameType.kerberos_principal)
            gssapi.SecurityContext(name=target, creds=creds, usage="initiate").step()
        except GSSError as exc:
            return Check("kerberos", FAIL, "TGT from AD ok; " + str(kerberos.ticket_error(service, exc)))
        self.creds = creds
        path = _klist_path(self.ccache, self.timeouts.klist)
        return Check("kerberos", PASS, " -> ".join(path) if path else f"TGT from AD, ticket for {service}")

    def name(self) -> Check:
        realm = self.v.cluster_realm or (self.cfg.emr.cluster_realm if self.cfg.emr else None)
        if realm is None:
            return Check("name", SKIP, "no verify.cluster_realm or emr.cluster_realm configured")
        try:
            mechanism = self.cfg.hadoop.auth_to_local_mechanism if self.cfg.hadoop else "hadoop"
            got = short_name(hadoop.auth_to_local(ad_site(self.cfg)), self.principal, realm, mechanism)
        except AuthToLocalError as exc:  # no rule, a malformed principal, a rule Hadoop refuses
            return Check("name", FAIL, f"auth_to_local: {exc}")
        if got != self.expected:
            return Check("name", FAIL, f"Hadoop maps {self.principal} to {got!r}, dirkit's name is {self.expected!r}")
        if self.d.user_by_name(got) is None:
            return Check("name", FAIL, f"{got!r} is not a usable user in the AD snapshot")
        return Check("name", PASS, f"{self.principal} -> {got}")

    def hdfs(self) -> Check:
        h = self.cfg.hdfs
        if h is None:
            return Check("hdfs", SKIP, "no [hdfs] configured")
        if self.creds is None:
            return Check("hdfs", SKIP, "no Kerberos credentials (step 1 failed)")
        home = f"{h.prefix}/{self.expected}"
        try:
            with WebHdfs(h.url, self.creds, timeout=self.timeouts.verify_check, pool_size=1, ca_file=h.ca_file) as fs:
                st = fs.status(home)
                if st is None:
                    return Check("hdfs", FAIL, f"no home at {home}")
                if st.owner != self.expected:
                    return Check("hdfs", FAIL, f"{home} is owned by {st.owner!r}, not {self.expected!r}")
                entries = fs.list(home)
        except HdfsError as exc:
            return Check("hdfs", FAIL, str(exc))
        return Check("hdfs", PASS, f"{home} is theirs ({st.permission}), listed {len(entries or [])} entries")

    def hive(self) -> Check:
        if self.v.hive is None:
            return Check("hive", SKIP, "no [verify.hive] configured")
        if self.creds is None:
            return Check("hive", SKIP, "no Kerberos credentials (step 1 failed)")
        return hive_session(self.v, self.ccache, self.expected, self.timeouts.verify_check)

    def node(self) -> Check:
        """A node's `id USER` against what dirkit predicts its SSSD says."""
        argv = self.v.node_command if self.v.node_command is not None else ([] if Path(SSSD_PIPE).exists() else None)
        if argv is None:
            return Check("node", SKIP, "not on a cluster node (no SSSD here) and no verify.node_command")
        u = self.d.user_by_name(self.expected)
        if u is None:
            return Check("node", FAIL, f"{self.expected!r} is not a usable user in the AD snapshot")
        nu = self.view.users[u.guid]
        try:
            r = subprocess.run(
                node_argv(argv, nu.name),
                capture_output=True,
                text=True,
                timeout=self.timeouts.verify_check,
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

    def emrfs(self) -> Check:
        if self.cfg.emr is None or not self.v.s3_paths:
            return Check("emrfs", SKIP, "no [emr] role mappings or verify.s3_paths configured")
        parts = []
        for path in self.v.s3_paths:
            dec = role_mappings.explain(self.cfg.emr, self.d, self.policy, self.expected, path)
            parts.append(f"{path} -> {dec.role.rsplit('/', 1)[-1]}")
        return Check("emrfs", PASS, "; ".join(parts))


def node_argv(prefix: Sequence[str], name: str) -> list[str]:
    """``id -- NAME`` run through ``verify.node_command``. ssh joins its arguments with spaces
    and hands them to the remote user's shell, which parses them again: there the command goes
    as one shell-quoted string, so a name holding ``;``, ``$(...)`` or spaces stays one argument."""
    command = ["id", "--", name]
    if prefix and Path(prefix[0]).name == "ssh":
        return [*prefix, shlex.join(command)]
    return [*prefix, *command]


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
        return Check(name, FAIL, f"no answer within {timeout:g}s")


def verify_user(cfg: Config, d: Directory, ident: VerifyUser, view: ClusterView | None = None) -> UserReport:
    run = _UserRun(cfg, d, ident, view)
    report = UserReport(ident.name, run.principal, ccache=run.ccache)
    steps = (
        ("identity", run.identity),
        ("kerberos", run.kerberos),
        ("name", run.name),
        ("hdfs", run.hdfs),
        ("hive", run.hive),
        ("emrfs", run.emrfs),
        ("node", run.node),
    )
    try:
        report.checks = run_checks(steps, run.timeouts)
    finally:
        run.close()
    return report


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
