"""Signing certificates verified as the IGC-Santé hierarchy works: a chain to a configured certificate
authority, checked against the authorities' revocation lists, and bound to the identity it signs for
(issue 14, item 2).

Theory of operation. The assertion's signature names its certificate in ``ds:KeyInfo/ds:X509Data`` (the
leaf first, then any intermediates). ``CertificateAuthorities.verify`` accepts that chain when every link is
issued by the next (signature checked), the last is issued by a configured root, every certificate is within
its validity period, every issuer is a CA (basicConstraints), and no certificate is on its issuer's CRL; a
configured CRL that has passed its nextUpdate makes every certificate of its issuer unverifiable (fail
closed: a stale list cannot say who was revoked). The signature is then checked with that one certificate
(one verification per request, not one per trusted certificate).

A CA-issued certificate vouches for one structure or one professional: ``binds`` says whether a claimed id is
one of the subject's names (an attribute value, or a whole word of one: ``CN=structure 3900000000001``).
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree

from xds_server.identity.errors import IdentityError

DS = "http://www.w3.org/2000/09/xmldsig#"
_WORDS = re.compile(r"[\s,;:/=()\[\]]+")

__all__ = ["CertificateAuthorities", "binds", "key_info_chain"]


def key_info_chain(assertion: etree._Element) -> list[x509.Certificate]:
    """The certificates of the assertion's own signature's KeyInfo, in document order (leaf first)."""
    found: list[x509.Certificate] = []
    path = f"{{{DS}}}Signature/{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"
    for element in assertion.iterfind(path):
        try:
            found.append(
                x509.load_der_x509_certificate(base64.b64decode("".join((element.text or "").split())))
            )
        except ValueError:
            raise IdentityError.invalid(
                "the signature's KeyInfo holds a certificate that cannot be read"
            ) from None
    return found


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True, slots=True)
class CertificateAuthorities:
    roots: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def verify(self, chain: Sequence[x509.Certificate], now: datetime) -> x509.Certificate:
        """The leaf of ``chain`` when it chains to a root (see the module docstring); IdentityError else."""
        if not chain:
            raise IdentityError.failed("the signature names no certificate (ds:KeyInfo/ds:X509Data)")
        links = list(chain)
        root = next((r for r in self.roots if _issued_by(links[-1], r)), None)
        if root is None:
            raise IdentityError.failed("the signing certificate is not issued by a trusted authority")
        links.append(root)
        for child, issuer in itertools.pairwise(links):
            if not _issued_by(child, issuer) or not _is_ca(issuer):
                raise IdentityError.failed("the signing certificate chain is broken")
        for certificate in links:
            if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
                raise IdentityError.failed("a certificate of the signing chain is expired or not yet valid")
        for child, issuer in itertools.pairwise(links):
            self._not_revoked(child, issuer, now)
        return links[0]

    def _not_revoked(self, certificate: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        for crl in self.crls:
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            if crl.next_update_utc is not None and crl.next_update_utc < now:
                raise IdentityError.failed("the revocation list of the signing authority is out of date")
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                raise IdentityError.failed("the signing certificate is revoked")


def binds(certificate: x509.Certificate, claimed: str) -> bool:
    """Whether ``claimed`` (a structure or professional id) is one of the certificate subject's names."""
    claimed = claimed.strip()
    if not claimed:
        return False
    for attribute in certificate.subject:
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.decode("latin-1")
        if value.strip() == claimed or claimed in _WORDS.split(value):
            return True
    return False
