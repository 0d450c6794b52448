"""What the server trusts right now: configured certificates and token issuers, plus the dev authority while
``dev_authority.trusted`` says so (checked on every call, so creating, replacing or deleting the authority
takes effect without a restart). Only the authority's certificate is read here, never its private key."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from xds_server.core.policy import ActorKind
from xds_server.identity import dev_authority
from xds_server.identity.chains import CertificateAuthorities
from xds_server.identity.jwt import TrustedIssuer


def load_authorities(cas: Iterable[Path | str], crls: Iterable[Path | str]) -> CertificateAuthorities | None:
    """The configured certificate authorities with their CRLs (PEM or DER files); None without any CA."""
    roots = load_certificates(cas)
    lists: list[x509.CertificateRevocationList] = []
    for path in crls:
        data = Path(path).read_bytes()
        if b"-----BEGIN" in data:
            lists.append(x509.load_pem_x509_crl(data))
        else:
            lists.append(x509.load_der_x509_crl(data))
    return CertificateAuthorities(roots, tuple(lists)) if roots else None


def load_certificates(paths: Iterable[Path | str]) -> tuple[x509.Certificate, ...]:
    """Every PEM certificate of every file (a file may hold a bundle)."""
    found: list[x509.Certificate] = []
    for path in paths:
        found.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    return tuple(found)


@dataclass
class TrustStore:
    """``dev_setting`` is the value of ``XDS_DEV_AUTHORITY`` (``off`` withdraws the dev authority)."""

    data_dir: Path
    dev_setting: str | None = None
    certificates_configured: tuple[x509.Certificate, ...] = ()
    issuers_configured: tuple[TrustedIssuer, ...] = ()
    #: the certificate authorities (and their CRLs) a signing certificate may chain to; None: none
    authorities_configured: CertificateAuthorities | None = None
    _dev_cache: tuple[bytes, x509.Certificate] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def dev_authority_trusted(self) -> bool:
        return dev_authority.trusted(self.data_dir, self.dev_setting)

    def _dev_certificate(self) -> x509.Certificate | None:
        if not self.dev_authority_trusted():
            return None
        try:
            pem = (dev_authority.authority_dir(self.data_dir) / dev_authority.CERT_FILE).read_bytes()
        except FileNotFoundError:
            return None
        with self._lock:  # a 1 kB read per request; parse only when the file changed
            if self._dev_cache is None or self._dev_cache[0] != pem:
                self._dev_cache = (pem, x509.load_pem_x509_certificate(pem))
            return self._dev_cache[1]

    def certificates(self) -> list[x509.Certificate]:
        """Certificates a VIHF assertion may be signed with (``AssertionVerifier`` trust callback)."""
        dev = self._dev_certificate()
        return [*self.certificates_configured, *([dev] if dev else [])]

    def authorities(self) -> CertificateAuthorities | None:
        """Certificate authorities a KeyInfo certificate may chain to (``AssertionVerifier`` callback)."""
        return self.authorities_configured

    def token_issuers(self) -> list[TrustedIssuer]:
        """Issuers and keys a bearer token may come from (``TokenVerifier`` trust callback)."""
        dev = self._dev_certificate()
        if dev is None:
            return list(self.issuers_configured)
        public = (
            dev.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        )
        # the test authority mints every kind of actor (tests and demos need patients and representatives)
        every_kind = frozenset(ActorKind)
        return [*self.issuers_configured, TrustedIssuer(dev_authority.ISSUER, (public,), every_kind)]


__all__ = ["TrustStore", "load_authorities", "load_certificates"]
