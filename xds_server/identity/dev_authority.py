"""The local test authority: keys and a self-signed certificate under ``<data_dir>/dev-authority/`` that mint
signed VIHF assertions and JWTs for tests, demos and conformance runs.

It is trusted only when asked for (``serve --dev`` or ``XDS_DEV_AUTHORITY=on``; off by default, refused by
the production ``dmp`` profile), and then only the certificate present at start (``trust.TrustStore`` pins
it: one that appears or changes while the server runs is ignored; deleting the folder withdraws it).
Whoever trusts it must say so loudly (``serve`` and ``/health``): anyone who can read the data dir can mint
any identity.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jose import jwt
from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.signer import XMLSigner

from xds_server.config import DEFAULT_AUDIENCE
from xds_server.core.policy import AccessContext, AccessMode, ActorKind
from xds_server.core.policy.record import PS_NATIONAL_ID_OID
from xds_server.identity.saml import DS, HL7V3, SAML2, WSSE, XSI, RoleKind, VihfAttribute

FOLDER: Final = "dev-authority"
KEY_FILE: Final = "key.pem"
CERT_FILE: Final = "cert.pem"
ISSUER: Final = "urn:xds-server:dev-authority"
AUDIENCE: Final = DEFAULT_AUDIENCE
DEFAULT_TTL: Final = timedelta(minutes=30)
MIN_DEFAULT_TTL: Final = timedelta(minutes=10)
XS: Final = "http://www.w3.org/2001/XMLSchema"

_PURPOSE_VALUES: Final = {
    AccessMode.NORMAL: "normal",
    AccessMode.BREAK_GLASS: "BRIS_DE_GLACE",
    AccessMode.REGULATION: "CENTRE_DE_REGULATION",
}
#: Role CE codeSystem (and its name) for each kind of role value.
_ROLE_SYSTEMS: Final = {
    RoleKind.PROFESSION: ("1.2.250.1.71.1.2.7", "TRE_G15-ProfessionSante"),
    RoleKind.SAVOIR_FAIRE: ("1.2.250.1.71.4.2.5", "TRE_R38-SpecialiteOrdinale"),
    RoleKind.ROLE: ("1.2.250.1.213.1.6.1.107", "TRE_R85-RolePriseCharge"),
    RoleKind.GENRE: ("1.2.250.1.213.1.6.1.19", "TRE_R22-GenreActivite"),
}


def authority_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / FOLDER


def exists(data_dir: Path | str) -> bool:
    folder = authority_dir(data_dir)
    return (folder / KEY_FILE).is_file() and (folder / CERT_FILE).is_file()


def trusted(data_dir: Path | str, setting: str | None) -> bool:
    """Whether a server starting now would trust the dev authority: it exists and ``XDS_DEV_AUTHORITY`` is
    ``on`` (anything else, unset included, is off)."""
    return exists(data_dir) and (setting or "").strip().lower() == "on"


@dataclass(frozen=True, slots=True)
class DevAuthority:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    folder: Path

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def public_key_pem(self) -> str:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public.decode("ascii")

    @property
    def key_id(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()[:16]


def init(data_dir: Path | str, *, force: bool = False) -> DevAuthority:
    """Create the authority (RSA 2048 key + self-signed certificate valid 10 years); keep an existing one
    unless ``force``. The key file is private to the user (0600)."""
    folder = authority_dir(data_dir)
    if exists(data_dir) and not force:
        return load(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "xds-server dev authority (TEST ONLY)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xds-server"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_path = folder / KEY_FILE
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    (folder / CERT_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return DevAuthority(key, certificate, folder)


def load(data_dir: Path | str) -> DevAuthority:
    """The existing authority; FileNotFoundError when ``init`` was never run."""
    folder = authority_dir(data_dir)
    key = serialization.load_pem_private_key((folder / KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{folder / KEY_FILE} is not an RSA key")
    certificate = x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes())
    return DevAuthority(key, certificate, folder)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the minted credential says is acting; every field has a valid default (a médecin généraliste
    of a test structure, normal mode). ``patient`` is the INS in CX form (VIHF resource-id)."""

    national_id: str = "899700000001"
    name: str = "Dr DEV Test"
    profession: str | None = "10"
    savoir_faire: str | None = "SM26"
    role: str | None = None
    genre_activite: str | None = None
    structure: str = "3900000000001"
    structure_name: str = "xds-server test structure"
    sector: str = "SA07"
    patient: str | None = None
    mode: AccessMode = AccessMode.NORMAL
    reason: str | None = None
    secret_connection: bool = False
    lps_name: str = "xds-server-dev"
    lps_version: str = "0.1.0"
    vihf_version: str = "3.0"
    authentication_mode: str = "INDIRECTE_RENFORCEE"
    extra_attributes: Sequence[tuple[str, str]] = field(default_factory=tuple)


