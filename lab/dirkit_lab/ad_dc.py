"""The lab's Samba AD DC (AD.DIRKIT.TEST): provision once, cache, restore, start, stop."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import stat
import time
from collections.abc import Callable
from pathlib import Path

from dirkit._safe_files import write_atomic

from . import host, kdc, seed, tls
from . import settings as s
from .errors import LabError
from .settings import DcPaths, LabPaths

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # has Samba's python bindings (a venv does not)
TRUST_SID = "S-1-5-21-1111-2222-3333"  # the MIT realm has no SID; Samba insists on one
DCS = ("dc1", "dc2")


def _options(p: LabPaths, dc: DcPaths) -> dict[str, str]:
    """smb.conf settings of one lab DC (given at provision or join, so Samba writes them)."""
    run = dc.dir / "run"
    return {
        "netbios name": dc.name.upper(),
        # No NetBIOS: the lab needs none, and Samba 4.22 (Debian 13) in a container cannot start
        # its NBT server (its socket directory /run/samba/nmbd is built in and missing there).
        "disable netbios": "yes",
        "interfaces": dc.ip,
        "bind interfaces only": "yes",
        "ldap server require strong auth": strong_auth(),
        "pid directory": str(run),
        "ncalrpc dir": str(run / "ncalrpc"),
        "winbindd socket directory": str(run / "winbindd"),
        "ntp signd socket directory": str(run / "ntp_signd"),
        "log file": str(dc.log),
        # The lab's own certificate (lab/tls.py, one for both DCs), not Samba's self-generated one.
        "tls enabled": "yes",
        "tls keyfile": str(p.tls / "key.pem"),
        "tls certfile": str(p.tls / "cert.pem"),
        "tls cafile": str(p.tls / "ca.pem"),
    }


def strong_auth() -> str:
    """The strictest ``ldap server require strong auth`` dirkit can bind under on this Samba.

    From 4.21, ``yes`` (the default) is Windows' hardening: SASL inside TLS must carry the TLS
    channel bindings (LdapEnforceChannelBinding = 2), plain-LDAP SASL must sign, simple binds
    need TLS; ldap3 sends the bindings, so dirkit binds. Before 4.21, ``yes`` also refuses SASL
    inside TLS unless it signs as well (which Windows never asks), and ldap3 has no SASL
    security layer, so the lab there allows SASL over TLS (the container lab's DCs run 4.22)."""
    version = _samba_version()
    series = tuple(int(x) for x in version.split(".")) if version else (0, 0)
    return "yes" if series >= (4, 21) else "allow_sasl_over_tls"


def _provision_args(p: LabPaths) -> list[str]:
    dc = p.dc("dc1")
    return [
        "samba-tool",
        "domain",
        "provision",
        f"--targetdir={dc.dir}",
        f"--realm={s.AD_REALM}",
        f"--domain={s.AD_NETBIOS}",
        "--server-role=dc",
        "--dns-backend=SAMBA_INTERNAL",
        "--use-rfc2307",
        f"--host-name={dc.name}",
        f"--host-ip={dc.ip}",
        f"--adminpass={s.ADMIN_PASSWORD}",
        *(f"--option={k} = {v}" for k, v in _options(p, dc).items()),
    ]


def cache_key(bulk_users: int) -> str:
    """Changes whenever the code that builds the database changes, so a stale cache is never used."""
    h = hashlib.sha256()
    for f in ("ad_dc.py", "seed.py", "_samba_seed.py", "_tombstone_acl.py", "bulk.py"):
        h.update((HERE / f).read_bytes())
    h.update(str(bulk_users).encode())
    h.update(_samba_version().encode())  # a database of one Samba version is not for another
    return h.hexdigest()[:12]


@functools.cache
def _samba_version() -> str:
    """Samba's release series ("4.17") where it is installed, "" elsewhere (a host that drives only
    containers). Only the series: a host and a container of one Debian release agree on it."""
    if not shutil.which("samba"):
        return ""
    m = re.search(r"Version (\d+\.\d+)", host.run(["samba", "--version"], check=False).stdout)
    return m.group(1) if m else ""


def golden_dir(p: LabPaths, bulk_users: int) -> Path:
    return p.golden / f"ad-{cache_key(bulk_users)}-bulk{bulk_users}"


def database_current(p: LabPaths, bulk_users: int) -> bool:
    """The DCs' databases in place are the ones this code builds for ``bulk_users``."""
    marker = p.root / "ad-database"
    current = marker.read_text().strip() if marker.exists() else ""
    return current == golden_dir(p, bulk_users).name and p.sam_ldb.exists() and p.dc("dc2").sam_ldb.exists()


def prepare(p: LabPaths, bulk_users: int, fresh: bool, progress: Callable[[str], None]) -> bool:
    """Put both DCs' databases in place, from the cache or else provisioned, joined and cached.
    Every DC is stopped when this returns. True when it provisioned."""
    for name in DCS:
        stop(p, name)
    want = golden_dir(p, bulk_users)
    provisioned = fresh or not restore_golden(p, bulk_users)
    if provisioned:
        provision(p, bulk_users)
        progress(f"AD database provisioned ({bulk_users} bulk users)")
        start(p)
        wait_ready(p)
        join_dc2(p, bulk_users)
        stop(p)
        progress(f"{s.DC2_HOST} joined as a second DC")
        save_golden(p, bulk_users)
        progress("AD databases cached")
    else:
        progress(f"AD databases of both DCs restored from cache {want.name}")
    (p.root / "ad-database").write_text(want.name + "\n")
    return provisioned


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
    # And read tombstones (List Contents + Read Property on CN=Deleted Objects), as README asks
    # of an AD admin: its deltas then see deletions (tombstone_rights() takes it away for tests).
    tombstone_rights(p, s.SYNC_ACCOUNT, True)
    p.keytabs.mkdir(parents=True, exist_ok=True)
    for user in seed.SEED.users:
        if user.keytab:
            kt = p.keytab(user.sam)
            kt.unlink(missing_ok=True)
            _samba_tool(p, "domain", "exportkeytab", str(kt), f"--principal={user.sam}@{s.AD_REALM}")
    # A cluster node joined to the domain, as EMR joins each node: SSSD binds with its keytab.
    _samba_tool(p, "computer", "add", s.NODE_ACCOUNT)
    # Without a password set, exportkeytab writes nothing for it (and says it exported one).
    _samba_tool(p, "user", "setpassword", f"{s.NODE_ACCOUNT.upper()}$", "--random-password")
    node = p.keytab(s.NODE_ACCOUNT)
    node.unlink(missing_ok=True)
    _samba_tool(p, "domain", "exportkeytab", str(node), f"--principal={s.NODE_ACCOUNT.upper()}$@{s.AD_REALM}")
    if bulk_users:
        bulk.load(p, bulk_users)


def tombstone_rights(p: LabPaths, sam: str, granted: bool) -> None:
    """Grant (or revoke) ``sam`` List Contents + Read Property on CN=Deleted Objects, through
    dc1's directory (Samba may be running; the change replicates like any other)."""
    action = "grant" if granted else "revoke"
    host.run([SYSTEM_PYTHON, HERE / "_tombstone_acl.py", p.smb_conf, sam, action], log=p.logs / "tombstone-acl.log")


def _user_sid(p: LabPaths, sam: str) -> str:
    out = host.run(["ldbsearch", "-H", p.sam_ldb, f"(sAMAccountName={sam})", "objectSid"]).stdout
    for line in out.splitlines():
        if line.startswith("objectSid:"):
            return line.split(":", 1)[1].strip()
    raise LabError(f"no objectSid for {sam} in {p.sam_ldb}")


def join_dc2(p: LabPaths, bulk_users: int = 0) -> None:
    """Join dc2 to the domain as a second DC (dc1 running). The join replicates the whole
    database (its time grows with ``bulk_users``); afterwards the two replicate with each other
    like any pair of DCs."""
    dc = p.dc("dc2")
    shutil.rmtree(dc.dir, ignore_errors=True)
    (dc.dir / "run").mkdir(parents=True)
    host.run(
        [
            "samba-tool",
            "domain",
            "join",
            s.AD_DOMAIN,
            "DC",
            f"--targetdir={dc.dir}",
            f"--server={s.AD_HOST}",
            "--dns-backend=SAMBA_INTERNAL",
            "-U",
            "Administrator",
            f"--password={s.ADMIN_PASSWORD}",
            *(f"--option={k} = {v}" for k, v in _options(p, dc).items()),
        ],
        log=p.logs / "join-dc2.log",
        env=_env(p),
        timeout=300 + bulk_users / 50,  # 5 min for the seed, ~2,000 objects more a minute
    )


def ntds_names(p: LabPaths) -> dict[str, str]:
    """``<NTDS Settings objectGUID>._msdcs.<domain>`` -> IP, for each DC: the name a DC looks
    up to reach its replication partner. The lab has no DNS of its own, so these go into
    /etc/hosts (Samba's replication client resolves through the system resolver)."""
    out = host.run(
        [
            "ldbsearch",
            "-H",
            p.sam_ldb,
            "-b",
            f"CN=Sites,CN=Configuration,{s.AD_BASE}",
            "(objectClass=nTDSDSA)",
            "objectGUID",
        ]
    ).stdout
    names, server = {}, ""
    for line in out.splitlines():
        if line.startswith("dn: CN=NTDS Settings,CN="):
            server = line.split(",")[1][3:].lower()
        elif line.startswith("objectGUID:") and server in ("dc1", "dc2"):
            names[f"{line.split(':', 1)[1].strip()}._msdcs.{s.AD_DOMAIN}"] = p.dc(server).ip
    return names


def pair(p: LabPaths) -> None:
    """Make replication run both ways now (both DCs running; after every restore or join).
    After a join only dc2 pulls from dc1; dc1 would add dc2 as a source at its next KCC run
    (minutes later), and dc2 notifies dc1 of changes only after dc1 pulled from it once."""
    _samba_tool(p, "drs", "kcc", s.AD_HOST, "-U", "Administrator", f"--password={s.ADMIN_PASSWORD}")
    replicate(p, "dc1", "dc2")


def replicate(p: LabPaths, to: str, source: str, attempts: int = 10) -> None:
    """Make ``to`` pull the domain partition from ``source`` now (Samba also does it on its
    own a few seconds after a change; tests that need it done ask for it). Retried: right
    after ``source`` restarted, ``to`` first fails on its old connection (WERR_NETNAME_DELETED)."""
    for attempt in range(attempts):
        try:
            _samba_tool(
                p,
                "drs",
                "replicate",
                p.dc(to).host,
                p.dc(source).host,
                s.AD_BASE,
                "-U",
                "Administrator",
                f"--password={s.ADMIN_PASSWORD}",
            )
            return
        except LabError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)


