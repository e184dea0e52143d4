"""A real Kerberized HDFS NameNode (Hadoop 3.4.2 from Maven Central), no DataNodes.

Metadata operations (MKDIRS, SETOWNER, SETPERMISSION, SETQUOTA, GETFILESTATUS, LISTSTATUS)
need no DataNode. RPC and WebHDFS run on localhost with explicit principals
`nn/localhost@EMR.DIRKIT.TEST` (the HDFS superuser is its short name, `nn`) and
`HTTP/localhost@EMR.DIRKIT.TEST` for SPNEGO. auth_to_local maps AD-realm principals with the
same rules dirkit generates for clusters, and a user's groups come from AD through the group
mapping dirkit renders (LdapGroupsMapping), so the NameNode's answers and its groups cache are
a cluster's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from dirkit._config import AdSite, DirectoryConfig, HadoopConfig
from dirkit._outputs import hadoop
from dirkit._outputs.auth_to_local import rules_for_realm
from dirkit._reserved import Reserved, defaults
from dirkit._safe_files import write_atomic

from . import host, java, kdc
from . import settings as s
from .errors import LabError
from .settings import LabPaths

RPC_PORT = 8020
HTTP_PORT = 9870
SUPERUSER = "nn"


def _dir(p: LabPaths) -> Path:
    return p.root / "namenode"


def _xml(props: dict[str, str]) -> str:
    body = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n" for k, v in props.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


# The lab's own service identities, which the lab's dirkit config implies as reserved names
# (hdfs.principal nn/..., verify.service_principal HTTP/..., verify.hive's hive/...).
LAB_SERVICES = ("nn", "HTTP", "hive")


def _reserved() -> Reserved:
    return defaults().extended((LAB_SERVICES, "the lab's service principals"))


def auth_to_local_rules() -> str:
    """The rules dirkit renders for the lab's config (lower-case names policy, EMR's reserved
    names and the lab's services refused), for the lab's AD realm."""
    return "\n".join(rules_for_realm(s.AD_REALM, lower=True, reserved=_reserved().names()))


TRUSTSTORE_PASSWORD = "changeit"  # a trust store of the lab CA's public certificate


def group_mapping(p: LabPaths, ca_timeout: float = 600) -> dict[str, str]:
    """core-site's group mapping as dirkit renders it for the lab's config (LdapGroupsMapping
    against dc1 over LDAPS, nested lookup, reserved names and disabled users left out), with
    the NameNode's own bind password file and trust store of the lab CA. In the container lab
    the CA is made by dc1's container, which may start after this one: waited for."""
    d = _dir(p)
    password = d / "ldap-bind.password"
    write_atomic(password, f"{s.USER_PASSWORD}\n".encode(), 0o600)
    store_password = d / "truststore.password"
    write_atomic(store_password, f"{TRUSTSTORE_PASSWORD}\n".encode(), 0o600)
    store = d / "truststore.p12"

    def imported() -> bool:
        store.unlink(missing_ok=True)
        if not p.tls.joinpath("ca.pem").exists():
            return False
        argv = ["keytool", "-importcert", "-noprompt", "-alias", "dirkit-lab-ca", "-file", str(p.tls / "ca.pem")]
        argv += ["-keystore", str(store), "-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD]
        return host.run(argv, check=False, log=p.logs / "keytool.log").returncode == 0

    host.wait_until(imported, ca_timeout, "the lab CA (made by dc1), for the NameNode's trust store", 2)
    ad = AdSite((f"ldaps://{s.AD_HOST}:636",), DirectoryConfig(base_dn=s.AD_BASE, realm=s.AD_REALM), True, _reserved())
    h = HadoopConfig(
        bind_user=f"{s.SYNC_ACCOUNT}@{s.AD_DOMAIN}",
        bind_password_file=str(password),
        truststore=str(store),
        truststore_password_file=str(store_password),
    )
    props = {k: v for k, v in hadoop.properties(h, ad).items() if k.startswith(hadoop.P)}
    if not props.get(hadoop.P, "").endswith("LdapGroupsMapping"):
        raise LabError(f"dirkit rendered no LDAP group mapping for the lab: {props.get(hadoop.P)!r}")
    return props


def write_conf(p: LabPaths) -> Path:
    conf = _dir(p) / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "core-site.xml").write_text(
        _xml(
            {
                "fs.defaultFS": f"hdfs://localhost:{RPC_PORT}",
                "hadoop.security.authentication": "kerberos",
                "hadoop.security.authorization": "true",
                "hadoop.security.auth_to_local": auth_to_local_rules(),
                **group_mapping(p),
                # SPNEGO on every web endpoint (Hadoop 3.3+ puts WebHDFS behind the same filter);
                # without it WebHDFS answers 403 "user not authenticated by filter".
                "hadoop.http.filter.initializers": "org.apache.hadoop.security.AuthenticationFilterInitializer",
                "hadoop.http.authentication.type": "kerberos",
                "hadoop.http.authentication.simple.anonymous.allowed": "false",
                "hadoop.http.authentication.kerberos.principal": kdc.service_principal("HTTP"),
                "hadoop.http.authentication.kerberos.keytab": str(p.keytab("HTTP-localhost")),
            }
        )
    )
    (conf / "hdfs-site.xml").write_text(
        _xml(
            {
                "dfs.namenode.name.dir": f"file://{_dir(p) / 'name'}",
                "dfs.namenode.rpc-address": f"localhost:{RPC_PORT}",
                "dfs.namenode.http-address": f"localhost:{HTTP_PORT}",
                "dfs.http.policy": "HTTP_ONLY",
                "dfs.namenode.kerberos.principal": kdc.service_principal("nn"),
                "dfs.namenode.keytab.file": str(p.keytab("nn-localhost")),
                "dfs.web.authentication.kerberos.principal": kdc.service_principal("HTTP"),
                "dfs.web.authentication.kerberos.keytab": str(p.keytab("HTTP-localhost")),
                "dfs.namenode.kerberos.internal.spnego.principal": kdc.service_principal("HTTP"),
                "dfs.block.access.token.enable": "true",  # mandatory with Kerberos, else the NN aborts
                "dfs.webhdfs.enabled": "true",
                "dfs.permissions.enabled": "true",
                "dfs.namenode.safemode.extension": "0",
                "dfs.namenode.safemode.threshold-pct": "0",
                "dfs.replication": "1",
            }
        )
    )
    (conf / "log4j.properties").write_text(
        "log4j.rootLogger=INFO,console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
    )
    return conf


