"""`dirkit verify --revoked`: prove that users disabled or removed in AD are really out.

For each user revoked in a window (enabled in the snapshot in force at its start, disabled or
gone in the last applied one), the end-to-end checks run again and pass only when the access
is *refused*:
  kerberos  with the user's credentials from [[verify.users]], AD's KDC refuses a TGT
            (disabled, unknown, or the credential no longer valid). Without credentials the
            check is skipped: Samba's KDC asks for pre-authentication before it looks at the
            account (seen on the lab), so nothing short of the password proves a disabled
            account out.
  hdfs      WebHDFS on the user's home, with the tickets step 1 got (none, when refused):
            the NameNode must answer 401/403.
  hive      the same PyHive probe as `verify`, in a credential cache holding what step 1 got:
            HiveServer2 must be reachable and the session must fail.
A service that does not answer proves nothing: that check fails as "not proven".
Tickets issued before the revocation stay valid until they expire (AD: 10 h by default):
that is Kerberos, and the proof says so.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import gssapi
import requests

from .. import _kerberos as kerberos
from .._config import Config, VerifyConfig, VerifyUser, required, timeouts
from .._homes.policy import home_path
from .._homes.webhdfs import WebHdfs
from .._report import Revoked
from .._state import Revocation
from ..errors import HdfsError, HdfsUnavailable, KerberosError
from .checks import FAIL, PASS, SKIP, Check, UserReport, hive_session, login, run_checks

# A login refused for one of these proves the credential is out; any other failure (no KDC,
# clock skew...) proves nothing.
DENIED = frozenset({"revoked", "unknown_principal", "expired", "bad_key", "stale_key"})
TICKET_NOTE = "tickets issued before the revocation stay valid until they expire"


def prove(cfg: Config, revoked: Sequence[Revoked]) -> list[UserReport]:
    """One report per revoked user: a check passes when the access was refused."""
    v = required(cfg, "verify", cfg.verify)
    known = {u.name.lower(): u for u in v.users}
    kerberos.use_krb5_conf(cfg.kerberos.krb5_conf)
    return [_prove(cfg, v, r, known.get(r.sam_account_name.lower()) or known.get(r.name.lower())) for r in revoked]


def proof(r: Revoked, report: UserReport, when: float) -> Revocation:
    """What the state keeps of one user's proof (the report shows it)."""
    checks = tuple({"check": c.name, "status": c.status, "detail": c.detail} for c in report.checks)
    return Revocation(r.guid, r.name, when, denied(report), checks)


def _prove(cfg: Config, v: VerifyConfig, r: Revoked, ident: VerifyUser | None) -> UserReport:
    t = timeouts(cfg)
    principal = f"{r.sam_account_name}@{cfg.directory.realm}"
    report = UserReport(r.name, principal)
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-revoked-"))  # 0700; its ccache holds what step 1 got
    ccache = f"FILE:{tmp / 'ccache'}"
    creds: list[gssapi.Credentials] = []

    def ticket() -> Check:
        if ident is None:
            return Check(
                "kerberos", SKIP, f"no credentials for {r.sam_account_name} in [[verify.users]]: AD {r.why} the account"
            )
        try:
            got = login(ident, principal, ccache)
        except KerberosError as exc:
            verdict = PASS if exc.reason in DENIED else FAIL
            word = "denied" if verdict == PASS else "not proven"
            return Check("kerberos", verdict, f"{word}: {str(exc).split(' failed: ', 1)[-1]}; {TICKET_NOTE}")
        creds.append(got)
        return Check("kerberos", FAIL, f"NOT denied: AD issued a TGT to {principal} ({r.why} in the snapshot)")

    def hdfs() -> Check:
        h = cfg.hdfs
        home = home_path(h.prefix, r.name) if h else None
        if h is None or home is None:
            return Check("hdfs", SKIP, "no [hdfs] configured")
        if creds:
            try:
                with WebHdfs(h.url, creds[0], timeout=t.verify_check, pool_size=1, ca_file=h.ca_file) as fs:
                    entries = fs.list(home)
            except HdfsUnavailable as exc:  # no answer proves nothing
                return Check("hdfs", FAIL, f"not proven: {exc}")
            except HdfsError as exc:
                return Check("hdfs", PASS, f"denied: {exc}")
            return Check("hdfs", FAIL, f"NOT denied: listed {home} ({len(entries or [])} entries)")
        # No ticket to offer: the request goes without one, as the user's client's would.
        url = f"{h.url.rstrip('/')}{quote(home, safe='/')}?op=LISTSTATUS"  # as WebHdfs.url encodes it
        try:
            answer = requests.get(url, timeout=t.verify_check, verify=str(h.ca_file) if h.ca_file else True)
        except requests.RequestException as exc:
            return Check("hdfs", FAIL, f"not proven: the NameNode did not answer ({exc})")
        if answer.status_code in (401, 403):
            return Check("hdfs", PASS, f"denied: the NameNode answers {answer.status_code} without a ticket")
        return Check("hdfs", FAIL, f"NOT denied: LISTSTATUS {home} without a ticket answered {answer.status_code}")

    def hive() -> Check:
        # `verify`'s own probe, in this user's cache: empty unless AD issued a ticket.
        if v.hive is None:
            return Check("hive", SKIP, "no [verify.hive] configured")
        try:  # a server that is not there refuses nobody: that proves nothing
            socket.create_connection((v.hive.host, v.hive.port), timeout=t.verify_check).close()
        except OSError as exc:
            return Check("hive", FAIL, f"not proven: HiveServer2 {v.hive.host}:{v.hive.port} unreachable ({exc})")
        got = hive_session(v, ccache, r.name, t.verify_check)
        if got.status == PASS:
            return Check("hive", FAIL, f"NOT denied: {got.detail}")
        return Check("hive", PASS, f"denied: {got.detail}")

    try:
        report.checks = run_checks((("kerberos", ticket), ("hdfs", hdfs), ("hive", hive)), t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def denied(report: UserReport) -> bool:
    """Every check that ran refused the access, and at least one ran."""
    return report.ok and any(c.status == PASS for c in report.checks)
