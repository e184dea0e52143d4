"""The lab DC's TLS certificate, made here rather than by Samba.

Samba's self-generated certificate has a negative serial number, which cryptography warns
about on every LDAPS connection and says a future release will refuse. The lab makes its own
CA and a DC certificate (positive serials, SAN = the DCs' host names) once, under
``<lab>/tls``; smb.conf points at them, so every restore of the cached database keeps them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import settings as s

DAYS = 3650


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.touch(mode=0o600)  # Samba refuses a key file others can read
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


HOSTS = (s.AD_HOST, s.DC2_HOST)


def _current(cert_file: Path) -> bool:
    """The certificate names every DC and says which key signed it: Python 3.13's default
    verification (VERIFY_X509_STRICT, as on Debian 13) refuses one without an Authority Key
    Identifier ("Missing Authority Key Identifier"), which earlier labs made."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    try:
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return set(san.get_values_for_type(x509.DNSName)) == set(HOSTS)


def ensure(tls_dir: Path) -> bool:
    """CA + DC certificate in ``tls_dir`` (ca.pem, cert.pem, key.pem), made once (again when
    the lab gained a DC the certificate does not name). True when it made new ones."""
    if all((tls_dir / f).exists() for f in ("ca.pem", "cert.pem", "key.pem")) and _current(tls_dir / "cert.pem"):
        return False
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, dc_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dirkit lab CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())  # positive, unlike Samba's own
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    dc = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, s.AD_HOST)]))
        .issuer_name(ca_name)
        .public_key(dc_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        # DNS names only: connecting by IP address must fail the host-name check. One
        # certificate for both lab DCs (a real site gives each its own).
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(dc_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(tls_dir / "key.pem", dc_key)
    (tls_dir / "cert.pem").write_bytes(dc.public_bytes(serialization.Encoding.PEM))
    (tls_dir / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return True