def context_of(identity: Identity) -> AccessContext:
    """The AccessContext a verified assertion for ``identity`` yields (``policy explain --actor ...`` builds
    the case from the same options as ``dev assertion`` without minting anything)."""
    return AccessContext(
        ActorKind.PROFESSIONAL,
        identity.national_id,
        profession=identity.profession,
        savoir_faire=identity.savoir_faire,
        role=identity.role,
        genre_activite=identity.genre_activite,
        structure_id=identity.structure or None,
        secteur=identity.sector,
        access_mode=identity.mode,
        reason=identity.reason,
        patient_ins=identity.patient,
        secret_connection=identity.secret_connection,
        name=identity.name,
        authentication_mode=identity.authentication_mode,
        lps_name=identity.lps_name,
        lps_version=identity.lps_version,
        issuer=ISSUER,
    )


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_assertion(
    identity: Identity,
    *,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    one_time_use: bool = False,
    issuer: str = ISSUER,
    audience: str | None = AUDIENCE,
) -> etree._Element:
    """An unsigned VIHF assertion with a signature placeholder after the Issuer (saml2 schema order)."""
    now = now or datetime.now(UTC)
    saml = f"{{{SAML2}}}"
    root = etree.Element(
        f"{saml}Assertion",
        nsmap={"saml2": SAML2, "xsi": XSI, "xs": XS, "ds": DS},
        ID=f"_{uuid.uuid4()}",
        IssueInstant=_instant(now),
        Version="2.0",
    )
    etree.SubElement(root, f"{saml}Issuer").text = issuer
    etree.SubElement(root, f"{{{DS}}}Signature", Id="placeholder")
    subject = etree.SubElement(root, f"{saml}Subject")
    name_id = etree.SubElement(
        subject,
        f"{saml}NameID",
        Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        NameQualifier=PS_NATIONAL_ID_OID,
    )
    name_id.text = identity.national_id
    etree.SubElement(
        subject, f"{saml}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
    )
    conditions = etree.SubElement(
        root, f"{saml}Conditions", NotBefore=_instant(now), NotOnOrAfter=_instant(now + ttl)
    )
    if audience:
        restriction = etree.SubElement(conditions, f"{saml}AudienceRestriction")
        etree.SubElement(restriction, f"{saml}Audience").text = audience
    if one_time_use:
        etree.SubElement(conditions, f"{saml}OneTimeUse")
    authn = etree.SubElement(root, f"{saml}AuthnStatement", AuthnInstant=_instant(now))
    context = etree.SubElement(authn, f"{saml}AuthnContext")
    etree.SubElement(
        context, f"{saml}AuthnContextClassRef"
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
    statement = etree.SubElement(root, f"{saml}AttributeStatement")

    def attribute(name: str, *values: str | etree._Element) -> None:
        element = etree.SubElement(statement, f"{saml}Attribute", Name=name)
        for value in values:
            holder = etree.SubElement(element, f"{saml}AttributeValue")
            if isinstance(value, str):
                holder.set(f"{{{XSI}}}type", "xs:string")
                holder.text = value
            else:
                holder.append(value)

    def ce(tag: str, code: str, system: str, system_name: str) -> etree._Element:
        element = etree.Element(f"{{{HL7V3}}}{tag}", nsmap={"hl7": HL7V3})
        element.set(f"{{{XSI}}}type", "CE")
        element.set("code", code)
        element.set("codeSystem", system)
        element.set("codeSystemName", system_name)
        return element

    attribute(VihfAttribute.SUBJECT_ID, identity.name)
    roles = {
        RoleKind.PROFESSION: identity.profession,
        RoleKind.SAVOIR_FAIRE: identity.savoir_faire,
        RoleKind.ROLE: identity.role,
        RoleKind.GENRE: identity.genre_activite,
    }
    attribute(
        VihfAttribute.ROLE, *(ce("Role", code, *_ROLE_SYSTEMS[kind]) for kind, code in roles.items() if code)
    )
    attribute("urn:oasis:names:tc:xspa:1.0:subject:organization", identity.structure_name)
    attribute("urn:oasis:names:tc:xspa:1.0:subject:organization-id", identity.structure)
    attribute(VihfAttribute.STRUCTURE, identity.structure)
    attribute(VihfAttribute.SECTEUR, f"{identity.sector}^1.2.250.1.71.4.2.4")
    attribute(VihfAttribute.PURPOSE_OF_USE, _PURPOSE_VALUES[identity.mode])
    if identity.reason:
        attribute(VihfAttribute.REASON, identity.reason)
    if identity.patient:
        attribute(VihfAttribute.RESOURCE_ID, identity.patient)
    if identity.secret_connection:
        code = ce(
            "ConfidentialityCode", "INVISIBLE_REPRESENTANTS_LEGAUX", "1.2.250.1.213.1.1.4.13", "TRE_A07"
        )
        attribute(VihfAttribute.CONFIDENTIALITY, code)
    attribute(VihfAttribute.VIHF_VERSION, identity.vihf_version)
    attribute(VihfAttribute.AUTHENTICATION_MODE, identity.authentication_mode)
    attribute(VihfAttribute.LPS_NAME, identity.lps_name)
    attribute(VihfAttribute.LPS_VERSION, identity.lps_version)
    for name, value in identity.extra_attributes:
        attribute(name, value)
    return root


def sign_assertion(
    assertion: etree._Element, key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> etree._Element:
    """Enveloped XML-DSig (RSA-SHA256, exclusive c14n) over the assertion, referenced by its ID."""
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed: etree._Element = signer.sign(
        assertion,
        key=key,
        cert=[certificate],
        reference_uri=f"#{assertion.get('ID')}",
        id_attribute="ID",
    )
    return signed


def mint_assertion(
    authority: DevAuthority,
    identity: Identity | None = None,
    *,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    one_time_use: bool = False,
    audience: str | None = AUDIENCE,
) -> bytes:
    """A signed VIHF assertion (serialised, no XML declaration), ready for a wsse:Security header."""
    assertion = build_assertion(
        identity or Identity(), now=now, ttl=ttl, one_time_use=one_time_use, audience=audience
    )
    return etree.tostring(sign_assertion(assertion, authority.key, authority.certificate))


def security_header(assertion: bytes | etree._Element) -> etree._Element:
    """``<wsse:Security mustUnderstand="true">`` holding the assertion, for a SOAP 1.2 header."""
    element = assertion if isinstance(assertion, etree._Element) else etree.fromstring(assertion)
    header = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    header.set("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand", "true")
    header.append(element)
    return header


def token_claims(
    identity: Identity | None = None,
    *,
    patient_self: str | None = None,
    representative_of: Sequence[str] = (),
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
) -> dict[str, Any]:
    """The claims of a dev token: a professional (PSC names), the patient himself (``patient_self`` INS),
    or a legal representative of ``representative_of``."""
    identity = identity or Identity()
    now = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
        "sub": identity.national_id,
        "preferred_username": identity.national_id,
        "LPS_Nom": identity.lps_name,
        "LPS_Version": identity.lps_version,
    }
    if patient_self:
        claims |= {
            "actor": "patient",
            "patient": patient_self,
            "sub": patient_self,
            "preferred_username": patient_self,
        }
        return claims
    if representative_of:
        claims |= {"actor": "legal_representative", "represented": list(representative_of)}
        if identity.patient:
            claims["patient"] = identity.patient
        return claims
    activity = {
        "codeSecteurDactivite": identity.sector,
        "codeGenreActivite": identity.genre_activite,
        "codeRole": identity.role,
        "ancienIdentifiantDeLaStructure": identity.structure,
    }
    claims |= {
        "actor": "professional",
        "SubjectRefPro": {
            "exercices": [
                {
                    "codeProfession": identity.profession,
                    "codeSavoirFaire": identity.savoir_faire,
                    "activities": [{k: v for k, v in activity.items() if v}],
                }
            ]
        },
        "Identifiant_Structure": identity.structure,
        "Secteur_Activite": f"{identity.sector}^1.2.250.1.71.4.2.4",
        "Mode_Acces": _PURPOSE_VALUES[identity.mode],
        "Acces_Regulation_Medicale": "VRAI" if identity.mode is AccessMode.REGULATION else "FAUX",
        "given_name": identity.name,
    }
    if identity.reason:
        claims["Mode_Acces_Raison"] = identity.reason
    if identity.patient:
        claims["patient"] = identity.patient
    if identity.secret_connection:
        claims["secret_connection"] = True
    return claims


def mint_token(authority: DevAuthority, claims: dict[str, Any] | None = None) -> str:
    """An RS256 JWT signed by the authority (``token_claims()`` by default)."""
    payload = claims if claims is not None else token_claims()
    key_pem = authority.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    token: str = jwt.encode(payload, key_pem, algorithm="RS256", headers={"kid": authority.key_id})
    return token


__all__ = [
    "AUDIENCE",
    "CERT_FILE",
    "DEFAULT_TTL",
    "FOLDER",
    "ISSUER",
    "KEY_FILE",
    "MIN_DEFAULT_TTL",
    "DevAuthority",
    "Identity",
    "authority_dir",
    "build_assertion",
    "context_of",
    "exists",
    "init",
    "load",
    "mint_assertion",
    "mint_token",
    "security_header",
    "sign_assertion",
    "token_claims",
    "trusted",
]
