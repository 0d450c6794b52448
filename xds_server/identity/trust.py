"""What the server trusts right now: configured certificates and token issuers, plus the dev authority when
the server was asked to trust it (``serve --dev`` / ``XDS_DEV_AUTHORITY=on``).

The dev authority is pinned when the store is built (server start): the certificate found in the data dir
then is the only one trusted. A ``dev-authority`` folder that appears later, or a certificate replaced
while the server runs, is never trusted (whoever can write the data dir must not gain the power to mint
identities without a restart that says so); deleting the folder withdraws the pinned one. Only the
authority's certificate is read here, never its private key."""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


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
    """``dev_setting`` is the value of ``XDS_DEV_AUTHORITY`` (only ``on`` trusts the dev authority, and
    only the one present when the store is built)."""

    data_dir: Path
    dev_setting: str | None = None
    certificates_configured: tuple[x509.Certificate, ...] = ()
    issuers_configured: tuple[TrustedIssuer, ...] = ()
    #: the certificate authorities (and their CRLs) a signing certificate may chain to; None: none
    authorities_configured: CertificateAuthorities | None = None
    _dev_pinned: tuple[bytes, x509.Certificate] | None = field(default=None, init=False, repr=False)
    _warned: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.dev_setting or "").strip().lower() != "on" or not dev_authority.exists(self.data_dir):
            return
        pem = self._dev_pem()
        if pem is not None:
            self._dev_pinned = (pem, x509.load_pem_x509_certificate(pem))

    def _dev_pem(self) -> bytes | None:
        try:
            return (dev_authority.authority_dir(self.data_dir) / dev_authority.CERT_FILE).read_bytes()
        except FileNotFoundError:
            return None

    def dev_authority_trusted(self) -> bool:
        return self._dev_certificate() is not None

    def _dev_certificate(self) -> x509.Certificate | None:
        if (self.dev_setting or "").strip().lower() != "on":
            return None  # not asked for: the folder is not even read
        pem = self._dev_pem()  # a 1 kB read per request: deleting the folder withdraws the trust at once
        if pem is None:
            return None
        pinned = self._dev_pinned
        if pinned is not None and pinned[0] == pem:
            return pinned[1]
        with self._lock:  # once per process: a folder appeared or changed after start, and is ignored
            if not self._warned:
                self._warned = True
                log.warning(
                    "%s appeared or changed after start: not trusted (trusting it needs a restart with "
                    "serve --dev or XDS_DEV_AUTHORITY=on)",
                    dev_authority.authority_dir(self.data_dir),
                )
        return None

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