def admin_command(p: LabPaths, *args: str) -> list[str]:
    """``hdfs dfsadmin ARGS`` against the lab's NameNode: Hadoop's own DFSAdmin tool, with the
    NameNode's configuration; its Kerberos ticket comes from KRB5CCNAME (as Hadoop's client
    takes it from a ticket cache)."""
    return _java(p, _dir(p) / "conf", *args, main="org.apache.hadoop.hdfs.tools.DFSAdmin")


def groups(p: LabPaths, *users: str, refresh: bool = False) -> dict[str, list[str]]:
    """The NameNode's answer to ``hdfs groups USER...`` (Hadoop's GetGroups over RPC, as the
    superuser with a ticket from its keytab): each user's groups as the NameNode has them now,
    from its groups cache (hadoop.security.groups.cache.secs) or a new lookup; ``refresh``:
    after emptying that cache (``hdfs dfsadmin -refreshUserToGroupsMappings``). GetGroups
    prints the names space-separated: a group name with a space comes back as several."""
    fd, name = tempfile.mkstemp(prefix="groups-", suffix=".ccache", dir=_dir(p))  # one per call
    os.close(fd)
    ccache = Path(name)
    env = {"KRB5_CONFIG": str(p.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}
    try:
        host.run(["kinit", "-k", "-t", p.keytab("nn-localhost"), kdc.service_principal("nn")], env=env)
        if refresh:
            host.run(admin_command(p, "-refreshUserToGroupsMappings"), env=env)
        r = host.run(_java(p, _dir(p) / "conf", *users, main="org.apache.hadoop.hdfs.tools.GetGroups"), env=env)
    finally:
        ccache.unlink(missing_ok=True)
    out: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():  # "user : group1 group2", "user :" for none
        name, sep, rest = line.rstrip().partition(" :")
        if sep and name in users:
            out[name] = rest.split()
    missing = [u for u in users if u not in out]
    if missing:
        raise LabError(f"GetGroups printed nothing for {missing}: {r.stdout[-2000:]}")
    return out


def _java(
    p: LabPaths,
    conf: Path,
    *args: str,
    main: str = "org.apache.hadoop.hdfs.server.namenode.NameNode",
) -> list[str]:
    krb5 = java.cluster_krb5_conf(p, _dir(p) / "krb5.conf")
    lib = java.classpath(p)
    return [
        "java",
        "-Xmx384m",
        f"-Djava.security.krb5.conf={krb5}",
        *java.JAVA_OPTS,
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--add-opens=java.base/java.net=ALL-UNNAMED",
        "--add-opens=java.base/sun.security.util=ALL-UNNAMED",
        "--add-opens=java.base/sun.security.x509=ALL-UNNAMED",
        "-cp",
        java._cp(conf, lib),
        main,
        *args,
    ]


def pid_file(p: LabPaths) -> Path:
    return _dir(p) / "namenode.pid"


def running(p: LabPaths) -> bool:
    return host.pid_alive(pid_file(p)) is not None


def start(p: LabPaths, fresh: bool = False) -> None:
    if running(p):
        return
    conf = write_conf(p)
    name = _dir(p) / "name"
    if fresh or not (name / "current" / "VERSION").exists():
        host.run(["rm", "-rf", name])
        host.run(
            _java(p, conf, "-format", "-force", "-nonInteractive"), log=p.logs / "namenode-format.log", timeout=300
        )
    log = (p.logs / "namenode.log").open("ab")
    proc = subprocess.Popen(
        _java(p, conf),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=_dir(p),
    )
    pid_file(p).write_text(f"{proc.pid}\n")


def stop(p: LabPaths) -> None:
    host.stop_pid(pid_file(p), timeout=20)


def webhdfs_url() -> str:
    return f"http://localhost:{HTTP_PORT}/webhdfs/v1"


def ready(p: LabPaths) -> bool:
    """An authenticated WebHDFS call as the superuser answers."""
    from dirkit import _kerberos as kerberos
    from dirkit._homes.webhdfs import WebHdfs  # the product's own client

    kerberos.use_krb5_conf(p.krb5_conf)
    with WebHdfs.from_keytab(webhdfs_url(), kdc.service_principal("nn"), p.keytab("nn-localhost"), timeout=5) as fs:
        return fs.status("/") is not None


def ensure_user_prefix(p: LabPaths) -> None:
    """/user, owned by the superuser, mode 755 (as SecureMode.md recommends)."""
    from dirkit._homes.webhdfs import WebHdfs

    with WebHdfs.from_keytab(webhdfs_url(), kdc.service_principal("nn"), p.keytab("nn-localhost")) as fs:
        if fs.status("/user") is None:
            fs.mkdirs("/user", "755")


def wait_ready(p: LabPaths, timeout: float = 120) -> float:
    return host.wait_started(
        "HDFS NameNode",
        lambda: running(p),
        lambda: host.port_open("127.0.0.1", HTTP_PORT) and ready(p),
        p.logs / "namenode.log",
        timeout,
        grace=2,
    )
