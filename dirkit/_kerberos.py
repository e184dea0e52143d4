"""Kerberos credentials from a keytab, in a private in-memory credential cache.

Never touches the admin's own ccache: each call gets a fresh ``MEMORY:`` cache.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import gssapi
from gssapi.raw.misc import GSSError

from .errors import KerberosError, KerberosReason


def use_krb5_conf(path: Path | None) -> None:
    """Point the Kerberos library at ``path`` (read on each new krb5 context)."""
    if path is not None:
        if not path.exists():
            raise KerberosError(f"kerberos.krb5_conf {path} does not exist")
        os.environ["KRB5_CONFIG"] = str(path)


def private_ccache() -> str:
    """A new in-memory credential cache name, private to this process."""
    return f"MEMORY:dirkit-{uuid.uuid4().hex}"


def _store(**entries: str) -> dict[bytes | str, bytes | str]:
    # Bytes, not str: python-gssapi turns str values into temporary buffers that can be freed
    # before the C call reads them. Under thread concurrency that wrote credential caches to
    # garbage file names in the working directory (seen here, ~1 run in 5 with 4 users).
    return {k.encode(): v.encode() for k, v in entries.items()}


def keytab_credentials(principal: str, keytab: Path, ccache: str | None = None) -> gssapi.Credentials:
    """Initiator credentials for ``principal`` from ``keytab``, in ``ccache`` (default: a new
    private in-memory one). A TGT is fetched right away so that a bad keytab is reported here,
    clearly, and not as an obscure bind failure later."""
    if not keytab.exists():
        raise KerberosError(f"keytab {keytab} (for {principal}) does not exist")
    if not os.access(keytab, os.R_OK):
        raise KerberosError(f"keytab {keytab} (for {principal}) is not readable by this user")
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    store = _store(client_keytab=str(keytab), ccache=ccache or private_ccache())
    try:
        creds = gssapi.Credentials(name=name, usage="initiate", store=store)
        creds.inquire()  # forces the AS exchange now
    except GSSError as exc:
        raise login_error(principal, f"from keytab {keytab}", exc) from exc
    return creds


def password_credentials(principal: str, password: str, ccache: str | None = None) -> gssapi.Credentials:
    """Initiator credentials from a password, stored in ``ccache`` (default: a new private
    in-memory one) so they serve SPNEGO as well as raw Kerberos, which credentials straight
    from a password do not."""
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    store = _store(ccache=ccache or private_ccache())
    try:
        raw = gssapi.raw.acquire_cred_with_password(name, password.encode(), usage="initiate").creds
        gssapi.raw.store_cred_into(store, raw, usage="initiate", overwrite=True)
        return gssapi.Credentials(name=name, usage="initiate", store=store)
    except GSSError as exc:
        raise login_error(principal, "with a password", exc) from exc


# MIT krb5 reports nearly every failure as GSS_S_FAILURE and puts the krb5 error in the minor
# status (pyspnego's exceptions module notes the same), so the minor code decides. Codes are
# MIT's com_err values from <krb5/krb5.h>; python-gssapi hands them over as unsigned 32 bits.
_MINOR_REASONS: dict[int, KerberosReason] = {
    -1765328360: "bad_key",  # KRB5KDC_ERR_PREAUTH_FAILED: wrong password / stale keytab key
    -1765328353: "bad_key",  # KRB5KRB_AP_ERR_BAD_INTEGRITY: "decrypt integrity check failed"
    -1765328343: "bad_key",  # KRB5KRB_AP_ERR_MODIFIED
    -1765328154: "stale_key",  # KRB5_KT_KVNONOTFOUND: keytab lacks the key version asked for
    -1765328203: "no_key",  # KRB5_KT_NOTFOUND: no keytab entry for the principal
    -1765328366: "revoked",  # KRB5KDC_ERR_CLIENT_REVOKED: disabled or locked out
    -1765328361: "expired",  # KRB5KDC_ERR_KEY_EXP: password expired
    -1765328378: "unknown_principal",  # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
    -1765328377: "unknown_service",  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN (also: no cross-realm key)
    -1765328370: "enctype",  # KRB5KDC_ERR_ETYPE_NOSUPP
    -1765328196: "enctype",  # KRB5_BAD_ENCTYPE
    -1765328234: "enctype",  # KRB5_PROG_ETYPE_NOSUPP
    -1765328228: "unreachable",  # KRB5_KDC_UNREACH
    -1765328230: "unreachable",  # KRB5_REALM_UNKNOWN: "Cannot find KDC for realm"
    -1765328164: "unreachable",  # KRB5_REALM_CANT_RESOLVE
    -1765328347: "clock_skew",  # KRB5KRB_AP_ERR_SKEW
}
REASONS: frozenset[KerberosReason] = frozenset({*_MINOR_REASONS.values(), "other"})


def minor_code(exc: GSSError) -> int:
    """The minor status as the signed value krb5.h defines."""
    code = int(exc.min_code or 0)
    return code - 2**32 if code >= 2**31 else code


def classify(exc: GSSError) -> KerberosReason:
    """A reason from ``REASONS`` for a GSSAPI failure, from its codes (never its text)."""
    return _MINOR_REASONS.get(minor_code(exc), "other")


def _error(message: str, reason: KerberosReason, exc: GSSError) -> KerberosError:
    err = KerberosError(f"{message} ({str(exc).strip()})", reason, exc.maj_code, minor_code(exc))
    err.__cause__ = exc
    return err


def login_error(principal: str, source: str, exc: GSSError) -> KerberosError:
    """A failed login, in one sentence an admin can act on; ``source`` is "from keytab /path"
    or "with a password"."""
    reason = classify(exc)
    hints = {
        "no_key": f"the keytab has no key for {principal}: check the principal, or re-export the keytab",
        "stale_key": "the keytab's key is out of date (password changed since export?): re-export the keytab",
        "bad_key": "wrong password"
        if source == "with a password"
        else "the keytab's key is out of date (password changed since export?): re-export the keytab",
        "revoked": f"{principal} is disabled or locked out in AD",
        "expired": f"the password of {principal} has expired in AD",
        "unreachable": "no KDC could be reached for the realm: check kerberos.krb5_conf and the network",
        "unknown_principal": f"{principal} does not exist in the realm",
        "clock_skew": "the clocks of this host and the KDC differ too much: check NTP",
    }
    hint = hints.get(reason, "check the keytab or password, the principal and the KDC")
    return _error(f"Kerberos login as {principal} {source} failed: {hint}", reason, exc)


def ticket_error(service: str, exc: GSSError) -> KerberosError:
    """A failed service-ticket request (through the cross-realm trust), explained."""
    reason = classify(exc)
    hints = {
        "unknown_service": "the AD KDC has no trust key for the cluster realm (krbtgt/<cluster>@<AD>), "
        "or the service does not exist",
        "enctype": "enctype mismatch between AD's trust key and the cluster KDC",
        "unreachable": "the cluster KDC is unreachable",
        "bad_key": "the trust passwords differ on the two sides",
        "clock_skew": "the clocks of this host and the cluster KDC differ too much",
    }
    return _error(f"no ticket for {service}: {hints.get(reason, 'the KDC refused it')}", reason, exc)
