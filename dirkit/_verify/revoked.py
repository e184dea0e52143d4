"""`dirkit verify --revoked`: prove that users disabled or removed in AD are really out.

For each user revoked in a window (enabled in the snapshot in force at its start, disabled or
gone in the last applied one), checks run again and pass only on evidence that would have come
out otherwise for an enabled user:
  ad        AD's own answer, now: the account re-read by objectGUID from a DC is gone,
            disabled (userAccountControl) or expired (accountExpires). An account AD still
            has enabled fails ("NOT denied"), whatever the snapshot said.
  kerberos  with the user's credentials from [[verify.users]], AD's KDC refuses a TGT because
            the account is revoked (disabled, locked, expired) or unknown. A wrong or stale
            key, or an expired password, proves nothing (AD checks pre-authentication before
            the account's state: "not proven"); without credentials the check is skipped.
  hdfs      `verify`'s WebHDFS probe with the TGT the kerberos check got, inverted: the
            NameNode must refuse that principal.
  hive      `verify`'s PyHive probe with that TGT, inverted: the session must fail.
The services are asked only as that principal: a request without a ticket is refused for
anyone, so it proves nothing, and without a TGT the checks are skipped. A service that does not
answer proves nothing either ("not proven"). The verdict is "denied" only when the ad check
passed and no check failed; it says which evidence it rests on (Revocation.evidence). Tickets
issued before the revocation stay valid until they expire (AD: 10 h by default): that is
Kerberos, and the proof says so.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gssapi import Credentials

from .. import _kerberos as kerberos
from .._config import Config, Timeouts, VerifyConfig, VerifyUser, required, timeouts
from .._directory.model import AccountState
from .._homes.policy import home_path
from .._report import Revoked
from .._state import Revocation
from ..errors import KerberosError, KerberosReason
from .checks import (
    FAIL,
    PASS,
    SKIP,
    Check,
    CheckDef,
    UserReport,
    hdfs_probe,
    hive_session,
    hive_timeout,
    inverted,
    login,
    run_checks,
)

# A login refused for one of these proves the account is out (AD answers CLIENT_REVOKED for a
# disabled, locked or expired account); any other failure proves nothing: a wrong or stale key
# (AD checks pre-authentication before the account's state), an expired *password* (KEY_EXP:
# the user may change it and be back), no KDC, clock skew...
DENIED: frozenset[KerberosReason] = frozenset({"revoked", "unknown_principal"})
TICKET_NOTE = "tickets issued before the revocation stay valid until they expire"


def prove(cfg: Config, revoked: Sequence[Revoked], accounts: Mapping[str, AccountState] | str) -> list[UserReport]:
    """One report per revoked user: a check passes when the access was refused. ``accounts``:
    objectGUID -> the account as AD says it is now, or why AD could not be asked."""
    v = required(cfg, "verify", cfg.verify)
    known = {u.name.lower(): u for u in v.users}
    kerberos.use_krb5_conf(cfg.kerberos.krb5_conf)
    return [
        _prove(cfg, v, r, known.get(r.sam_account_name.lower()) or known.get(r.name.lower()), accounts) for r in revoked
    ]


def proof(r: Revoked, report: UserReport, when: float) -> Revocation:
    """What the state keeps of one user's proof (the report shows it)."""
    checks = tuple({"check": c.name, "status": c.status, "detail": c.detail} for c in report.checks)
    return Revocation(r.guid, r.name, when, denied(report), checks)


@dataclass(frozen=True)
class Revokee:
    """Everything the checks read about one revoked user (read-only)."""

    cfg: Config
    v: VerifyConfig
    r: Revoked
    ident: VerifyUser | None  # their [[verify.users]] credentials, if any
    accounts: Mapping[str, AccountState] | str  # AD's answer, or why AD could not be asked
    principal: str
    ccache: str
    timeouts: Timeouts