def _env(p: LabPaths) -> dict[str, str]:
    # The DCs authenticate to each other with Kerberos for replication: they need the lab's
    # krb5.conf (the host's may name no KDC for the realm at all).
    return {"KRB5_CONFIG": str(p.krb5_conf)}


def _ad_keytabs() -> list[str]:
    return [u.sam for u in seed.SEED.users if u.keytab] + [s.NODE_ACCOUNT]


def _sockets(folder: str, names: list[str]) -> set[str]:
    """The sockets a DC that ran leaves behind (they cannot be copied, and mean nothing later)."""
    return {n for n in names if stat.S_ISSOCK(os.lstat(os.path.join(folder, n)).st_mode)}


def save_golden(p: LabPaths, bulk_users: int) -> None:
    """Cache both DCs' databases (they belong together: each holds the other's replication
    state) and the keytabs."""
    gold = golden_dir(p, bulk_users)
    shutil.rmtree(gold, ignore_errors=True)
    gold.parent.mkdir(parents=True, exist_ok=True)
    tmp = gold.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for name in DCS:
        shutil.copytree(p.dc(name).dir, tmp / p.dc(name).dir.name, symlinks=True, ignore=_sockets)
    (tmp / "keytabs").mkdir()
    for name in _ad_keytabs():
        shutil.copy2(p.keytab(name), tmp / "keytabs")
    tmp.rename(gold)  # a half-written cache is never picked up
    # Caches the code no longer builds (another cache key) are dead weight: ~45 MB each.
    for old in gold.parent.glob("ad-*"):
        if old != gold and old.name.removesuffix(".tmp").endswith(f"-bulk{bulk_users}"):
            shutil.rmtree(old, ignore_errors=True)


