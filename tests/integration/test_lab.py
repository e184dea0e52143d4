"""The lab is real: TLS-verified LDAPS, a GSSAPI bind from a keytab, a cross-realm ticket."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import gssapi
import ldap3
import pytest

from dirkit_lab import settings as s


def _tls(status: dict[str, Any]) -> ldap3.Tls:
    return ldap3.Tls(ca_certs_file=status["ca_cert"], validate=ssl.CERT_REQUIRED)


def test_status_reports_every_service_ready(lab_status: dict[str, Any]) -> None:
    names = {svc["name"]: svc for svc in lab_status["services"]}
    assert names["samba-ad-dc"]["ready"] and names["samba-ad-dc"]["realm"] == "AD.DIRKIT.TEST"
    assert names["mit-kdc"]["ready"] and names["mit-kdc"]["realm"] == "EMR.DIRKIT.TEST"
    for key in ("svc-dirkit", "HTTP-localhost", "nn-localhost", "hive-localhost"):
        assert key in lab_status["keytabs"]


def test_ldaps_search_with_verified_ca(lab_status: dict[str, Any]) -> None:
    server = ldap3.Server(s.AD_HOST, port=636, use_ssl=True, tls=_tls(lab_status), get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=f"Administrator@{s.AD_REALM}", password=s.ADMIN_PASSWORD, auto_bind=True)
    conn.search(s.AD_BASE, "(sAMAccountName=dataeng1)", attributes=["userPrincipalName"])
    assert [str(e.userPrincipalName) for e in conn.entries] == ["dataeng1@AD.DIRKIT.TEST"]
    conn.unbind()


def test_ldaps_refuses_an_unknown_ca(lab_status: dict[str, Any], tmp_path: Any) -> None:
    # The system CA bundle does not contain the lab CA: verification must fail, not pass silently.
    server = ldap3.Server(
        s.AD_HOST, port=636, use_ssl=True, get_info=ldap3.NONE, tls=ldap3.Tls(validate=ssl.CERT_REQUIRED)
    )
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError):
        ldap3.Connection(server, auto_bind=True)


def _keytab_creds(status: dict[str, Any], principal: str, keytab: str) -> gssapi.Credentials:
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    ccache = f"MEMORY:test-{uuid.uuid4().hex}"
    return gssapi.Credentials(name=name, usage="initiate", store={"client_keytab": keytab, "ccache": ccache})


def test_gssapi_bind_from_service_keytab(lab_status: dict[str, Any]) -> None:
    creds = _keytab_creds(lab_status, lab_status["principals"]["sync"], lab_status["keytabs"]["svc-dirkit"])
    server = ldap3.Server(s.AD_HOST, port=636, use_ssl=True, tls=_tls(lab_status), get_info=ldap3.NONE)
    conn = ldap3.Connection(
        server, authentication=ldap3.SASL, sasl_mechanism=ldap3.KERBEROS, sasl_credentials=(None, None, creds)
    )
    assert conn.bind(), conn.result
    # Samba has no WhoAmI operation; the rootDSE's tokenGroups holds the bound account's SID.
    conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["tokenGroups"])
    token = set(conn.response[0]["raw_attributes"]["tokenGroups"])
    conn.search(s.AD_BASE, "(sAMAccountName=svc-dirkit)", attributes=["objectSid"])
    assert conn.response[0]["raw_attributes"]["objectSid"][0] in token
    conn.unbind()


def test_ad_user_gets_cluster_service_ticket_through_trust(lab_status: dict[str, Any]) -> None:
    user = gssapi.Name("dataeng1@AD.DIRKIT.TEST", gssapi.NameType.kerberos_principal)
    creds = gssapi.raw.acquire_cred_with_password(user, s.USER_PASSWORD.encode(), usage="initiate").creds
    target = gssapi.Name(lab_status["principals"]["HTTP"], gssapi.NameType.kerberos_principal)
    initiator = gssapi.SecurityContext(name=target, creds=creds, usage="initiate")
    token = initiator.step()
    # The cluster service accepts it with its own keytab and sees the AD principal.
    acceptor_creds = gssapi.Credentials(usage="accept", store={"keytab": lab_status["keytabs"]["HTTP-localhost"]})
    acceptor = gssapi.SecurityContext(creds=acceptor_creds, usage="accept")
    acceptor.step(token)
    assert acceptor.complete
    assert str(acceptor.initiator_name) == "dataeng1@AD.DIRKIT.TEST"


def test_disabled_user_cannot_kinit(lab_status: dict[str, Any]) -> None:
    user = gssapi.Name("disabled1@AD.DIRKIT.TEST", gssapi.NameType.kerberos_principal)
    with pytest.raises(gssapi.exceptions.GSSError, match="revoked"):
        gssapi.raw.acquire_cred_with_password(user, s.USER_PASSWORD.encode(), usage="initiate")


def test_the_dc_certificate_is_the_labs_own_and_raises_no_warning(make_config: Any) -> None:
    """Samba's self-made certificate had a negative serial: cryptography warned on every LDAPS
    connection (and says it will refuse such certificates)."""
    import warnings

    from dirkit import _sync as sync

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sync.read(make_config())
    assert not [w for w in caught if "serial" in str(w.message).lower()], [str(w.message) for w in caught]
