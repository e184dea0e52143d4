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


def keytab_credentials(principal: str, keytab: Path) -> gssapi.Credentials:
    """Initiator credentials for ``principal`` from ``keytab``; a TGT is fetched right away so
    that a bad keytab is reported here, clearly, and not as an obscure bind failure later."""
    if not keytab.exists():
        raise KerberosError(f"keytab {keytab} does not exist (ldap.keytab)")
    if not os.access(keytab, os.R_OK):
        raise KerberosError(f"keytab {keytab} is not readable by this user (ldap.keytab)")
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    store: dict[bytes | str, bytes | str] = {"client_keytab": str(keytab), "ccache": f"MEMORY:dirkit-{uuid.uuid4().hex}"}
    try:
        creds = gssapi.Credentials(name=name, usage="initiate", store=store)
        creds.inquire()  # forces the AS exchange now
    except GSSError as exc:
        raise KerberosError(_explain(principal, keytab, exc)) from None
    return creds


def password_credentials(principal: str, password: str) -> gssapi.Credentials:
    """Initiator credentials from a password, kept in a private in-memory ccache (usable for
    SPNEGO as well as raw Kerberos, which credentials straight from a password are not)."""
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    ccache = f"MEMORY:dirkit-{uuid.uuid4().hex}"
    try:
        raw = gssapi.raw.acquire_cred_with_password(name, password.encode(), usage="initiate").creds
        gssapi.raw.store_cred_into({"ccache": ccache}, raw, usage="initiate", overwrite=True)
        return gssapi.Credentials(name=name, usage="initiate", store={"ccache": ccache})
    except GSSError as exc:
        raise KerberosError(_explain(principal, Path("(password)"), exc)) from None


def _explain(principal: str, keytab: Path, exc: GSSError) -> str:
    text = str(exc)
    low = text.lower()
    if "no key table entry" in low or "keytab" in low and "not found" in low:
        hint = f"the keytab has no key for {principal}: check ldap.principal, or re-export the keytab"
    elif ("preauthentication failed" in low or "decrypt integrity" in low) and str(keytab) == "(password)":
        hint = "wrong password"
    elif "preauthentication failed" in low or "decrypt integrity" in low or "key version" in low:
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
        hint = "check the keytab, the principal and the KDC"
    return f"Kerberos login as {principal} from {keytab} failed: {hint} ({text.strip()})"
