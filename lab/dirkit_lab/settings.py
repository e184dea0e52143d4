"""Fixed facts about the local lab: addresses, names, realms and where its state lives.

The lab is a test fixture: its passwords are well-known lab values, never real secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

AD_REALM = "AD.DIRKIT.TEST"
AD_DOMAIN = "ad.dirkit.test"
AD_NETBIOS = "DIRKIT"
AD_BASE = "DC=ad,DC=dirkit,DC=test"
AD_IP = "127.0.0.10"
AD_HOST = "dc1.ad.dirkit.test"
# The second DC: joined to the domain, replicating with the first (failover and delta tests).
DC2_IP = "127.0.0.12"
DC2_HOST = "dc2.ad.dirkit.test"

EMR_REALM = "EMR.DIRKIT.TEST"
KDC_IP = "127.0.0.11"
KDC_HOST = "kdc.emr.dirkit.test"
# Cluster service principals use the host name "localhost": the lab's NameNode, HTTP (SPNEGO)
# and HiveServer2 endpoints all run on this machine.
SERVICE_HOST = "localhost"
SERVICES = ("HTTP", "nn", "hive")

# Well-known lab-only passwords (test fixture, not secrets).
ADMIN_PASSWORD = "Passw0rd!Lab1"
USER_PASSWORD = "Passw0rd!Lab1"
KDC_MASTER_PASSWORD = "MasterKey!Lab1"
CROSS_REALM_PASSWORD = "CrossRealm!Lab1"

SYNC_ACCOUNT = "svc-dirkit"
# The computer account of the lab's cluster node: its keytab is the node's host keytab (SSSD).
NODE_ACCOUNT = "emrnode1"

HOSTS_BEGIN = "# BEGIN dirkit-lab"
HOSTS_END = "# END dirkit-lab"


@dataclass(frozen=True)
class DcPaths:
    """One Samba DC of the lab: its names and the directory holding its database and smb.conf."""

    name: str
    host: str
    ip: str
    dir: Path

    @property
    def smb_conf(self) -> Path:
        return self.dir / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.dir / "private" / "sam.ldb"

    @property
    def pid(self) -> Path:
        return self.dir / "run" / "samba.pid"

    @property
    def log(self) -> Path:
        return self.dir / "samba.log"


@dataclass(frozen=True)
class LabPaths:
    """Every file the lab writes lives under one directory (``DIRKIT_LAB_DIR``)."""

    root: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(Path(os.environ.get("DIRKIT_LAB_DIR", "/var/lib/dirkit-lab")))

    @property
    def samba(self) -> Path:
        return self.root / "samba"

    @property
    def smb_conf(self) -> Path:
        return self.samba / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.samba / "private" / "sam.ldb"

    @property
    def samba_pid(self) -> Path:
        return self.samba / "run" / "samba.pid"

    def dc(self, name: str) -> DcPaths:
        """Where one DC's files live: dc1 in ``samba/`` (as before dc2 existed), dc2 in ``samba-dc2/``."""
        host, ip = {"dc1": (AD_HOST, AD_IP), "dc2": (DC2_HOST, DC2_IP)}[name]
        return DcPaths(name, host, ip, self.samba if name == "dc1" else self.root / f"samba-{name}")

    @property
    def tls(self) -> Path:
        """The DC's CA, certificate and key, made by lab/tls.py (kept across database restores)."""
        return self.root / "tls"

    @property
    def samba_ca(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def ca_cert(self) -> Path:
        """A stable copy of the DC's CA certificate (refreshed on every start)."""
        return self.root / "ca.pem"

    @property
    def kdc(self) -> Path:
        return self.root / "kdc"

    @property
    def krb5_conf(self) -> Path:
        return self.root / "krb5.conf"

    @property
    def keytabs(self) -> Path:
        return self.root / "keytabs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def ccaches(self) -> Path:
        return self.root / "cc"

    @property
    def golden(self) -> Path:
        return self.root / "golden"

    @property
    def bulk(self) -> Path:
        return self.root / "bulk"

    @property
    def config(self) -> Path:
        """The dirkit config for the lab, written by ``dirkit-lab up``."""
        return self.root / "dirkit.toml"

    @property
    def state_db(self) -> Path:
        return self.root / "state.sqlite"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def secret(self, name: str) -> Path:
        """A lab password in a file (mode 600), for file: secret references."""
        return self.secrets / f"{name}.password"

    @property
    def truststore(self) -> Path:
        """The lab CA as a PKCS12 trust store, for Java (Hadoop's LdapGroupsMapping)."""
        return self.root / "truststore.p12"

    def keytab(self, name: str) -> Path:
        return self.keytabs / f"{name}.keytab"
