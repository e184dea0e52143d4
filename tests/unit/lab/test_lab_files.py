"""The lab's generated files and seed data are consistent (no services needed)."""

import json
from pathlib import Path

import pytest
import tomllib

from dirkit_lab import kdc, seed
from dirkit_lab import settings as s
from dirkit_lab.config import lab_config_toml
from dirkit_lab.settings import LabPaths


def test_lab_config_is_valid_toml_pointing_into_the_lab_dir(tmp_path: Path) -> None:
    cfg = tomllib.loads(lab_config_toml(LabPaths(tmp_path)))
    # Both DCs, dc1 first: dirkit fails over to dc2 when dc1 does not answer.
    assert cfg["ldap"]["urls"] == [f"ldaps://{s.AD_HOST}:636", f"ldaps://{s.DC2_HOST}:636"]
    one_dc = tomllib.loads(lab_config_toml(LabPaths(tmp_path), with_dc2=False))
    assert one_dc["ldap"]["urls"] == [f"ldaps://{s.AD_HOST}:636"]
    assert cfg["ldap"]["keytab"].startswith(str(tmp_path))
    assert "password" not in cfg["ldap"]  # the lab binds with a keytab, never a password
    assert cfg["metrics"]["textfile"] == str(tmp_path / "metrics" / "dirkit.prom")


def test_client_krb5_conf_has_both_realms_and_direct_capath() -> None:
    conf = kdc.client_krb5_conf()
    assert f"{s.AD_REALM} = {{" in conf and f"{s.EMR_REALM} = {{" in conf
    assert "rdns = false" in conf and "dns_canonicalize_hostname = false" in conf
    assert f"{s.EMR_REALM} = ." in conf
    # Both DCs are KDCs of the AD realm, dc1 first: with dc1 down, kinit goes on to dc2.
    assert conf.index(f"kdc = {s.AD_IP}") < conf.index(f"kdc = {s.DC2_IP}")


def test_seed_members_all_exist() -> None:
    names = {u.sam for u in seed.SEED.users} | {g.sam for g in seed.SEED.groups}
    names |= {"Domain Admins"}
    for g in seed.SEED.groups:
        for m in g.members:
            assert m in names or m.startswith("CN="), (g.sam, m)
    for group, member in seed.SEED.late_members:
        assert group in names and (member in names or member.startswith("<SID=")), (group, member)


def test_seed_has_the_scenario_identities() -> None:
    users = {u.sam: u for u in seed.SEED.users}
    assert {"admin1", "dataeng1", "datascientist1", s.SYNC_ACCOUNT} <= users.keys()
    assert any(u.disabled for u in users.values())
    groups = {g.sam: g for g in seed.SEED.groups}
    assert groups["grp_analytics"].members == ("grp_data_science",)


def test_status_leaves_out_the_services_up_was_told_to_skip(tmp_path: Path) -> None:
    """`lab up --no-hive` then `lab status`: HiveServer2 is not asked for, so not "not ready"."""
    from dirkit_lab import DC2, HIVESERVER, NAMENODE, SSSD, Lab

    lab = Lab(LabPaths(tmp_path))
    assert lab.wanted() == {NAMENODE: True, HIVESERVER: True, DC2: True, SSSD: True}  # never brought up: everything
    (tmp_path / "services.json").write_text(json.dumps({NAMENODE: True, HIVESERVER: False, DC2: False, SSSD: False}))
    names = [svc["name"] for svc in lab.status()["services"]]
    assert NAMENODE in names and HIVESERVER not in names and DC2 not in names and "samba-ad-dc" in names
    assert SSSD not in names


def test_the_dc_certificate_names_both_dcs_and_is_remade_when_it_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography import x509

    from dirkit_lab import tls

    def names() -> set[str]:
        cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return set(san.get_values_for_type(x509.DNSName))

    with monkeypatch.context() as m:  # a lab from before dc2 existed: dc1 only
        m.setattr(tls, "HOSTS", (s.AD_HOST,))
        assert tls.ensure(tmp_path) is True
        assert names() == {s.AD_HOST}
    assert tls.ensure(tmp_path) is True  # remade: it did not name dc2
    assert names() == {s.AD_HOST, s.DC2_HOST}
    assert tls.ensure(tmp_path) is False  # then kept


def test_the_lab_certificate_passes_python_3_13s_strict_verification(tmp_path: Path) -> None:
    # Issue 21: Debian 13's Python (3.13) verifies with VERIFY_X509_STRICT by default; the bulk
    # DC's readiness check there failed with "Missing Authority Key Identifier".
    import socket
    import ssl
    import threading

    from dirkit_lab import settings, tls

    assert tls.ensure(tmp_path / "tls")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=settings.AD_HOST) as tls_conn:
                assert tls_conn.version() is not None
                tls_conn.send(b"x")
        t.join(5)
