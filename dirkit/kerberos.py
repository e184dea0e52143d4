"""Kerberos credentials from a keytab, in a private in-memory credential cache.

Never touches the admin's own ccache: each call gets a fresh ``MEMORY:`` cache.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import gssapi
from gssapi.raw.misc import GSSError

from .errors import KerberosError


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
        raise KerberosError(explain(principal, f"from keytab {keytab}", exc)) from None
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
        raise KerberosError(explain(principal, "with a password", exc)) from None


def explain(principal: str, source: str, exc: GSSError) -> str:
    """One sentence an admin can act on; ``source`` is "from keytab /path" or "with a password"."""
    text = str(exc)
    low = text.lower()
    bad_key = "preauthentication failed" in low or "decrypt integrity" in low
    if "no key table entry" in low or "keytab" in low and "not found" in low:
        hint = f"the keytab has no key for {principal}: check the principal, or re-export the keytab"
    elif bad_key and source == "with a password":
        hint = "wrong password"
    elif bad_key or "key version" in low:
        hint = "the keytab's key is out of date (password changed since export?): re-export the keytab"
    elif "revoked" in low:
        hint = f"{principal} is disabled or locked out in AD"
    elif "expired" in low:
        hint = f"the password of {principal} has expired in AD"
    elif "cannot find kdc" in low or "cannot contact" in low or "unable to reach" in low:
        hint = "no KDC could be reached for the realm: check kerberos.krb5_conf and the network"
    elif "not found in kerberos database" in low:
        hint = f"{principal} does not exist in the realm"
    else:
        hint = "check the keytab or password, the principal and the KDC"
    return f"Kerberos login as {principal} {source} failed: {hint} ({text.strip()})"
