"""Signing certificates from a certificate authority (issue 14, item 2), from the attacker's side: a trusted
structure cannot claim another structure, a certificate from elsewhere, a revoked or an expired one signs
nothing, and a stale revocation list fails closed. The PKI (root CA, structure certificates, CRLs) is made
here with ``cryptography``, as an IGC-Santé-like hierarchy."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from xds_server.identity.chains import CertificateAuthorities, binds
from xds_server.identity.dev_authority import DevAuthority, Identity, build_assertion, sign_assertion
from xds_server.identity.errors import WsseFault
from xds_server.identity.saml import AssertionVerifier

from .conftest import NOW, PATIENT
from .test_saml import header, refused

STRUCTURE = "3900000000001"
OTHER_STRUCTURE = "3900000000002"


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, org: str = "IGC-Sante test") -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def issue(
    subject: x509.Name,
    issuer: Issued | None,
    *,
    ca: bool = False,
    serial: int = 1000,
    not_after: datetime = NOW + timedelta(days=365),
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    key = key or _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(certificate, key)


def crl(
    issuer: Issued, *revoked: int, next_update: datetime = NOW + timedelta(days=7)
) -> x509.CertificateRevocationList:
    builder = x509.CertificateRevocationListBuilder().issuer_name(issuer.certificate.subject)
    builder = builder.last_update(NOW - timedelta(days=1)).next_update(next_update)
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - timedelta(hours=1))
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256())


ROOT = issue(_name("IGC-Sante test root"), None, ca=True, serial=1)
STRUCTURE_CERT = issue(_name(f"structure {STRUCTURE}"), ROOT, serial=2)


def assertion(signer: Issued, structure: str = STRUCTURE) -> etree._Element:
    identity = Identity(national_id="810001234567", patient=PATIENT, structure=structure)
    return sign_assertion(build_assertion(identity, now=NOW), signer.key, signer.certificate)


def verifier(authority: DevAuthority, *lists: x509.CertificateRevocationList) -> AssertionVerifier:
    authorities = CertificateAuthorities((ROOT.certificate,), lists)
    return AssertionVerifier(
        lambda: [authority.certificate], clock=lambda: NOW, authorities=lambda: authorities
    )


class TestChainToAnAuthority:
    def test_a_structure_certificate_signs_for_its_structure(self, authority: DevAuthority) -> None:
        ctx = verifier(authority, crl(ROOT)).verify_security_header([header(assertion(STRUCTURE_CERT))])
        assert ctx.structure_id == STRUCTURE

    def test_it_cannot_claim_another_structure(self, authority: DevAuthority) -> None:
        error = refused(verifier(authority), [header(assertion(STRUCTURE_CERT, OTHER_STRUCTURE))])
        assert (
            error.fault is WsseFault.FAILED_AUTHENTICATION and "does not name the structure" in error.message
        )

    def test_a_lookalike_from_another_authority_is_refused(self, authority: DevAuthority) -> None:
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rogue_root = issue(_name("IGC-Sante test root"), None, ca=True, serial=1, key=other_key)  # same name
        rogue = issue(_name(f"structure {STRUCTURE}"), rogue_root, serial=2)
        error = refused(verifier(authority), [header(assertion(rogue))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "trusted authority" in error.message

    def test_a_revoked_certificate_is_refused(self, authority: DevAuthority) -> None:
        error = refused(verifier(authority, crl(ROOT, 2)), [header(assertion(STRUCTURE_CERT))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "revoked" in error.message

    def test_a_stale_revocation_list_fails_closed(self, authority: DevAuthority) -> None:
        stale = crl(ROOT, next_update=NOW - timedelta(hours=1))
        assert (
            "out of date" in refused(verifier(authority, stale), [header(assertion(STRUCTURE_CERT))]).message
        )

    def test_an_expired_certificate_is_refused(self, authority: DevAuthority) -> None:
        expired = issue(_name(f"structure {STRUCTURE}"), ROOT, serial=3, not_after=NOW - timedelta(hours=1))
        assert "expired" in refused(verifier(authority), [header(assertion(expired))]).message

    def test_a_leaf_cannot_act_as_an_authority(self, authority: DevAuthority) -> None:
        """A structure certificate (not a CA) issuing a certificate for another structure."""
        forged = issue(_name(f"structure {OTHER_STRUCTURE}"), STRUCTURE_CERT, serial=4)
        chain_signed = assertion(forged, OTHER_STRUCTURE)
        # the KeyInfo carries the forged leaf and the structure certificate as its "intermediate"
        x509_data = chain_signed.find(
            "{http://www.w3.org/2000/09/xmldsig#}Signature/{http://www.w3.org/2000/09/xmldsig#}KeyInfo/"
            "{http://www.w3.org/2000/09/xmldsig#}X509Data"
        )
        assert x509_data is not None
        import base64

        from cryptography.hazmat.primitives.serialization import Encoding

        extra = etree.SubElement(x509_data, "{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
        extra.text = base64.b64encode(STRUCTURE_CERT.certificate.public_bytes(Encoding.DER)).decode()
        error = refused(verifier(authority), [header(chain_signed)])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION

    def test_pinned_certificates_still_sign_for_anyone(self, authority: DevAuthority) -> None:
        identity = Identity(national_id="810001234567", patient=PATIENT, structure=OTHER_STRUCTURE)
        signed = sign_assertion(build_assertion(identity, now=NOW), authority.key, authority.certificate)
        assert verifier(authority).verify_security_header([header(signed)]).structure_id == OTHER_STRUCTURE


@pytest.mark.parametrize(
    ("subject", "claimed", "bound"),
    [
        (f"structure {STRUCTURE}", STRUCTURE, True),
        (STRUCTURE, STRUCTURE, True),
        (f"structure {STRUCTURE}9", STRUCTURE, False),
        ("structure", "", False),
    ],
)
def test_binding_reads_whole_names(subject: str, claimed: str, bound: bool) -> None:
    assert binds(issue(_name(subject), ROOT, serial=9).certificate, claimed) is bound
