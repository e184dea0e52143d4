"""The lab's Samba AD DC (AD.DIRKIT.TEST): provision once, cache, restore, start, stop."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import time
from pathlib import Path

from ..errors import LabError
from . import host, seed, tls
from . import settings as s
from .settings import LabPaths

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # has Samba's python bindings (a venv does not)
TRUST_SID = "S-1-5-21-1111-2222-3333"  # the MIT realm has no SID; Samba insists on one


def _provision_args(p: LabPaths) -> list[str]:
    run = p.samba / "run"
    options = {
        "netbios name": "DC1",
        "interfaces": s.AD_IP,
        "bind interfaces only": "yes",
        # ldap3 cannot sign/seal: its GSSAPI bind works only inside TLS (LDAPS or StartTLS).
        "ldap server require strong auth": "allow_sasl_over_tls",
        "pid directory": str(run),
        "ncalrpc dir": str(run / "ncalrpc"),
        "winbindd socket directory": str(run / "winbindd"),
        "ntp signd socket directory": str(run / "ntp_signd"),
        "log file": str(p.samba / "samba.log"),
        # The lab's own certificate (lab/tls.py), not Samba's self-generated one.
        "tls enabled": "yes",
        "tls keyfile": str(p.tls / "key.pem"),
        "tls certfile": str(p.tls / "cert.pem"),
        "tls cafile": str(p.tls / "ca.pem"),
    }
    return [
        "samba-tool",
        "domain",
        "provision",
        f"--targetdir={p.samba}",
        f"--realm={s.AD_REALM}",
        f"--domain={s.AD_NETBIOS}",
        "--server-role=dc",
        "--dns-backend=SAMBA_INTERNAL",
        "--use-rfc2307",
        "--host-name=dc1",
        f"--host-ip={s.AD_IP}",
        f"--adminpass={s.ADMIN_PASSWORD}",
        *(f"--option={k} = {v}" for k, v in options.items()),
    ]


def cache_key(bulk_users: int) -> str:
    """Changes whenever the code that builds the database changes, so a stale cache is never used."""
    h = hashlib.sha256()
    for f in ("ad_dc.py", "seed.py", "_samba_seed.py", "bulk.py"):
        h.update((HERE / f).read_bytes())
    h.update(str(bulk_users).encode())
    return h.hexdigest()[:12]


def golden_dir(p: LabPaths, bulk_users: int) -> Path:
    return p.golden / f"ad-{cache_key(bulk_users)}-bulk{bulk_users}"


def _samba_tool(p: LabPaths, *args: str) -> None:
    host.run(["samba-tool", *args, f"--configfile={p.smb_conf}"], log=p.logs / "samba-tool.log")


def provision(p: LabPaths, bulk_users: int = 0) -> None:
    """Provision a new domain, write the seed identities, trust and keytabs (samba stopped)."""
    from . import bulk

    shutil.rmtree(p.samba, ignore_errors=True)
    (p.samba / "run").mkdir(parents=True)
    host.run(_provision_args(p), log=p.logs / "provision.log")
    spec = seed.SEED.to_json()
    spec.update(
        password=s.USER_PASSWORD,
        realm=s.AD_REALM,
        trust={"partner": s.EMR_REALM, "flatname": "EMR", "sid": TRUST_SID, "password": s.CROSS_REALM_PASSWORD},
    )
    host.run([SYSTEM_PYTHON, HERE / "_samba_seed.py", p.smb_conf], input=json.dumps(spec), log=p.logs / "seed.log")
    # Let the sync account use DirSync without OBJECT_SECURITY ("Replicating Directory Changes").
    sid = _user_sid(p, s.SYNC_ACCOUNT)
    _samba_tool(
        p,
        "dsacl",
        "set",
        "--action=allow",
        f"--objectdn={s.AD_BASE}",
        f"--sddl=(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;{sid})",
    )
    p.keytabs.mkdir(parents=True, exist_ok=True)
    for user in seed.SEED.users:
        if user.keytab:
            kt = p.keytab(user.sam)
            kt.unlink(missing_ok=True)
            _samba_tool(p, "domain", "exportkeytab", str(kt), f"--principal={user.sam}@{s.AD_REALM}")
    if bulk_users:
        bulk.load(p, bulk_users)


def _user_sid(p: LabPaths, sam: str) -> str:
    out = host.run(["ldbsearch", "-H", p.sam_ldb, f"(sAMAccountName={sam})", "objectSid"]).stdout
    for line in out.splitlines():
        if line.startswith("objectSid:"):
            return line.split(":", 1)[1].strip()
    raise LabError(f"no objectSid for {sam} in {p.sam_ldb}")


def _ad_keytabs() -> list[str]:
    return [u.sam for u in seed.SEED.users if u.keytab]


def save_golden(p: LabPaths, bulk_users: int) -> None:
    gold = golden_dir(p, bulk_users)
    shutil.rmtree(gold, ignore_errors=True)
    gold.parent.mkdir(parents=True, exist_ok=True)
    tmp = gold.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(p.samba, tmp / "samba", symlinks=True)
    (tmp / "keytabs").mkdir()
    for name in _ad_keytabs():
        shutil.copy2(p.keytab(name), tmp / "keytabs")
    tmp.rename(gold)  # a half-written cache is never picked up


def restore_golden(p: LabPaths, bulk_users: int) -> bool:
    gold = golden_dir(p, bulk_users)
    if not (gold / "samba" / "private" / "sam.ldb").exists():
        return False
    if p.samba.exists():  # samba is stopped, with its workers: nothing recreates files now
        shutil.rmtree(p.samba)
    shutil.copytree(gold / "samba", p.samba, symlinks=True)
    p.keytabs.mkdir(parents=True, exist_ok=True)
    for kt in (gold / "keytabs").iterdir():
        shutil.copy2(kt, p.keytabs / kt.name)
    return True


def start(p: LabPaths) -> None:
    tls.ensure(p.tls)
    if host.pid_alive(p.samba_pid) is None:
        host.run(["samba", "-D", f"--configfile={p.smb_conf}"], log=p.logs / "samba-start.log")


def stop(p: LabPaths) -> None:
    host.stop_pid(p.samba_pid)


def running(p: LabPaths) -> bool:
    return host.pid_alive(p.samba_pid) is not None


def ldaps_ready(p: LabPaths) -> bool:
    if not p.samba_ca.exists():
        return False
    ctx = ssl.create_default_context(cafile=str(p.samba_ca))
    with socket.create_connection((s.AD_HOST, 636), timeout=2) as sock:
        with ctx.wrap_socket(sock, server_hostname=s.AD_HOST):
            return True


def kdc_ready(p: LabPaths) -> bool:
    ccache = p.ccaches / "ad-ready"
    p.ccaches.mkdir(parents=True, exist_ok=True)
    env = {"KRB5_CONFIG": str(p.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}
    try:
        r = host.run(
            ["kinit", "-k", "-t", p.keytab(s.SYNC_ACCOUNT), f"{s.SYNC_ACCOUNT}@{s.AD_REALM}"],
            env=env,
            check=False,
            timeout=10,
        )
        # A TGT is not enough: for a moment after start Samba's KDC answers AS requests but not
        # yet TGS requests for its own ldap/ service ("Server not found in Kerberos database"),
        # which made the first GSSAPI bind after a restart fail now and then.
        return (
            r.returncode == 0
            and host.run(["kvno", f"ldap/{s.AD_HOST}"], env=env, check=False, timeout=10).returncode == 0
        )
    finally:
        ccache.unlink(missing_ok=True)


def ready(p: LabPaths) -> bool:
    """LDAP, LDAPS (verified against the DC's CA) and the KDC all answer."""
    return host.port_open(s.AD_IP, 389) and ldaps_ready(p) and kdc_ready(p)


def wait_ready(p: LabPaths, timeout: float = 60) -> float:
    started = time.monotonic()

    def check() -> bool:
        # `samba -D` writes its PID file a moment after it returns: only a process that is
        # still missing after a few seconds has really died.
        if not running(p) and time.monotonic() - started > 5:
            log_file = p.samba / "samba.log"
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            raise LabError("samba exited during start-up; last log lines:\n" + "\n".join(log.splitlines()[-10:]))
        return running(p) and ready(p)

    waited = host.wait_until(check, timeout, "Samba AD DC")
    shutil.copy2(p.samba_ca, p.ca_cert)
    return waited
