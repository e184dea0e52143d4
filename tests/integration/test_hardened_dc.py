"""A hardened DC: the container lab's DCs run Samba 4.22 with `ldap server require strong auth =
yes` (TLS channel bindings enforced, as Windows' LdapEnforceChannelBinding = 2); the native lab's
Samba 4.17 allows SASL over TLS without them. The first test proves which of the two the tests
run against, with OpenLDAP's client (not dirkit's), so the container suite cannot silently drift
back to a relaxed DC; the others prove that a DC refusing dirkit's bind for a hardening reason
gets one line saying what it requires and which setting gives it (exit 5, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from dirkit.errors import EXIT_CONFIG, EXIT_SERVICE
from dirkit_lab import settings as s

ENFORCING = os.environ.get("DIRKIT_LAB") == "docker"  # the container lab's DCs (docker/docker-compose.yml)
DCS = [s.AD_HOST, s.DC2_HOST]


def _ldapsearch(lab_status: dict[str, Any], host: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LDAPTLS_CACERT": lab_status["ca_cert"],
        "KRB5_CONFIG": lab_status["krb5_conf"],
        "KRB5CCNAME": f"FILE:{lab_status['lab_dir']}/cc/hardened",
    }
    keytab, principal = lab_status["keytabs"]["svc-dirkit"], lab_status["principals"]["sync"]
    subprocess.run(["kinit", "-k", "-t", keytab, principal], env=env, check=True, timeout=30)
    # -O maxssf=0: no SASL security layer inside TLS (what dirkit does, and what AD wants there).
    argv = ["ldapsearch", "-Q", "-Y", "GSSAPI", "-O", "maxssf=0", "-H", f"ldaps://{host}:636", *extra]
    return subprocess.run(
        [*argv, "-b", "", "-s", "base", "dnsHostName"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("host", DCS)
def test_the_dcs_the_tests_run_against_enforce_channel_bindings_or_say_they_do_not(
    lab_status: dict[str, Any], host: str
) -> None:
    bound = _ldapsearch(lab_status, host, "-o", "SASL_CBINDING=tls-endpoint")
    assert bound.returncode == 0 and f"dnsHostName: {host}" in bound.stdout, bound.stderr
    unbound = _ldapsearch(lab_status, host)  # OpenLDAP's default: no channel bindings
    if ENFORCING:
        assert unbound.returncode != 0 and "80090346" in unbound.stderr and "data 35b" in unbound.stderr
    else:
        assert unbound.returncode == 0, unbound.stderr  # Samba 4.17: allow_sasl_over_tls


def test_plain_ldap_is_refused_before_any_bind_with_the_key_and_the_fix(make_config_file: Any) -> None:
    # No TLS: a hardened DC refuses a simple bind ("Transport encryption required") and a SASL
    # bind without signing, which ldap3 cannot do; dirkit never tries (exit 4, the config).
    plain = {"urls": [f"ldap://{s.AD_HOST}:389"], "start_tls": False}
    env = {**os.environ, "DIRKIT_CONFIG": str(make_config_file(ldap=plain, hdfs=None, output=None))}
    r = subprocess.run([sys.executable, "-m", "dirkit._cli", "plan"], env=env, capture_output=True, text=True)
    (line,) = r.stderr.splitlines()
    assert r.returncode == EXIT_CONFIG and "Traceback" not in r.stderr
    assert "ldap:" in line and "plain LDAP" in line and "ldap.start_tls = true" in line, line


def test_channel_bindings_that_do_not_match_are_named_as_such(
    make_config_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for a TLS-terminating proxy between dirkit and the DC (which would present its
    # own certificate): ldap3's bindings computed over another certificate's hash. In process
    # (CliRunner), so the stand-in reaches the bind; before, the DC's refusal read as a Kerberos
    # failure ("no ticket for ldap/...: the KDC refused it").
    import gssapi
    import ldap3.protocol.sasl.kerberos as sasl
    from click.testing import CliRunner

    from dirkit._cli import main

    other = b"tls-server-end-point:" + bytes(32)
    monkeypatch.setattr(sasl, "get_channel_bindings", lambda _sock: gssapi.raw.ChannelBindings(application_data=other))
    config = make_config_file(ldap={"urls": [f"ldaps://{s.AD_HOST}:636"]}, hdfs=None, output=None)
    r = CliRunner().invoke(main, ["snapshot", "-c", str(config), "--json"])
    if not ENFORCING:
        assert r.exit_code == 0, r.output  # Samba 4.17 as the native lab runs it does not check them
        return
    assert r.exit_code == EXIT_SERVICE and isinstance(r.exception, SystemExit), r.output
    (line,) = [x for x in r.stderr.splitlines() if x.strip()]
    assert "refused the TLS channel bindings" in line and "LdapEnforceChannelBinding" in line, line
    assert "KDC" not in line and "Traceback" not in r.output
