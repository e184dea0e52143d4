#!/bin/bash
# Set up a fresh Debian 12 machine for dirkit: system packages, then a venv in .venv with
# dirkit, its test dependencies and the lab (lab/). Idempotent and quick when nothing changed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build deps for gssapi/kerberos wheels + everything the lab runs (Samba AD DC, MIT KDC, tools).
PKGS="python3 python3-venv python3-dev gcc libkrb5-dev krb5-user
      samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind krb5-kdc krb5-admin-server
      ldap-utils ldb-tools libsasl2-modules-gssapi-mit iproute2
      python3-ldap
      podman runc mmdebstrap chromium chromium-driver"  # python3-ldap: Hue's LDAP client, for the Hue failover test;
# podman (rootful, runc) + mmdebstrap: the lab in containers, where there is no Docker engine;
# chromium + chromium-driver: the HTML access report is tested in a real headless browser
# libreoffice-calc-nogui (headless, without its recommends): the CSV report is opened by a real
# spreadsheet engine to prove that no AD name in it is evaluated as a formula.
dpkg-query -W -f='${Status}' libreoffice-calc-nogui 2>/dev/null | grep -q "install ok installed" || {
  echo "bootstrap: apt-get install libreoffice-calc-nogui" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null
}
# Java (with jshell, keytool) and Maven: the lab runs Hadoop's own classes from Maven Central.
command -v java >/dev/null && command -v jshell >/dev/null || PKGS="$PKGS openjdk-17-jdk-headless"
command -v mvn >/dev/null || PKGS="$PKGS maven"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "bootstrap: apt-get install" $missing >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# The venv uses Debian's python3 (the one python3-dev matches): dirkit and, beside it, the lab
# (its own distribution, lab/: dirkit's wheel holds none of it). Reinstall when either changes.
stamp=.venv/.dirkit-installed
want=$(cat pyproject.toml lab/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: building .venv" >&2
  /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip wheel >/dev/null
  .venv/bin/pip install -q -e '.[test,aws]' -e './lab[hive]' >.venv/pip.log 2>&1 || { tail -20 .venv/pip.log >&2; exit 1; }
  .venv/bin/python -c 'import dirkit, dirkit_lab, ldap3, gssapi, kerberos, pyhive, pyspark, pytest'
  echo "$want" > $stamp
fi
echo "bootstrap: ok (.venv/bin/dirkit, .venv/bin/dirkit-lab)" >&2