def restore_golden(p: LabPaths, bulk_users: int) -> bool:
    return _restore(p, golden_dir(p, bulk_users))


def restore_in_use(p: LabPaths) -> None:
    """Put back the cached databases the DCs were prepared from (the ``ad-database`` marker),
    whichever Samba prepared them: the host driving the container lab has another Samba version
    (or none), so its own cache key names no cache of the containers' DCs."""
    marker = p.root / "ad-database"
    name = marker.read_text().strip() if marker.exists() else ""
    if not name or not _restore(p, p.golden / name):
        raise LabError(f"no cached AD database to restore in {p.golden} (marker {marker}: {name or 'none'})")


def _restore(p: LabPaths, gold: Path) -> bool:
    if not all((gold / p.dc(name).dir.name / "private" / "sam.ldb").exists() for name in DCS):
        return False
    for name in DCS:  # both are stopped, with their workers: nothing recreates files now
        d = p.dc(name).dir
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(gold / d.name, d, symlinks=True)
    p.keytabs.mkdir(parents=True, exist_ok=True)
    for kt in (gold / "keytabs").iterdir():
        shutil.copy2(kt, p.keytabs / kt.name)
    return True


def start(p: LabPaths, name: str = "dc1") -> None:
    tls.ensure(p.tls)
    dc = p.dc(name)
    if host.pid_alive(dc.pid) is None:
        host.run(["samba", "-D", f"--configfile={dc.smb_conf}"], log=p.logs / f"samba-start-{name}.log", env=_env(p))


