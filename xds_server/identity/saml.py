"""VIHF SAML 2.0 assertions (XUA, DMP "Volet Gestion de la Sécurité") -> ``AccessContext``.

Theory of operation (order matters: each step only trusts what the previous one proved):
 1. the WS-Security header: exactly one ``wsse:Security`` block holding exactly one ``saml2:Assertion``
    anywhere inside it (a second one, even nested, is how signature wrapping hides a forged assertion);
 2. the signature (XML-DSig, signxml) is checked with the certificate its ``ds:KeyInfo`` names when that
    certificate is pinned (``XDS_TRUSTED_CERTS``, the dev authority) or chains to a configured authority
    (``XDS_TRUSTED_CAS`` with its CRLs, identity/chains.py); a CA-issued certificate must name the claimed
    structure (or the professional) in its subject, else ``wsse:FailedAuthentication``. A signature
    without a KeyInfo certificate is checked against each pinned certificate in turn; signxml returns
    the element the signature covers, re-parsed from its canonical form. That element, and ONLY that
    element, is read afterwards: it must be a ``saml2:Assertion`` with the ID of the assertion found in
    step 1 (so an enveloped signature of some other element, or of another assertion, proves nothing);
 3. time: ``Conditions/@NotBefore`` <= now < ``Conditions/@NotOnOrAfter`` within ``clock_skew``;
    NotOnOrAfter is required (an assertion valid forever could be replayed forever), the window may not be
    longer than ``max_lifetime`` (8 h: a working day), and ``@IssueInstant`` (required by SAML 2.0) must lie
    within it: an assertion issued after it stops being valid, or long before it starts, is forged or
    replayed; the audience (``AudienceRestriction``) must name this server when ``require_audience`` (the
    DMP profiles) or when one is configured;
 4. replay: XUA lets a client reuse an assertion until it expires; one marked ``OneTimeUse`` (or any, in
    ``strict_replay``) is accepted once, remembered until it expires by a ``ReplayStore``: the database in
    production (storage/replay.py: shared by every process, kept across restarts), ``ReplayCache`` in memory
    otherwise;
 5. attributes (names from the DMP integration guide, see docs/dmp-rules.md b): Subject NameID = IDNPS;
    ``urn:oasis:names:tc:xacml:2.0:subject:role`` values are HL7 CE elements told apart by codeSystem
    (TRE_G15 profession, TRE_R38 / TRE_A02 savoir-faire, TRE_R85 role, TRE_R22 genre d'activité), never
    by position; purposeofuse (normal, BRIS_DE_GLACE, CENTRE_DE_REGULATION, any case); the patient's INS
    as resource-id (CX); a minor's secret connection as the confidentiality-code attribute.
Structural problems are ``wsse:InvalidSecurity``; an assertion that is well formed but unsigned, signed
by an untrusted key, out of its validity window or replayed is ``wsse:FailedAuthentication``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from xds_server.core.policy import AccessContext, AccessMode, ActorKind
from xds_server.identity.chains import CertificateAuthorities, binds, key_info_chain
from xds_server.identity.errors import IdentityError

SAML2: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
HL7V3: Final = "urn:hl7-org:v3"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

ASSERTION: Final = f"{{{SAML2}}}Assertion"
SECURITY: Final = f"{{{WSSE}}}Security"


class VihfAttribute(StrEnum):
    """The VIHF attribute names read (issue 7, point 1)."""

    ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
    SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
    STRUCTURE = "Identifiant_Structure"
    SECTEUR = "Secteur_Activite"
    VIHF_VERSION = "VIHF_Version"
    AUTHENTICATION_MODE = "Authentification_Mode"
    RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
    PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
    REASON = "Mode_Acces_Raison"
    CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"
    LPS_NAME = "LPS_Nom"
    LPS_VERSION = "LPS_Version"


class RoleKind(StrEnum):
    PROFESSION = "profession"
    SAVOIR_FAIRE = "savoir_faire"
    ROLE = "role"
    GENRE = "genre_activite"


#: Role CE codeSystem -> what the code is (oids.csv).
ROLE_CODE_SYSTEMS: Final[dict[str, RoleKind]] = {
    "1.2.250.1.71.1.2.7": RoleKind.PROFESSION,  # TRE_G15 ProfessionSante
    "1.2.250.1.71.4.2.5": RoleKind.SAVOIR_FAIRE,  # TRE_R38 SpecialiteOrdinale
    "1.2.250.1.213.1.1.4.5": RoleKind.SAVOIR_FAIRE,  # TRE_A02 ProfessionSavFaire-CISIS (G15_10/SM26)
    "1.2.250.1.213.1.6.1.107": RoleKind.ROLE,  # TRE_R85 RolePriseCharge
    "1.2.250.1.213.1.6.1.19": RoleKind.GENRE,  # TRE_R22 GenreActivite
}

#: purposeofuse values (compared case-insensitively) -> access mode; absent means normal.
PURPOSES: Final[dict[str, AccessMode]] = {
    "normal": AccessMode.NORMAL,
    "bris_de_glace": AccessMode.BREAK_GLASS,
    "centre_de_regulation": AccessMode.REGULATION,
}
SECRET_CONNECTION_CODE: Final = "INVISIBLE_REPRESENTANTS_LEGAUX"

#: Only RSA/ECDSA with SHA-2 are accepted (signxml's default already refuses SHA-1).
_SIGNATURE_CONFIG: Final = SignatureConfiguration(location="./", expect_references=1)


class ReplayStore(Protocol):
    """Where used assertions are remembered until they expire."""

    def first_use(self, key: str, expires: datetime, now: datetime) -> bool: ...


class VerifiedSignatures:
    """Assertions whose signature was already found valid, by the SHA-256 of their exact serialisation, with
    the fingerprint of the certificate that verified it (bounded, least recently used first out).

    Checking an XML signature (canonicalisation, digest, RSA) costs about a millisecond, on every request of
    a client that keeps its assertion for a session. Identical bytes verified by the same, still trusted,
    certificate give the same answer, so the verifier reuses it; everything else (time conditions, replay,
    audience, attributes) is still checked on every request. A certificate no longer trusted makes its
    entries useless at once (the fingerprint must be among the trusted ones)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[bytes, tuple[etree._Element, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: bytes) -> tuple[etree._Element, bytes] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: bytes, signed: etree._Element, fingerprint: bytes) -> None:
        with self._lock:
            self._entries[key] = (signed, fingerprint)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class ReplayCache:
    """Assertion ids seen, each kept until its NotOnOrAfter: a OneTimeUse assertion is accepted once.
    Thread-safe (handlers may run in a thread pool); expired ids are purged as new ones arrive."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def first_use(self, key: str, expires: datetime, now: datetime) -> bool:
        """Record ``key``; False when it was already recorded and has not expired."""
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen = {k: e for k, e in self._seen.items() if e > now}
            previous = self._seen.get(key)
            if previous is not None and previous > now:
                return False
            self._seen[key] = expires
            return True

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class SamlSettings:
    """``clock_skew``: tolerance on NotBefore / NotOnOrAfter. ``strict_replay``: accept every assertion
    once only. ``require_resource_id``: the ``dmp`` profile binds each request to a patient. ``audience``:
    when set, the assertion must name it in ``Conditions/AudienceRestriction/Audience``;
    ``require_audience`` (the DMP profiles) makes it mandatory. ``max_lifetime``: the longest validity
    window accepted (NotBefore, or IssueInstant without it, to NotOnOrAfter)."""

    clock_skew: timedelta = timedelta(seconds=60)
    strict_replay: bool = False
    require_resource_id: bool = True
    require_structure: bool = True
    audience: str | None = None
    require_audience: bool = False
    max_lifetime: timedelta = timedelta(hours=8)

    def __post_init__(self) -> None:
        if self.require_audience and not self.audience:
            raise ValueError("an audience is required (XDS_SAML_AUDIENCE)")


class AssertionVerifier:
    """Verifies VIHF assertions. ``trusted`` is called on every request, so a certificate added to the
    trust store (the dev authority created while the server runs) is used without a restart."""

    def __init__(
        self,
        trusted: Callable[[], Sequence[x509.Certificate]],
        settings: SamlSettings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        replay_cache: ReplayStore | None = None,
        canonical_patient: Callable[[str], str] | None = None,
        authorities: Callable[[], CertificateAuthorities | None] | None = None,
    ) -> None:
        """``canonical_patient`` (``core.identifiers.canonical_patient_id`` bound to the domain profile)
        turns the resource-id into the registry's spelling; a ValueError from it refuses the assertion."""
        self._canonical_patient = canonical_patient
        self._trusted = trusted
        self.settings = settings or SamlSettings()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._replay: ReplayStore = replay_cache if replay_cache is not None else ReplayCache()
        self._authorities = authorities or (lambda: None)
        self._verified = VerifiedSignatures()

    def verify_security_header(self, blocks: Sequence[etree._Element]) -> AccessContext:
        """The AccessContext of the request whose ``wsse:Security`` header blocks are ``blocks``."""
        if not blocks:
            raise IdentityError.invalid(
                "a wsse:Security header with a signed VIHF SAML assertion is required (a bearer token "
                "is for the FHIR API only; for tests: xds-server dev assertion --header)"
            )
        if len(blocks) > 1:
            raise IdentityError.invalid("the request carries more than one wsse:Security header")
        assertions = list(blocks[0].iter(ASSERTION))
        if not assertions:
            raise IdentityError.invalid("the wsse:Security header holds no saml2:Assertion")
        if len(assertions) > 1:
            raise IdentityError.invalid("the wsse:Security header must hold exactly one saml2:Assertion")
        if assertions[0].getparent() is not blocks[0]:
            raise IdentityError.invalid("the saml2:Assertion must be a direct child of wsse:Security")
        return self.verify_assertion(assertions[0])

    def verify_assertion(self, assertion: etree._Element) -> AccessContext:
        if assertion.tag != ASSERTION:
            raise IdentityError.invalid("the credential is not a SAML 2.0 assertion")
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise IdentityError.invalid("the assertion has no ID")
        if assertion.find(f"{{{DS}}}Signature") is None:
            raise IdentityError.failed("the assertion is not signed")
        now = self._clock()
        signed, issued_to = self._signed_element(assertion, now)
        if signed.tag != ASSERTION or signed.get("ID") != assertion_id:
            raise IdentityError.invalid("the signature does not cover the assertion that carries it")
        expires = self._check_time(signed, now)
        context = self._context(signed)
        if issued_to is not None and not _bound(issued_to, context):
            raise IdentityError.failed(
                "the signing certificate does not name the structure or professional the assertion claims"
            )
        self._check_replay(signed, assertion_id, expires, now)
        return context

    # -- steps ----------------------------------------------------------------------------------------------

    def _signed_element(
        self, assertion: etree._Element, now: datetime
    ) -> tuple[etree._Element, x509.Certificate | None]:
        """The element the signature covers, and the CA-issued certificate that signed it (None for a pinned
        one: pinned certificates are trusted for any identity)."""
        pinned = list(self._trusted())
        chain = key_info_chain(assertion)
        issued_to: x509.Certificate | None = None
        if chain:
            authorities = self._authorities()
            if any(chain[0] == certificate for certificate in pinned):
                certificates = [chain[0]]
            elif authorities is not None:
                certificates = [authorities.verify(chain, now)]
                issued_to = certificates[0]
            else:
                raise IdentityError.failed("the signing certificate is not trusted")
        else:
            certificates = pinned
        if not certificates:
            raise IdentityError.failed("no trusted signing certificate is configured")
        data = etree.tostring(assertion)
        key = hashlib.sha256(data).digest()
        known = self._verified.get(key)
        if known is not None:
            verified, fingerprint = known
            if any(c.fingerprint(hashes.SHA256()) == fingerprint for c in certificates):
                return verified, issued_to
        for certificate in certificates:
            try:
                result = XMLVerifier().verify(data, x509_cert=certificate, expect_config=_SIGNATURE_CONFIG)
            except (SignXMLException, etree.LxmlError, ValueError):
                continue  # not this certificate (or not valid at all): try the next one
            signed = result.signed_xml  # type: ignore[union-attr]
            if signed is None:
                raise IdentityError.invalid("the signed content is not an XML element")
            self._verified.put(key, signed, certificate.fingerprint(hashes.SHA256()))
            return signed, issued_to
        raise IdentityError.failed("the assertion's signature is not valid for any trusted certificate")

    def _check_time(self, signed: etree._Element, now: datetime) -> datetime:
        skew = self.settings.clock_skew
        conditions = signed.find(f"{{{SAML2}}}Conditions")
        not_after = _instant(conditions.get("NotOnOrAfter") if conditions is not None else None)
        if not_after is None:
            raise IdentityError.invalid("the assertion has no Conditions/@NotOnOrAfter")
        not_before = _instant(conditions.get("NotBefore") if conditions is not None else None)
        issued = _instant(signed.get("IssueInstant"))
        if issued is None:
            raise IdentityError.invalid("the assertion has no @IssueInstant")
        if not_before is not None and now + skew < not_before:
            raise IdentityError.failed("the assertion is not valid yet (Conditions/@NotBefore)")
        if now - skew >= not_after:
            raise IdentityError.failed("the assertion has expired (Conditions/@NotOnOrAfter)")
        start = not_before if not_before is not None else issued
        if not_after - start > self.settings.max_lifetime:
            hours = self.settings.max_lifetime.total_seconds() / 3600
            raise IdentityError.failed(f"the assertion's validity window is longer than {hours:g} h")
        if issued > now + skew or issued < start - skew or issued >= not_after:
            raise IdentityError.failed("the assertion's IssueInstant lies outside its validity window")
        if self.settings.audience is not None:
            path = f"{{{SAML2}}}AudienceRestriction/{{{SAML2}}}Audience"
            audiences = (
                {(a.text or "").strip() for a in conditions.iterfind(path)}
                if conditions is not None
                else set()
            )
            if self.settings.audience not in audiences:
                raise IdentityError.failed(
                    f"the assertion is not addressed to this server ({self.settings.audience})"
                )
        return not_after + skew

    def _check_replay(
        self, signed: etree._Element, assertion_id: str, expires: datetime, now: datetime
    ) -> None:
        one_time = signed.find(f"{{{SAML2}}}Conditions/{{{SAML2}}}OneTimeUse") is not None
        if not (one_time or self.settings.strict_replay):
            return
        issuer = (signed.findtext(f"{{{SAML2}}}Issuer") or "").strip()
        if not self._replay.first_use(f"{issuer}|{assertion_id}", expires, now):
            raise IdentityError.failed("the assertion was already used (OneTimeUse): request a new one")

    def _context(self, signed: etree._Element) -> AccessContext:
        national_id = (signed.findtext(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID") or "").strip()
        if not national_id:
            raise IdentityError.invalid("the assertion has no Subject/NameID (professional's national id)")
        attributes = _attributes(signed)
        roles = _roles(attributes.get(VihfAttribute.ROLE, []))
        profession = roles.get(RoleKind.PROFESSION)
        role = roles.get(RoleKind.ROLE)
        if not profession and not role:
            raise IdentityError.invalid(f"the assertion carries no profession or role ({VihfAttribute.ROLE})")
        structure = _first_text(attributes, VihfAttribute.STRUCTURE)
        if self.settings.require_structure and not structure:
            raise IdentityError.invalid(f"the assertion carries no {VihfAttribute.STRUCTURE}")
        patient = _first_text(attributes, VihfAttribute.RESOURCE_ID)
        if self.settings.require_resource_id and not patient:
            raise IdentityError.invalid(f"the assertion names no patient ({VihfAttribute.RESOURCE_ID})")
        if patient and self._canonical_patient is not None:
            try:
                patient = self._canonical_patient(patient)
            except ValueError as error:
                raise IdentityError.invalid(
                    f"the assertion's resource-id is not acceptable: {error}"
                ) from None
        secteur = _first_text(attributes, VihfAttribute.SECTEUR)
        return AccessContext(
            ActorKind.PROFESSIONAL,
            national_id,
            profession=profession,
            savoir_faire=roles.get(RoleKind.SAVOIR_FAIRE),
            role=role,
            genre_activite=roles.get(RoleKind.GENRE),
            structure_id=structure,
            secteur=secteur.split("^", 1)[0] if secteur else None,
            access_mode=_access_mode(attributes.get(VihfAttribute.PURPOSE_OF_USE, [])),
            reason=_first_text(attributes, VihfAttribute.REASON),
            patient_ins=patient,
            secret_connection=_secret_connection(attributes.get(VihfAttribute.CONFIDENTIALITY, [])),
            name=_first_text(attributes, VihfAttribute.SUBJECT_ID),
            authentication_mode=_first_text(attributes, VihfAttribute.AUTHENTICATION_MODE),
            lps_name=_first_text(attributes, VihfAttribute.LPS_NAME),
            lps_version=_first_text(attributes, VihfAttribute.LPS_VERSION),
            issuer=(signed.findtext(f"{{{SAML2}}}Issuer") or "").strip() or None,
            credential_id=signed.get("ID"),
        )


def _bound(certificate: x509.Certificate, context: AccessContext) -> bool:
    """A CA-issued certificate vouches for the structure it names, or for the professional it names."""
    claimed = [context.structure_id, context.national_id]
    return any(binds(certificate, c) for c in claimed if c)


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise IdentityError.invalid(f"bad xs:dateTime in the assertion: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _attributes(signed: etree._Element) -> dict[str, list[etree._Element]]:
    """Attribute name -> its AttributeValue elements (all AttributeStatements)."""
    found: dict[str, list[etree._Element]] = {}
    path = f"{{{SAML2}}}AttributeStatement/{{{SAML2}}}Attribute"
    for attribute in signed.iterfind(path):
        name = attribute.get("Name", "")
        found.setdefault(name, []).extend(attribute.iterfind(f"{{{SAML2}}}AttributeValue"))
    return found


def _value_text(value: etree._Element) -> str:
    """An AttributeValue's plain text, or the ``code`` of the CE element it holds."""
    children = [c for c in value if isinstance(c.tag, str)]
    if children:
        return (children[0].get("code") or "").strip()
    return (value.text or "").strip()


def _first_text(attributes: dict[str, list[etree._Element]], name: str) -> str | None:
    for value in attributes.get(name, []):
        text = _value_text(value)
        if text:
            return text
    return None


def _roles(values: Iterable[etree._Element]) -> dict[RoleKind, str]:
    """Role CE values by what their codeSystem says they are; the first of each kind wins."""
    roles: dict[RoleKind, str] = {}
    for value in values:
        for element in value:
            if not isinstance(element.tag, str):
                continue
            kind = ROLE_CODE_SYSTEMS.get((element.get("codeSystem") or "").strip())
            code = (element.get("code") or "").strip()
            if kind is not None and code:
                roles.setdefault(kind, code)
    return roles


def _access_mode(values: Iterable[etree._Element]) -> AccessMode:
    texts = [t for t in (_value_text(v) for v in values) if t]
    if not texts:
        return AccessMode.NORMAL
    mode = PURPOSES.get(texts[0].lower())
    if mode is None:
        raise IdentityError.invalid(
            f"unknown purposeofuse {texts[0]!r} (expected normal, BRIS_DE_GLACE or CENTRE_DE_REGULATION)"
        )
    return mode


def _secret_connection(values: Iterable[etree._Element]) -> bool:
    return any(_value_text(v).upper() == SECRET_CONNECTION_CODE for v in values)


__all__ = [
    "ASSERTION",
    "DS",
    "HL7V3",
    "PURPOSES",
    "ROLE_CODE_SYSTEMS",
    "SAML2",
    "SECRET_CONNECTION_CODE",
    "SECURITY",
    "WSSE",
    "XSI",
    "AssertionVerifier",
    "ReplayCache",
    "ReplayStore",
    "RoleKind",
    "SamlSettings",
    "VerifiedSignatures",
    "VihfAttribute",
]
