"""The cluster realm's MIT KDC (EMR.DIRKIT.TEST) and the client krb5.conf for both realms."""

from __future__ import annotations

import os
from pathlib import Path

from . import host
from . import settings as s
from .errors import LabError
from .settings import LabPaths


def client_krb5_conf(ad_kdcs: tuple[str, ...] | list[str] = (s.AD_IP, s.DC2_IP)) -> str:
    # rdns/canonicalization off: the lab's names are in /etc/hosts only, and service principals
    # must be the names we asked for. [capaths] makes the AD -> EMR path direct (one hop).
    # Both DCs are KDCs of the AD realm: with dc1 down, clients go on to dc2.
    kdcs = "".join(f"        kdc = {ip}\n" for ip in ad_kdcs)
    return f"""\
# lab client config: KRB5_CONFIG=<this file>; Java: -Djava.security.krb5.conf=<this file>
[libdefaults]
    default_realm = {s.AD_REALM}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    forwardable = true

[realms]
    {s.AD_REALM} = {{
{kdcs}        admin_server = {s.AD_IP}
        default_domain = {s.AD_DOMAIN}
    }}
    {s.EMR_REALM} = {{
        kdc = {s.KDC_IP}
        admin_server = {s.KDC_IP}
    }}

[domain_realm]
    .{s.AD_DOMAIN} = {s.AD_REALM}
    {s.AD_DOMAIN} = {s.AD_REALM}
    .emr.dirkit.test = {s.EMR_REALM}
    localhost = {s.EMR_REALM}

[capaths]
    {s.AD_REALM} = {{
        {s.EMR_REALM} = .
    }}
    {s.EMR_REALM} = {{
        {s.AD_REALM} = .
    }}
"""


def _kdc_conf(p: LabPaths) -> str:
    d = p.kdc
    return f"""\
[kdcdefaults]
    kdc_listen = {s.KDC_IP}:88
    kdc_tcp_listen = {s.KDC_IP}:88

[realms]
    {s.EMR_REALM} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        admin_keytab = FILE:{d}/kadm5.keytab
        kdc_listen = {s.KDC_IP}:88
        kdc_tcp_listen = {s.KDC_IP}:88
        kadmind_listen = {s.KDC_IP}:749
        kpasswd_listen = {s.KDC_IP}:464
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{d}/krb5kdc.log
    admin_server = FILE:{d}/kadmind.log
"""


def _env(p: LabPaths) -> dict[str, str]:
    return {"KRB5_CONFIG": str(p.krb5_conf), "KRB5_KDC_PROFILE": str(p.kdc / "kdc.conf")}


def service_principal(service: str) -> str:
    return f"{service}/{s.SERVICE_HOST}@{s.EMR_REALM}"


def create(p: LabPaths) -> None:
    """A new realm database with the service principals, their keytabs and the trust principal."""
    stop(p)
    host.run(["rm", "-rf", p.kdc])
    p.kdc.mkdir(parents=True)
    (p.kdc / "kdc.conf").write_text(_kdc_conf(p))
    (p.kdc / "kadm5.acl").write_text(f"*/admin@{s.EMR_REALM} *\n")
    log = p.logs / "kdc.log"
    host.run(["kdb5_util", "create", "-s", "-r", s.EMR_REALM, "-P", s.KDC_MASTER_PASSWORD], env=_env(p), log=log)
    p.keytabs.mkdir(parents=True, exist_ok=True)
    keytabs = [p.keytab("emr-services")] + [p.keytab(f"{svc}-localhost") for svc in s.SERVICES]
    for kt in keytabs:
        kt.unlink(missing_ok=True)  # ktadd appends to an existing keytab
    principals = " ".join(service_principal(svc) for svc in s.SERVICES)
    # One-way trust, the EMR way: the cluster realm trusts AD, so the MIT KDC holds
    # krbtgt/EMR@AD with the same password (and so the same keys, kvno 1) as AD's trust object.
    queries = [
        f"addprinc -pw {s.ADMIN_PASSWORD} admin/admin@{s.EMR_REALM}",
        *(f"addprinc -randkey {service_principal(svc)}" for svc in s.SERVICES),
        f"addprinc -requires_preauth -pw {s.CROSS_REALM_PASSWORD} krbtgt/{s.EMR_REALM}@{s.AD_REALM}",
        f"ktadd -k {p.keytab('emr-services')} {principals}",
        *(f"ktadd -norandkey -k {p.keytab(f'{svc}-localhost')} {service_principal(svc)}" for svc in s.SERVICES),
    ]
    # Passwords go to kadmin on stdin, not argv, so they do not show up in `ps`.
    host.run(["kadmin.local", "-r", s.EMR_REALM], input="\n".join(queries) + "\n", env=_env(p), log=None)
    missing = [str(k) for k in keytabs if not k.exists()]
    if missing:
        raise LabError(f"kadmin did not write keytabs: {', '.join(missing)}")


def pid_files(p: LabPaths) -> tuple[Path, Path]:
    return p.kdc / "krb5kdc.pid", p.kdc / "kadmind.pid"


def start(p: LabPaths) -> None:
    kdc_pid, kadmind_pid = pid_files(p)
    if host.pid_alive(kdc_pid) is None:
        host.run(["krb5kdc", "-r", s.EMR_REALM, "-P", kdc_pid], env=_env(p), log=p.logs / "kdc.log")
    if host.pid_alive(kadmind_pid) is None:
        host.run(["kadmind", "-r", s.EMR_REALM, "-P", kadmind_pid], env=_env(p), log=p.logs / "kdc.log")


def stop(p: LabPaths) -> None:
    for pid_file in pid_files(p):
        host.stop_pid(pid_file)


def running(p: LabPaths) -> bool:
    return all(host.pid_alive(f) is not None for f in pid_files(p))


def ready(p: LabPaths) -> bool:
    """The KDC answers an AS-REQ for a service principal from its keytab."""
    ccache = p.ccaches / f"kdc-ready-{os.getpid()}"  # the host and containers probe at once
    p.ccaches.mkdir(parents=True, exist_ok=True)
    r = host.run(
        ["kinit", "-k", "-t", p.keytab("HTTP-localhost"), service_principal("HTTP")],
        env={"KRB5_CONFIG": str(p.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"},
        check=False,
        timeout=10,
    )
    ccache.unlink(missing_ok=True)
    return r.returncode == 0


def initialised(p: LabPaths) -> bool:
    return (p.kdc / "principal").exists() and p.keytab("HTTP-localhost").exists()
