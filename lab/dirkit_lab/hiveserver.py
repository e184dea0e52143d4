"""A Kerberized HiveServer2 endpoint: Spark Thrift Server from pip's pyspark (local mode,
embedded Derby metastore, binary transport, `hive/localhost@EMR.DIRKIT.TEST`).

Facts from the lab notes: use an explicit principal host (`_HOST` would resolve to another
name), clients connect by host name (not IP), PyHive's pure-sasl needs the `kerberos` package.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from . import host, java, kdc, namenode
from .errors import LabError
from .settings import LabPaths

HOST = "localhost"
PORT = 10000


def _dir(p: LabPaths) -> Path:
    return p.root / "hiveserver"


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise LabError("the HiveServer2 endpoint needs pyspark (pip install '.[lab]'; scripts/bootstrap.sh does)")
    return Path(spec.origin).parent


def pid_file(p: LabPaths) -> Path:
    return _dir(p) / "sts.pid"


def running(p: LabPaths) -> bool:
    return host.pid_alive(pid_file(p)) is not None


def start(p: LabPaths) -> None:
    if running(p):
        return
    d = _dir(p)
    for sub in ("warehouse", "scratch", "local-scratch", "oplogs", "spark-local"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    krb5 = java.cluster_krb5_conf(p, d / "krb5.conf")
    principal = kdc.service_principal("hive")
    jopts = f"-Dderby.system.home={d} -Djava.security.krb5.conf={krb5} -Djava.io.tmpdir={d / 'spark-local'}"
    argv = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        "local[2]",
        "--name",
        "dirkit-lab-hs2",
        "--class",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--driver-memory",
        "512m",
        "--driver-java-options",
        jopts,
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.local.dir={d / 'spark-local'}",
        "--conf",
        f"spark.sql.warehouse.dir={d / 'warehouse'}",
        "--conf",
        "spark.sql.catalogImplementation=hive",
        "--conf",
        f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={d / 'metastore_db'};create=true",
        "--conf",
        "spark.hadoop.hadoop.security.authentication=kerberos",
        "--conf",
        "spark.hadoop.hadoop.security.authorization=false",
        # The same AD-realm rules as the NameNode: current_user() is the normalised short name.
        "--conf",
        f"spark.hadoop.hadoop.security.auth_to_local={namenode.auth_to_local_rules()}",
        "spark-internal",
        "--hiveconf",
        f"hive.server2.thrift.bind.host={HOST}",
        "--hiveconf",
        f"hive.server2.thrift.port={PORT}",
        "--hiveconf",
        "hive.server2.enable.doAs=false",
        "--hiveconf",
        f"hive.exec.scratchdir={d / 'scratch'}",
        "--hiveconf",
        f"hive.exec.local.scratchdir={d / 'local-scratch'}",
        "--hiveconf",
        f"hive.server2.logging.operation.log.location={d / 'oplogs'}",
        "--hiveconf",
        "hive.server2.authentication=KERBEROS",
        "--hiveconf",
        f"hive.server2.authentication.kerberos.principal={principal}",
        "--hiveconf",
        f"hive.server2.authentication.kerberos.keytab={p.keytab('hive-localhost')}",
    ]
    env = {
        "SPARK_HOME": str(spark_home()),
        "KRB5_CONFIG": str(krb5),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    log = (p.logs / "hiveserver.log").open("ab")
    proc = subprocess.Popen(
        argv, cwd=d, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    pid_file(p).write_text(f"{proc.pid}\n")


def stop(p: LabPaths) -> None:
    host.stop_pid(pid_file(p), timeout=20)


def ready(p: LabPaths) -> bool:
    """Our HiveServer2 runs and answers a Kerberos-authenticated query (an open port alone
    could belong to another process)."""
    return running(p) and answers(p)


def answers(p: LabPaths) -> bool:
    """A HiveServer2 on the lab's port answers a Kerberos-authenticated query as `hive` (the
    check for one that runs elsewhere: in a container)."""
    if not host.port_open("127.0.0.1", PORT):
        return False
    from dirkit import _kerberos as kerberos

    with tempfile.TemporaryDirectory(prefix="dirkit-hs2-ready-") as tmp:
        ccache = f"FILE:{tmp}/cc"
        env = {"KRB5_CONFIG": str(p.krb5_conf), "KRB5CCNAME": ccache}
        kerberos.use_krb5_conf(p.krb5_conf)
        kerberos.keytab_credentials(kdc.service_principal("hive"), p.keytab("hive-localhost"), ccache)
        r = host.run(
            [sys.executable, "-m", "dirkit._verify.hive_probe", HOST, str(PORT), "hive"],
            env=env,
            check=False,
            timeout=30,
        )
    return r.returncode == 0 and '"current_user": "hive"' in r.stdout


def wait_ready(p: LabPaths, timeout: float = 120) -> float:
    return host.wait_started(
        "HiveServer2 (Spark Thrift Server)",
        lambda: running(p),
        lambda: ready(p),
        p.logs / "hiveserver.log",
        timeout,
        grace=3,
        interval=1.0,
    )
