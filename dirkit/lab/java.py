"""Run Hadoop's own classes against the lab: its Kerberos name mapping and LDAP group mapping.

The jars come from Maven Central through `maven/pom.xml` (copy-dependencies, nothing is
compiled), cached under the lab directory by the pom's hash. Used by tests to check the
generated core-site with real Hadoop instead of string comparisons.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import LabError
from . import host
from .settings import LabPaths

POM = Path(__file__).resolve().parent / "maven" / "pom.xml"
# Java 17: Hadoop reflects on Kerberos internals (KerberosUtil.getDefaultRealm).
JAVA_OPTS = [
    "-Xmx256m",
    "-Djava.net.preferIPv4Stack=true",
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
]


def classpath(p: LabPaths) -> Path:
    """The directory of Hadoop's runtime jars, built once per pom version."""
    key = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    project = p.root / "hadoop-cp" / key
    lib = project / "target" / "lib"
    if (project / ".complete").exists():
        return lib
    if not shutil.which("mvn") or not shutil.which("java"):
        raise LabError("Hadoop checks need Java and Maven (`mvn`, `java` on PATH); scripts/bootstrap.sh installs them")
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy2(POM, project / "pom.xml")
    host.run(["mvn", "-q", "-B", "-f", project / "pom.xml", "package"], log=p.logs / "maven.log", timeout=1200)
    if not any(lib.glob("hadoop-common-*.jar")):
        raise LabError(f"maven finished but {lib} has no hadoop-common jar; see {p.logs / 'maven.log'}")
    (project / ".complete").touch()
    return lib


def cluster_krb5_conf(p: LabPaths, out: Path) -> Path:
    """The lab krb5.conf as a cluster node sees it: default realm = the cluster's realm, so
    Hadoop's DEFAULT rule covers only cluster principals (as on EMR)."""
    text = p.krb5_conf.read_text()
    out.write_text(re.sub(r"default_realm = \S+", "default_realm = EMR.DIRKIT.TEST", text))
    return out


def _cp(conf_dir: Path, lib: Path) -> str:
    # The conf dir first: Configuration() loads core-site.xml from the classpath.
    return ":".join([str(conf_dir), *sorted(str(j) for j in lib.glob("*.jar"))])


def kerberos_short_names(p: LabPaths, conf_dir: Path, krb5: Path, principals: Sequence[str]) -> dict[str, str | None]:
    """principal -> the short name Hadoop's HadoopKerberosName gives it (None: no rule applied)."""
    lib = classpath(p)
    out: dict[str, str | None] = {}
    for principal in principals:  # one JVM each: HadoopKerberosName stops at the first failure
        r = host.run(
            [
                "java",
                f"-Djava.security.krb5.conf={krb5}",
                *JAVA_OPTS,
                "-cp",
                _cp(conf_dir, lib),
                "org.apache.hadoop.security.HadoopKerberosName",
                principal,
            ],
            check=False,
            timeout=120,
        )
        m = re.search(r"^Name: (.+) to (.*)$", r.stdout, re.M)
        out[principal] = m.group(2) if m and m.group(1) == principal else None
    return out


def ldap_groups(p: LabPaths, conf_dir: Path, krb5: Path, users: Sequence[str]) -> dict[str, list[str]]:
    """user -> groups from the GroupMappingServiceProvider that core-site configures (jshell)."""
    lib = classpath(p)
    names = ", ".join('"' + u.replace("\\", "\\\\").replace('"', '\\"') + '"' for u in users)
    script = "\n".join(
        [
            "import org.apache.hadoop.conf.Configuration;",
            "import org.apache.hadoop.security.GroupMappingServiceProvider;",
            "import org.apache.hadoop.util.ReflectionUtils;",
            "Configuration c = new Configuration();",
            "GroupMappingServiceProvider g = (GroupMappingServiceProvider) ReflectionUtils.newInstance("
            'c.getClass("hadoop.security.group.mapping", null), c);',
            f'for (String u : new String[]{{{names}}}) System.out.println("GROUPS\\t" + u + "\\t" + '
            'String.join("\\t", g.getGroups(u)));',
            "/exit",
        ]
    )
    jsh = conf_dir / "groups.jsh"
    jsh.write_text(script + "\n")
    r = host.run(
        [
            "jshell",
            f"-J-Djava.security.krb5.conf={krb5}",
            *(f"-J{o}" for o in JAVA_OPTS),
            "--class-path",
            _cp(conf_dir, lib),
            jsh,
        ],
        timeout=300,
    )
    out: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():
        if line.startswith("GROUPS\t"):
            parts = line.split("\t")
            out[parts[1]] = [g for g in parts[2:] if g]
    missing = [u for u in users if u not in out]
    if missing:
        raise LabError(f"jshell printed no groups for {missing}:\n{r.stdout[-2000:]}")
    return out