def ad(p: Revokee, creds: Credentials | None) -> Check:
    """AD's own answer now: the account by objectGUID is gone, disabled or expired."""
    if isinstance(p.accounts, str):
        return Check("ad", FAIL, f"not proven: AD could not be asked ({p.accounts})")
    state = p.accounts.get(p.r.guid)
    if state is None:
        return Check("ad", FAIL, "not proven: AD was not asked about this account")
    why = state.out(time.time())
    if why is None:
        return Check("ad", FAIL, f"NOT denied: AD has {state.sam or p.r.sam_account_name} enabled (asked {state.dc})")
    return Check("ad", PASS, f"denied: {why}")


def ticket(p: Revokee, creds: Credentials | None) -> Check:
    """With the user's credentials, AD's KDC refuses a TGT because the account is out; a TGT
    it does issue goes to the service checks, which ask as that principal."""
    if p.ident is None:
        return Check(
            "kerberos", SKIP, f"no credentials for {p.r.sam_account_name} in [[verify.users]]: AD {p.r.why} the account"
        )
    try:
        got = login(p.ident, p.principal, p.ccache)
    except KerberosError as exc:
        verdict = PASS if exc.reason in DENIED else FAIL
        word = "denied" if verdict == PASS else "not proven"
        return Check("kerberos", verdict, f"{word}: {str(exc).split(' failed: ', 1)[-1]}; {TICKET_NOTE}")
    return Check(
        "kerberos", FAIL, f"NOT denied: AD issued a TGT to {p.principal} ({p.r.why} in the snapshot)", credentials=got
    )


NO_TICKET = "no TGT for this principal (see kerberos): a request without one is refused for anyone"


def hdfs(p: Revokee, creds: Credentials | None) -> Check:
    """`verify`'s WebHDFS probe with their TGT, the verdict inverted."""
    h = p.cfg.hdfs
    home = home_path(h.prefix, p.r.name) if h else None
    if h is None or home is None:
        return Check("hdfs", SKIP, "no [hdfs] configured")
    if creds is None:
        return Check("hdfs", SKIP, NO_TICKET)
    return inverted(hdfs_probe(h, creds, home, p.r.name, p.timeouts.verify_check))


def hive(p: Revokee, creds: Credentials | None) -> Check:
    """`verify`'s PyHive probe in their cache (holding the TGT), the verdict inverted."""
    if p.v.hive is None:
        return Check("hive", SKIP, "no [verify.hive] configured")
    if creds is None:
        return Check("hive", SKIP, NO_TICKET)
    try:  # a server that is not there refuses nobody: that proves nothing
        socket.create_connection((p.v.hive.host, p.v.hive.port), timeout=p.timeouts.verify_check).close()
    except OSError as exc:
        return Check("hive", FAIL, f"not proven: HiveServer2 {p.v.hive.host}:{p.v.hive.port} unreachable ({exc})")
    return inverted(hive_session(p.v, p.ccache, p.r.name, p.timeouts.verify_check))


# `verify --revoked`'s checks, in order.
REVOKED: tuple[CheckDef[Revokee], ...] = (
    CheckDef("ad", ad),
    CheckDef("kerberos", ticket),
    CheckDef("hdfs", hdfs),
    CheckDef("hive", hive, hive_timeout),
)


def _prove(
    cfg: Config, v: VerifyConfig, r: Revoked, ident: VerifyUser | None, accounts: Mapping[str, AccountState] | str
) -> UserReport:
    t = timeouts(cfg)
    principal = f"{r.sam_account_name}@{cfg.directory.realm}"
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-revoked-"))  # 0700; its ccache holds what a login got
    try:
        who = Revokee(cfg, v, r, ident, accounts, principal, f"FILE:{tmp / 'ccache'}", t)
        return UserReport(r.name, principal, run_checks(REVOKED, who, t))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def denied(report: UserReport) -> bool:
    """AD's own answer keeps the account out, and no check found otherwise (or could not tell)."""
    return report.ok and any(c.name == "ad" and c.status == PASS for c in report.checks)