def stop(p: LabPaths, name: str = "dc1") -> None:
    host.stop_pid(p.dc(name).pid)


def running(p: LabPaths, name: str = "dc1") -> bool:
    return host.pid_alive(p.dc(name).pid) is not None


def ldaps_ready(p: LabPaths, dc: DcPaths) -> bool:
    if not p.samba_ca.exists():
        return False
    ctx = ssl.create_default_context(cafile=str(p.samba_ca))
    with socket.create_connection((dc.ip, 636), timeout=2) as sock:
        with ctx.wrap_socket(sock, server_hostname=dc.host):
            return True


def kdc_ready(p: LabPaths, dc: DcPaths) -> bool:
    ccache = p.ccaches / f"ad-ready-{dc.name}-{os.getpid()}"  # the host and containers probe at once
    p.ccaches.mkdir(parents=True, exist_ok=True)
    # This DC's KDC only (the lab krb5.conf lists both, and would fall back to the other).
    conf = p.ccaches / f"krb5-{dc.name}-{os.getpid()}.conf"
    conf.write_text(kdc.client_krb5_conf(ad_kdcs=[dc.ip]))
    env = {"KRB5_CONFIG": str(conf), "KRB5CCNAME": f"FILE:{ccache}"}
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
            and host.run(["kvno", f"ldap/{dc.host}"], env=env, check=False, timeout=10).returncode == 0
        )
    finally:
        ccache.unlink(missing_ok=True)
        conf.unlink(missing_ok=True)


def ready(p: LabPaths, name: str = "dc1") -> bool:
    """LDAP, LDAPS (verified against the lab CA) and this DC's own KDC all answer."""
    dc = p.dc(name)
    return host.port_open(dc.ip, 389) and ldaps_ready(p, dc) and kdc_ready(p, dc)


def wait_ready(p: LabPaths, name: str = "dc1", timeout: float = 60) -> float:
    dc = p.dc(name)
    waited = host.wait_started(
        f"samba ({name}, {dc.host})",
        lambda: running(p, name),
        lambda: ready(p, name),
        dc.log,
        timeout,
        grace=5,  # `samba -D` writes its PID file a moment after it returns
        interval=0.1,
    )
    # Atomically: each DC (container) rewrites it when it starts, while tests on the host read it
    # (a copy in place showed an empty file to an LDAPS connection: NO_CERTIFICATE_OR_CRL_FOUND).
    write_atomic(p.ca_cert, p.samba_ca.read_bytes(), 0o644)
    return waited
