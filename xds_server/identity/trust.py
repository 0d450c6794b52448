"""What the server trusts right now: configured certificates and token issuers, plus the dev authority while
``dev_authority.trusted`` says so (checked on every call, so creating or deleting the authority, or its
files changing, takes effect without a restart)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from xds_server.identity import dev_authority
from xds_server.identity.jwt import TrustedIssuer


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
    _dev_cache: tuple[float, dev_authority.DevAuthority] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def dev_authority_trusted(self) -> bool:
        return dev_authority.trusted(self.data_dir, self.dev_setting)

    def _dev(self) -> dev_authority.DevAuthority | None:
        if not self.dev_authority_trusted():
            return None
        cert_file = dev_authority.authority_dir(self.data_dir) / dev_authority.CERT_FILE
        try:
            stamp = cert_file.stat().st_mtime
        except FileNotFoundError:
            return None
        with self._lock:
            if self._dev_cache is None or self._dev_cache[0] != stamp:
                self._dev_cache = (stamp, dev_authority.load(self.data_dir))
            return self._dev_cache[1]

    def certificates(self) -> list[x509.Certificate]:
        """Certificates a VIHF assertion may be signed with (``AssertionVerifier`` trust callback)."""
        dev = self._dev()
        return [*self.certificates_configured, *([dev.certificate] if dev else [])]

    def token_issuers(self) -> list[TrustedIssuer]:
        """Issuers and keys a bearer token may come from (``TokenVerifier`` trust callback)."""
        dev = self._dev()
        extra = [TrustedIssuer(dev_authority.ISSUER, (dev.public_key_pem,))] if dev else []
        return [*self.issuers_configured, *extra]


__all__ = ["TrustStore", "load_certificates"]
