"""Run Hadoop's own classes against the lab: its Kerberos name mapping and LDAP group mapping.

The jars come from Maven Central through `maven/pom.xml` (copy-dependencies, nothing is
compiled), cached under the lab directory by the pom's hash. Used by tests to check the
generated core-site with real Hadoop instead of string comparisons.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from . import host
from .errors import LabError
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
    """The directory of Hadoop's runtime jars, built once per pom version (or baked into the
    lab's container images at ``DIRKIT_HADOOP_LIB``)."""
    baked = os.environ.get("DIRKIT_HADOOP_LIB")
    if baked:
        return Path(baked)
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


def ldap_groups(
    p: LabPaths, conf_dir: Path, krb5: Path, users: Sequence[str], output: list[str] | None = None
) -> dict[str, list[str]]:
    """user -> groups from the GroupMappingServiceProvider that core-site configures (jshell).
    ``output`` receives everything the JVM printed (Hadoop's log lines, with a log4j.properties
    in ``conf_dir``)."""
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
    if output is not None:
        output += r.stdout.splitlines()
    out: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():
        if line.startswith("GROUPS\t"):
            parts = line.split("\t")
            out[parts[1]] = [g for g in parts[2:] if g]
    missing = [u for u in users if u not in out]
    if missing:
        raise LabError(f"jshell printed no groups for {missing}:\n{r.stdout[-2000:]}")
    return out


def yarn_placements(p: LabPaths, conf_dir: Path, users: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """user -> (the queue CapacityScheduler places their application in, the first group the
    ResourceManager's group mapping returns: its %primary_group). A ResourceManager initialised
    (not started) from ``conf_dir``'s core-site.xml and capacity-scheduler.xml, its placement
    manager asked for each user as a submission to ``default`` would be (jshell)."""
    lib = classpath(p)
    names = ", ".join(_java_string(u) for u in users)
    script = f"""import org.apache.hadoop.security.Groups;
import org.apache.hadoop.yarn.api.records.*;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler;
YarnConfiguration conf = new YarnConfiguration();
conf.set(YarnConfiguration.RM_SCHEDULER, CapacityScheduler.class.getName());
ResourceManager rm = new ResourceManager();
rm.init(conf);
var placement = rm.getRMContext().getQueuePlacementManager();
Groups groups = Groups.getUserToGroupsMappingService(conf);
int n = 0;
for (String u : new String[]{{{names}}}) {{
  var ctx = ApplicationSubmissionContext.newInstance(ApplicationId.newInstance(1, ++n), "dirkit-check", "default",
      Priority.newInstance(0), null, false, false, 1, Resource.newInstance(1024, 1), "YARN");
  var placed = placement.placeApplication(ctx, u);
  String first = "";
  try {{ first = groups.getGroupsSet(u).iterator().next(); }} catch (java.io.IOException e) {{ }}  // no groups
  System.out.println("PLACED\t" + u + "\t" + (placed == null ? "" : placed.getFullQueuePath()) + "\t" + first);
}}
/exit
"""
    jsh = conf_dir / "placement.jsh"
    jsh.write_text(script)
    r = host.run(
        ["jshell", *(f"-J{o}" for o in JAVA_OPTS), "--class-path", _cp(conf_dir, lib), jsh],
        timeout=600,
    )
    out: dict[str, tuple[str, str | None]] = {}
    for line in r.stdout.splitlines():
        if line.startswith("PLACED\t"):
            _, user, queue, first = line.split("\t")
            out[user] = (queue, first or None)
    missing = [u for u in users if u not in out]
    if missing:
        raise LabError(f"jshell printed no placement for {missing}:\n{r.stdout[-2000:]}")
    return out


def _java_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def kerberos_name_outcomes(p: LabPaths, cases: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """For each (rules, mechanism, default realm, principal): what Hadoop's own KerberosName
    says: ``OK\\t<short name>``, ``NO_RULE``, ``MALFORMED`` or ``BAD_RULE`` (a rule Hadoop refuses
    to parse or apply). One jshell per default realm (KerberosName caches it)."""
    lib = classpath(p)
    out: dict[int, str] = {}
    for realm in sorted({c[2] for c in cases}):
        mine = [(i, c) for i, c in enumerate(cases) if c[2] == realm]
        rows = ",\n".join(
            f"{{{_java_string(str(i))}, {_java_string(r)}, {_java_string(m)}, {_java_string(pr)}}}"
            for i, (r, m, _, pr) in mine
        )
        script = f"""import org.apache.hadoop.security.authentication.util.KerberosName;
String[][] cases = {{ {rows} }};
for (String[] c : cases) {{
  String out;
  try {{
    KerberosName.setRuleMechanism(c[2]);
    KerberosName.setRules(c[1]);
    KerberosName n = null;
    try {{ n = new KerberosName(c[3]); }} catch (IllegalArgumentException e) {{ out = "MALFORMED"; System.out.println("CASE\\t" + c[0] + "\\t" + out); continue; }}
    try {{ out = "OK\\t" + n.getShortName(); }}
    catch (KerberosName.NoMatchingRule e) {{ out = "NO_RULE"; }}
    catch (java.io.IOException | RuntimeException e) {{ out = "BAD_RULE"; }}
  }} catch (IllegalArgumentException e) {{ out = "BAD_RULE"; }}
  System.out.println("CASE\\t" + c[0] + "\\t" + out);
}}
/exit
"""
        jsh = p.root / f"kerberos-name-{realm}.jsh"
        jsh.write_text(script)
        r = host.run(
            [
                "jshell",
                # -R: snippets run in jshell's separate execution JVM, which is where they count.
                f"-R-Djava.security.krb5.realm={realm}",
                "-R-Djava.security.krb5.kdc=localhost:88",
                *(f"-R{o}" for o in JAVA_OPTS),
                "--class-path",
                _cp(p.root, lib),
                jsh,
            ],
            timeout=300,
        )
        for line in r.stdout.splitlines():
            if line.startswith("CASE\t"):
                _, i, rest = line.split("\t", 2)
                out[int(i)] = rest
        missing = [i for i, _ in mine if i not in out]
        if missing:
            raise LabError(f"jshell gave no outcome for cases {missing}:\n{r.stdout[-2000:]}")
    return [out[i] for i in range(len(cases))]
