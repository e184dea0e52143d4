"""Connecting and binding to AD with ldap3: TLS always, failover across DCs, clear errors."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import ldap3
from gssapi.raw.misc import GSSError
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import to_unicode

from .. import _kerberos as kerberos
from .._config import LdapConfig
from ..errors import DirectoryAuthError, DirectoryError, DirectoryTLSError, DirectoryUnreachable

log = logging.getLogger("dirkit.directory.ldap")  # its name before the module became private

# What the reader asks for. All of it is taken raw (bytes) and decoded by the reader itself.
USER_ATTRS = [
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "userAccountControl",
    "primaryGroupID",
    "uSNChanged",
    "uSNCreated",
    "isCriticalSystemObject",
]
GROUP_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "uSNChanged", "uSNCreated"]

# AD's "data NNN" sub-codes in invalidCredentials (49) messages.
_AD_BIND_CODES = {
    "525": "user not found",
    "52e": "wrong password",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed",
    "775": "account locked out",
}


def _raw_entry(payload: Any) -> dict[str, Any]:
    """A searchResEntry from ldap3's fast BER decoder as the reader uses it: the DN and each
    attribute's values as bytes, in a plain dict under the name the server sent. ldap3 itself
    builds that, then a second, formatted copy of every attribute (``attributes``: names
    decoded again, each value through a formatter looked up by name) that dirkit never reads;
    the copy was a quarter of the CPU a 10k-user read took (measured with yappi)."""
    raw_dn = payload[0][3]
    try:
        dn = raw_dn.decode("utf-8")
    except UnicodeDecodeError:  # ldap3's fallbacks (AD may send a DN that is not UTF-8)
        dn = to_unicode(raw_dn, from_server=True)
    attrs = {a[3][0][3].decode("utf-8"): [bytes(v[3]) for v in a[3][1][3]] for a in payload[1][3]}
    return {"type": "searchResEntry", "raw_dn": raw_dn, "dn": dn, "raw_attributes": attrs}


def _lean(conn: ldap3.Connection) -> ldap3.Connection:
    """Decode this connection's search entries with :func:`_raw_entry` (every other response
    as ldap3 does). Per connection, so nothing global in ldap3 changes."""
    strategy = conn.strategy
    ldap3_decode = strategy.decode_response_fast

    def decode(message: dict[str, Any]) -> dict[str, Any]:
        if message["protocolOp"] == 4:  # searchResEntry
            return _raw_entry(message["payload"])
        result: dict[str, Any] = ldap3_decode(message)
        return result

    strategy.decode_response_fast = decode
    return conn


def _server(url: str, cfg: LdapConfig) -> ldap3.Server:
    u = urlparse(url)
    use_ssl = u.scheme == "ldaps"
    try:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if cfg.verify_tls else ssl.CERT_NONE,
            ca_certs_file=str(cfg.ca_file) if cfg.ca_file else None,
        )
    except lexc.LDAPSSLConfigurationError as exc:  # ldap3 checks the file exists
        raise DirectoryTLSError(f"ldap.ca_file {cfg.ca_file}: cannot be read ({exc})") from exc
    return ldap3.Server(
        u.hostname or "",
        port=u.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=cfg.timeout_seconds,
    )


def _connection(server: ldap3.Server, cfg: LdapConfig, strategy: str = ldap3.SYNC) -> ldap3.Connection:
    common = dict(
        receive_timeout=max(1, round(cfg.timeout_seconds)),  # ldap3 packs it as an int
        # auto_range off: ldap3's own range handling has known truncation bugs; the reader
        # follows `member;range=` itself and checks every step.
        auto_range=False,
        raise_exceptions=False,
        read_only=True,
        return_empty_attributes=False,
        auto_referrals=False,
        client_strategy=strategy,
    )
    if cfg.bind == "kerberos":
        assert cfg.principal and cfg.keytab
        # ldap3 takes the handle out of the Credentials object it is given: a fresh one per bind.
        creds = kerberos.keytab_credentials(cfg.principal, cfg.keytab)
        conn = ldap3.Connection(
            server,
            authentication=ldap3.SASL,
            sasl_mechanism=ldap3.KERBEROS,
            sasl_credentials=(None, None, creds),
            **common,
        )
    else:
        assert cfg.bind_dn and cfg.password
        conn = ldap3.Connection(
            server, user=cfg.bind_dn, password=cfg.password.resolve(), authentication=ldap3.SIMPLE, **common
        )
    # The lean decoder is the reader's; ldap3's streaming strategy wants its own entries.
    return _lean(conn) if strategy == ldap3.SYNC else conn


def _classify_open_error(url: str, exc: Exception, cfg: LdapConfig) -> DirectoryError:
    # ldap3 re-raises TLS failures as LDAPSocketOpenError with the original's text only (its
    # LDAPCertificateError type is lost), so the text is all there is to tell them apart.
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        where = f"ldap.ca_file ({cfg.ca_file})" if cfg.ca_file else "the system CA store (set ldap.ca_file)"
        return DirectoryTLSError(f"{url}: the server's certificate is not trusted by {where}")
    low = text.lower()
    if "doesn't match any name" in low or ("hostname" in low and ("match" in low or "doesn't" in low)):
        return DirectoryTLSError(
            f"{url}: the certificate does not match the host name; connect by the DC's DNS name, not its IP address"
        )
    return DirectoryUnreachable(
        f"{url}: cannot connect ({text.split(' - ')[-1].strip() or type(exc).__name__}); "
        "check the URL, DNS and firewall"
    )


def _bind_error(url: str, conn: ldap3.Connection, cfg: LdapConfig) -> DirectoryError:
    res = conn.result or {}
    msg = str(res.get("message", ""))
    who = cfg.principal if cfg.bind == "kerberos" else cfg.bind_dn
    if res.get("result") == 49:
        detail = next((v for k, v in _AD_BIND_CODES.items() if f"data {k}" in msg), "invalid credentials")
        return DirectoryAuthError(f"{url}: bind as {who} refused: {detail}")
    if res.get("result") == 8:
        return DirectoryAuthError(f"{url}: {_stronger_auth(msg)}")
    if "80090346" in msg:  # SEC_E_BAD_BINDINGS (AD's "data 35b", Samba's too)
        return DirectoryAuthError(f"{url}: {_BAD_BINDINGS} (the DC said: {msg})")
    return DirectoryAuthError(f"{url}: bind as {who} failed: {res.get('description')} {msg}".strip())


_USE_TLS = "use ldaps:// URLs in ldap.urls or set ldap.start_tls = true"
# What a DC that enforces LDAP channel binding answers when the TLS channel bindings of a SASL
# bind do not match its certificate. dirkit sends them (ldap3, tls-server-end-point), so they
# differ only when something between dirkit and the DC terminates TLS with another certificate.
_BAD_BINDINGS = (
    "the DC refused the TLS channel bindings of the Kerberos bind: it enforces LDAP channel binding "
    "(Windows LdapEnforceChannelBinding = 2; Samba 4.21+ 'ldap server require strong auth = yes'), and the "
    "certificate dirkit saw is not the DC's own: a TLS-terminating proxy or load balancer between them? "
    "Point ldap.urls at the DCs themselves"
)


def _stronger_auth(msg: str) -> str:
    """strongerAuthRequired (8): what the DC said, and the settings that give it TLS (the config
    refuses plain LDAP without StartTLS, so only an unusual DC or proxy answers this)."""
    return f"the DC requires a stronger bind ({msg.strip() or 'strongerAuthRequired'}): {_USE_TLS}"


def open_one(url: str, cfg: LdapConfig, strategy: str = ldap3.SYNC) -> ldap3.Connection:
    """Connect to one URL and bind; raise a classified DirectoryError. ``strategy``: ldap3's
    client strategy (ASYNC_STREAM for a notification search)."""
    conn = _connection(_server(url, cfg), cfg, strategy)
    try:
        conn.open()
        if cfg.start_tls and url.startswith("ldap://"):
            if not conn.start_tls():
                raise DirectoryTLSError(f"{url}: StartTLS refused: {conn.result}")
        if not conn.bind():
            raise _bind_error(url, conn, cfg)
    except DirectoryError:
        close(conn)
        raise
    except (lexc.LDAPException, OSError) as exc:
        close(conn)
        raise _classify_open_error(url, exc, cfg) from exc
    except GSSError as exc:  # ldap3's GSSAPI bind lets python-gssapi's errors through
        close(conn)
        refused = _refused_by_dc(conn)
        if refused is not None:
            raise refused_bind(url, refused, conn.server.ssl or cfg.start_tls) from exc
        err = kerberos.ticket_error(f"ldap/{urlparse(url).hostname}", exc)
        if err.reason == "unreachable":
            raise DirectoryUnreachable(f"{url}: Kerberos bind failed: {err}") from exc
        raise DirectoryAuthError(f"{url}: Kerberos bind failed: {err}") from exc
    return conn


def _refused_by_dc(conn: ldap3.Connection) -> str | None:
    """The DC's own error when a GSSAPI bind failed because the DC answered one (ldap3 then
    hands its empty token to GSSAPI, whose "invalid token" would blame Kerberos); None when the
    failure was Kerberos' own."""
    res = conn.result or {}
    if res.get("type") != "bindResponse" or res.get("result") in (0, 14, None):  # 14: saslBindInProgress
        return None
    return f"{res.get('description')}: {res.get('message', '')}".strip()


