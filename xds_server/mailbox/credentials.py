"""How a sender proves which directory mailbox he is: an SMTP AUTH password (stored as a scrypt hash), or a
client certificate whose subjectAltName e-mail (or subject emailAddress) is the mailbox address, issued by an
authority the server trusts. Also the listener's own certificate for STARTTLS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from xds_server.config import Settings
from xds_server.identity.dev_authority import DevAuthority

__all__ = [
    "certificate_addresses",
    "hash_password",
    "issue_certificate",
    "server_tls_context",
    "verify_password",
]

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encoded = [base64.b64encode(v).decode("ascii") for v in (salt, digest)]
    return f"scrypt${_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def certificate_addresses(peercert: dict[str, Any] | None) -> set[str]:
    """The e-mail addresses a verified peer certificate (``SSLSocket.getpeercert()``) names, lower case."""
    if not peercert:
        return set()
    found = {v.lower() for k, v in peercert.get("subjectAltName", ()) if k == "email"}
    for rdn in peercert.get("subject", ()):
        found.update(v.lower() for k, v in rdn if k == "emailAddress")
    return found


def issue_certificate(
    authority: DevAuthority, common_name: str, *, email: str | None = None, server: bool = False
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) signed by the test authority: a TLS server certificate for 127.0.0.1 and
    localhost (``server``), or an MSSanté client certificate naming ``email`` (TEST ONLY)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    names: list[x509.GeneralName] = []
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if email:
        names.append(x509.RFC822Name(email))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(authority.key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate kept in the data dir: STARTTLS is offered even with no certificate set."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    if cert.exists() and key.exists():
        return cert, key
    folder.mkdir(parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xds-server mailbox (self-signed)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


def server_tls_context(settings: Settings, authority: DevAuthority | None) -> ssl.SSLContext:
    """STARTTLS for the mailbox listener: the server's certificate (``--tls-cert``/``--tls-key``), else, while
    the test authority is trusted, one it issues, else a self-signed one of the data dir. Client certificates
    are asked for (optional: AUTH is the other way) and verified against the configured authorities
    (``tls_client_ca``, ``trusted_cas``) and the test authority while it is trusted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    folder = settings.data_dir / "mailbox-tls"
    if settings.tls_cert is not None and settings.tls_key is not None:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    elif authority is not None:
        folder.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = issue_certificate(authority, "xds-server mailbox (TEST ONLY)", server=True)
        cert, key = folder / "dev-smtp-cert.pem", folder / "dev-smtp-key.pem"
        key.write_bytes(key_pem)
        key.chmod(0o600)
        cert.write_bytes(cert_pem + authority.certificate_pem.encode())
        context.load_cert_chain(cert, key)
    else:
        context.load_cert_chain(*_self_signed(folder))
    cas = [p for p in (settings.tls_client_ca, *settings.trusted_cas) if p is not None]
    for ca in cas:
        context.load_verify_locations(ca)
    if authority is not None:
        context.load_verify_locations(cadata=authority.certificate_pem)
    if cas or authority is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
