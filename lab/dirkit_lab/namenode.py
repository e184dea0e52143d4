"""A real Kerberized HDFS NameNode (Hadoop 3.4.2 from Maven Central), no DataNodes.

Metadata operations (MKDIRS, SETOWNER, SETPERMISSION, SETQUOTA, GETFILESTATUS, LISTSTATUS)
need no DataNode. RPC and WebHDFS run on localhost with explicit principals
`nn/localhost@EMR.DIRKIT.TEST` (the HDFS superuser is its short name, `nn`) and
`HTTP/localhost@EMR.DIRKIT.TEST` for SPNEGO. auth_to_local maps AD-realm principals with the
same rules dirkit generates for clusters.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from . import host, java, kdc
from . import settings as s
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


def auth_to_local_rules() -> str:
    """The rules dirkit renders for the lab's config (lower-case names policy, EMR's reserved
    names and the lab's services refused), for the lab's AD realm."""
    from dirkit._outputs.auth_to_local import rules_for_realm as rules
    from dirkit._reserved import defaults

    reserved = defaults().extended((LAB_SERVICES, "the lab's service principals"))
    return "\n".join(rules(s.AD_REALM, lower=True, reserved=reserved.names()))


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
                # No OS accounts for AD users here: no groups from the shell either.
                "hadoop.security.group.mapping": "org.apache.hadoop.security.ShellBasedUnixGroupsMapping",
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