def refused_bind(url: str, said: str, tls: bool) -> DirectoryAuthError:
    """A Kerberos bind the DC itself refused. Inside TLS, with a valid ticket, what a hardened DC
    refuses is the channel bindings (Samba 4.22 answers ldap3's with operationsError
    NT_STATUS_INVALID_PARAMETER, AD with 80090346): said so, with the DC's words."""
    if "80090346" in said or (tls and "NT_STATUS_INVALID_PARAMETER" in said):
        return DirectoryAuthError(f"{url}: {_BAD_BINDINGS} (the DC said: {said})")
    if not tls:
        return DirectoryAuthError(f"{url}: {_stronger_auth(said)}")
    return DirectoryAuthError(f"{url}: the DC refused the Kerberos bind ({said})")


def close(conn: ldap3.Connection) -> None:
    """Unbind, ignoring a connection that is already broken (a failed StartTLS leaves one that
    raises on unbind): the error being reported is the one that matters."""
    try:
        conn.unbind()
    except (lexc.LDAPException, OSError):
        pass


def open_connection(cfg: LdapConfig, skip: Sequence[str] = ()) -> tuple[ldap3.Connection, str]:
    """Bind to the first DC in ``ldap.urls`` (less ``skip``) that answers. Authentication and
    TLS trust errors stop at once (another DC would say the same); connection errors try the
    next URL."""
    errors: list[str] = []
    for url in (u for u in cfg.urls if u not in skip):
        try:
            return open_one(url, cfg), url
        except DirectoryUnreachable as exc:
            log.warning("dc_unreachable url=%s error=%s", url, exc)
            errors.append(str(exc))
    if len(errors) == 1:
        raise DirectoryUnreachable(errors[0])
    raise DirectoryUnreachable("no domain controller could be reached:\n  " + "\n  ".join(errors))


@contextmanager
def connection(cfg: LdapConfig, url: str | None = None) -> Iterator[ldap3.Connection]:
    conn = open_one(url, cfg) if url else open_connection(cfg)[0]
    try:
        yield conn
    finally:
        close(conn)
