"""The local lab: a real Samba AD DC and a real MIT KDC, run as plain processes.

``Lab().up()`` brings it up from nothing (idempotently), ``status()`` reports every service and
the files other tools need (krb5.conf, CA certificate, keytabs, a dirkit config), ``down()``
stops it. Everything lives under one directory (``DIRKIT_LAB_DIR``, default /var/lib/dirkit-lab).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from dirkit._safe_files import write_atomic

from . import ad_dc as samba
from . import hiveserver, host, kdc, namenode, sssd, tls
from . import settings as s
from .config import lab_config_toml
from .settings import LabPaths

Progress = Callable[[str], None]
TRUSTSTORE_PASSWORD = "changeit"  # lab trust store of a public CA cert: nothing secret in it
NAMENODE, HIVESERVER, DC2, SSSD = "hdfs-namenode", "hiveserver2", "samba-ad-dc2", "sssd"  # the optional services
OPTIONAL = (NAMENODE, HIVESERVER, DC2, SSSD)


@dataclass
class UpReport:
    seconds: float
    steps: list[tuple[str, float]] = field(default_factory=list)
    provisioned: bool = False  # False: the AD database came from the cache


def _answers(check: Callable[[], bool]) -> bool:
    """A readiness probe: any failure (refused, timeout, Kerberos error) means "not ready"."""
    try:
        return check()
    except Exception:  # noqa: BLE001 - status reports, it does not raise
        return False


class Lab:
    def __init__(self, paths: LabPaths | None = None) -> None:
        self.paths = paths or LabPaths.default()

    # -- lifecycle -----------------------------------------------------------------------
    def up(
        self,
        bulk_users: int = 0,
        fresh: bool = False,
        progress: Progress | None = None,
        with_hdfs: bool = True,
        with_hive: bool = True,
        with_dc2: bool = True,
        with_sssd: bool = True,
    ) -> UpReport:
        p = self.paths
        t0 = time.monotonic()
        report = UpReport(seconds=0.0)

        def step(msg: str) -> None:
            elapsed = time.monotonic() - t0
            report.steps.append((msg, elapsed))
            if progress:
                progress(f"[{elapsed:6.2f}s] {msg}")

        for d in (p.root, p.logs, p.ccaches, p.keytabs):
            d.mkdir(parents=True, exist_ok=True)
        # Remembered for `status`: a service left out on purpose is not "not ready".
        wanted = {NAMENODE: with_hdfs, HIVESERVER: with_hive, DC2: with_dc2, SSSD: with_sssd}
        self._services_file.write_text(json.dumps(wanted) + "\n")
        installed = host.ensure_packages(p.logs / "apt.log")
        if installed:
            step(f"installed Debian packages: {', '.join(installed)}")
        host.ensure_network()
        write_atomic(p.krb5_conf, kdc.client_krb5_conf().encode(), 0o644)
        step("host ready (loopback aliases, /etc/hosts, krb5.conf)")

        if tls.ensure(p.tls):  # a new certificate: DCs still serving the old one must restart
            for name in samba.DCS:
                samba.stop(p, name)
        replaced = fresh or not samba.database_current(p, bulk_users) or not samba.running(p)
        if replaced:
            report.provisioned = samba.prepare(p, bulk_users, fresh, step)
            # The lab's sync state described the database just replaced: start it afresh.
            for f in (
                p.state_db,
                p.state_db.with_name(p.state_db.name + "-wal"),
                p.state_db.with_name(p.state_db.name + "-shm"),
            ):
                f.unlink(missing_ok=True)
        host.ensure_network(samba.ntds_names(p))
        dcs = samba.DCS if with_dc2 else ("dc1",)
        for name in dcs:
            samba.start(p, name)
        if not with_dc2:
            samba.stop(p, "dc2")
        for name in dcs:
            waited = samba.wait_ready(p, name)
            step(f"Samba AD DC ready at {p.dc(name).host} ({p.dc(name).ip}) after {waited:.2f}s")
        if replaced and with_dc2:
            samba.pair(p)
            step("the two DCs replicate both ways")

        kdc_created = False
        if not (kdc.initialised(p) and kdc.running(p)):
            kdc.create(p)
            kdc.start(p)
            kdc_created = True
        host.wait_until(lambda: kdc.ready(p), 30, "MIT KDC")
        step(f"MIT KDC ready for {s.EMR_REALM} at {s.KDC_IP}")

        if with_hdfs:
            if kdc_created:
                namenode.stop(p)  # its keytabs came from the previous KDC database
            namenode.start(p)
            waited = namenode.wait_ready(p)
            namenode.ensure_user_prefix(p)
            step(f"HDFS NameNode ready at {namenode.webhdfs_url()} after {waited:.2f}s")

        if with_hive:
            if kdc_created:
                hiveserver.stop(p)
            hiveserver.start(p)
            waited = hiveserver.wait_ready(p)
            step(f"HiveServer2 ready at {hiveserver.HOST}:{hiveserver.PORT} after {waited:.2f}s")

        self.write_client_files(with_dc2)
        step(f"lab config written to {p.config}")
        if with_sssd:
            if sssd.ensure_root(p):
                step(f"cluster node root built for SSSD in {sssd.root(p)}")
            self.start_sssd()
            step("SSSD (a cluster node joined to AD) answers")
        report.seconds = time.monotonic() - t0
        return report

    def write_client_files(self, with_dc2: bool = True) -> None:
        """What clients on this machine use: krb5.conf, the lab's password files, the CA as a
        Java trust store and the dirkit config (also after the lab came up in containers)."""
        p = self.paths
        write_atomic(p.krb5_conf, kdc.client_krb5_conf().encode(), 0o644)
        self._write_secrets()
        write_atomic(p.config, lab_config_toml(p, with_dc2=with_dc2).encode(), 0o644)

    def _write_secrets(self) -> None:
        """Lab passwords as files (for file: references) and the CA as a Java trust store."""
        p = self.paths
        p.secrets.mkdir(mode=0o700, exist_ok=True)
        for name, value in (
            ("cross-realm", s.CROSS_REALM_PASSWORD),
            (s.SYNC_ACCOUNT, s.USER_PASSWORD),
            ("lab-users", s.USER_PASSWORD),
            ("truststore", TRUSTSTORE_PASSWORD),
        ):
            f = p.secret(name)
            f.touch(mode=0o600)
            f.write_text(value + "\n")
        keytool = shutil.which("keytool")
        if keytool:  # Java is optional for the lab itself; the Hadoop checks need it
            p.truststore.unlink(missing_ok=True)
            host.run(
                [
                    keytool,
                    "-importcert",
                    "-noprompt",
                    "-alias",
                    "dirkit-lab-ca",
                    "-file",
                    p.ca_cert,
                    "-keystore",
                    p.truststore,
                    "-storetype",
                    "PKCS12",
                    "-storepass",
                    TRUSTSTORE_PASSWORD,
                ],
                log=p.logs / "keytool.log",
            )

    def restart_samba(self, restore: bool = True, bulk_users: int | None = None) -> float:
        """Stop the DCs, optionally put the cached databases back (both: they hold each other's
        replication state), start again (test isolation)."""
        p = self.paths
        for name in samba.DCS:
            samba.stop(p, name)
        if restore:
            marker = (p.root / "ad-database").read_text().strip()
            bulk = bulk_users if bulk_users is not None else int(marker.rsplit("bulk", 1)[1])
            samba.restore_golden(p, bulk)
        started = [name for name in samba.DCS if name == "dc1" or self.wanted()[DC2]]
        for name in started:
            samba.start(p, name)
        waited = sum(samba.wait_ready(p, name) for name in started)
        if restore and len(started) == 2:
            samba.pair(p)
        return waited

    def stop_samba(self, name: str = "dc1") -> None:
        samba.stop(self.paths, name)

    def start_samba(self, name: str = "dc1") -> float:
        samba.start(self.paths, name)
        return samba.wait_ready(self.paths, name)

    def stop_namenode(self) -> None:
        namenode.stop(self.paths)

    def start_namenode(self) -> float:
        namenode.start(self.paths)
        return namenode.wait_ready(self.paths)

    def tombstone_rights(self, granted: bool, account: str = s.SYNC_ACCOUNT) -> None:
        """Let ``account`` read CN=Deleted Objects, or not (the lab grants svc-dirkit the right
        when it provisions the domain; tests take it away to run as a plain-read account)."""
        samba.tombstone_rights(self.paths, account, granted)

    def replicate(self, to: str, source: str) -> None:
        """Have DC ``to`` pull the domain's changes from DC ``source`` now."""
        samba.replicate(self.paths, to, source)

    def start_sssd(self, extra: str = "") -> float:
        """(Re)start the cluster node's SSSD with an empty cache; ``extra``: lines added to its
        domain section (the settings `dirkit sssd config` renders, say)."""
        sssd.start(self.paths, extra)
        return sssd.wait_ready(self.paths)

    def node(self, *argv: str) -> str:
        """Run ``id``/``getent``... on the cluster node (against its SSSD); its output, or "" if it failed."""
        r = sssd.query(self.paths, *argv)
        return r.stdout if r.returncode == 0 else ""

    def down(self, purge: bool = False) -> None:
        p = self.paths
        sssd.stop(p)
        hiveserver.stop(p)
        namenode.stop(p)
        for name in samba.DCS:
            samba.stop(p, name)
        kdc.stop(p)
        if purge:
            for d in (
                p.samba,
                p.dc("dc2").dir,
                p.kdc,
                p.ccaches,
                p.keytabs,
                p.tls,
                p.root / "namenode",
                p.root / "hiveserver",
                p.root / "sssd",
            ):
                host.run(["rm", "-rf", d])
            for f in (p.config, p.krb5_conf, p.ca_cert, p.root / "ad-database"):
                f.unlink(missing_ok=True)
            host.remove_network()

    # -- reporting -----------------------------------------------------------------------
    @property
    def _services_file(self) -> Path:
        return self.paths.root / "services.json"

    def wanted(self) -> dict[str, bool]:
        """The optional services the last `up` was asked to start (both, if never asked)."""
        try:
            asked = json.loads(self._services_file.read_text())
        except (OSError, ValueError):
            asked = {}
        return {name: bool(asked.get(name, True)) for name in OPTIONAL}

    def status(self, external: bool = False) -> dict[str, Any]:
        """Every service the lab was asked to run (`up --no-hdfs/--no-hive/--no-dc2` leave one
        out), whether it runs and answers, and the files other tools need. ``external``: the
        services run elsewhere (containers), so "running" means "answers"."""
        p = self.paths

        def running(native: Callable[[], bool], answers: Callable[[], bool]) -> tuple[bool, bool]:
            up = _answers(answers) if external else native()
            return up, up and (external or _answers(answers))

        dcs = []
        for name in samba.DCS:
            dc = p.dc(name)
            dc_running, dc_ready = running(partial(samba.running, p, name), partial(samba.ready, p, name))
            dcs.append(
                {
                    "name": "samba-ad-dc" if name == "dc1" else DC2,
                    "realm": s.AD_REALM,
                    "host": dc.host,
                    "address": dc.ip,
                    "urls": [f"ldap://{dc.host}:389", f"ldaps://{dc.host}:636", f"kerberos://{dc.host}:88"],
                    "base_dn": s.AD_BASE,
                    "running": dc_running,
                    "ready": dc_ready,
                }
            )
        kdc_running, kdc_ready = running(partial(kdc.running, p), partial(kdc.ready, p))
        # The NameNode and HiveServer2 checks log in to the KDC: only worth trying when it is up.
        nn_running, nn_ready = running(partial(namenode.running, p), lambda: kdc_ready and namenode.ready(p))
        hs2_running, hs2_ready = running(partial(hiveserver.running, p), lambda: kdc_ready and hiveserver.answers(p))
        services = [
            *dcs,
            {
                "name": "mit-kdc",
                "realm": s.EMR_REALM,
                "host": s.KDC_HOST,
                "address": s.KDC_IP,
                "urls": [f"kerberos://{s.KDC_HOST}:88", f"kadmin://{s.KDC_HOST}:749"],
                "running": kdc_running,
                "ready": kdc_ready,
            },
            {
                "name": NAMENODE,
                "realm": s.EMR_REALM,
                "host": "localhost",
                "address": "127.0.0.1",
                "urls": [f"hdfs://localhost:{namenode.RPC_PORT}", namenode.webhdfs_url()],
                "superuser": namenode.SUPERUSER,
                "running": nn_running,
                "ready": nn_ready,
            },
            {
                "name": HIVESERVER,
                "realm": s.EMR_REALM,
                "host": hiveserver.HOST,
                "address": "127.0.0.1",
                "urls": [f"hive2://{hiveserver.HOST}:{hiveserver.PORT}"],
                "principal": kdc.service_principal("hive"),
                "running": hs2_running,
                "ready": hs2_ready,
            },
        ]
        wanted = self.wanted()
        sssd_running, sssd_ready = running(partial(sssd.running, p), partial(sssd.ready, p))
        services.append(
            {
                "name": SSSD,
                "realm": s.AD_REALM,
                "host": f"{s.NODE_ACCOUNT}.{s.AD_DOMAIN}",
                "address": "-",
                "urls": [f"chroot://{sssd.root(p)}"],
                "running": sssd_running,
                "ready": sssd_ready,
            }
        )
        services = [svc for svc in services if wanted.get(str(svc["name"]), True)]
        keytabs = {kt.stem: str(kt) for kt in sorted(p.keytabs.glob("*.keytab"))} if p.keytabs.exists() else {}
        return {
            "lab_dir": str(p.root),
            "ready": all(svc["ready"] for svc in services),
            "services": services,
            "krb5_conf": str(p.krb5_conf),
            "ca_cert": str(p.ca_cert),
            "config": str(p.config),
            "keytabs": keytabs,
            "principals": {
                "sync": f"{s.SYNC_ACCOUNT}@{s.AD_REALM}",
                **{svc: kdc.service_principal(svc) for svc in s.SERVICES},
            },
        }


__all__ = ["Lab", "LabPaths", "UpReport"]
