"""VIHF assertion verification: accepted when signed, trusted, in time and well formed; attacks refused."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree
from signxml.verifier import XMLVerifier

from xds_server.core.policy import AccessMode, ActorKind
from xds_server.identity.dev_authority import (
    DevAuthority,
    Identity,
    build_assertion,
    mint_assertion,
    security_header,
    sign_assertion,
)
from xds_server.identity.errors import IdentityError, WsseFault
from xds_server.identity.saml import (
    ASSERTION,
    DS,
    HL7V3,
    SAML2,
    WSSE,
    AssertionVerifier,
    ReplayCache,
    SamlSettings,
)

from .conftest import NOW, PATIENT

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
IDENTITY = Identity(national_id="810001234567", patient=PATIENT, profession="70", savoir_faire=None)
ROLE_ATTRIBUTE = "urn:oasis:names:tc:xacml:2.0:subject:role"


def signed(authority: DevAuthority, identity: Identity = IDENTITY, **kw: object) -> etree._Element:
    return etree.fromstring(mint_assertion(authority, identity, now=NOW, **kw))  # type: ignore[arg-type]


def header(*assertions: etree._Element) -> etree._Element:
    block = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    for assertion in assertions:
        block.append(assertion)
    return block


def refused(verifier: AssertionVerifier, blocks: list[etree._Element]) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        verifier.verify_security_header(blocks)
    return caught.value


def _name_id(element: etree._Element) -> etree._Element:
    found = element.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID")
    assert found is not None
    return found


def forged_from(original: etree._Element, evil_id: str = "899999999999") -> etree._Element:
    """The attacker's assertion: a copy of a signed one, unsigned, naming someone else."""
    forged = copy.deepcopy(original)
    signature = forged.find(f"{{{DS}}}Signature")
    assert signature is not None
    forged.remove(signature)
    _name_id(forged).text = evil_id
    return forged


class TestValidAssertion:
    def test_accepted_with_every_attribute(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        identity = Identity(
            national_id="810001234567",
            name="Dr Kiné",
            profession="70",
            savoir_faire=None,
            role="316",
            genre_activite="GENR01",
            structure="3123",
            sector="SA07",
            patient=PATIENT,
            mode=AccessMode.BREAK_GLASS,
            reason="patient unconscious",
            secret_connection=True,
            lps_name="LPS",
            lps_version="9",
        )
        ctx = verifier.verify_security_header([header(signed(authority, identity))])
        assert ctx.actor_kind is ActorKind.PROFESSIONAL
        assert (ctx.national_id, ctx.profession, ctx.role, ctx.genre_activite) == (
            "810001234567",
            "70",
            "316",
            "GENR01",
        )
        assert (ctx.structure_id, ctx.secteur, ctx.patient_ins) == ("3123", "SA07", PATIENT)
        assert (ctx.access_mode, ctx.reason, ctx.secret_connection) == (
            AccessMode.BREAK_GLASS,
            "patient unconscious",
            True,
        )
        assert (ctx.name, ctx.lps_name, ctx.lps_version) == ("Dr Kiné", "LPS", "9")
        assert ctx.authentication_mode == "INDIRECTE_RENFORCEE"

    def test_accepted_inside_a_parsed_soap_envelope(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12, "x": "urn:unrelated"})
        soap_header = etree.SubElement(envelope, f"{{{SOAP12}}}Header")
        soap_header.append(security_header(mint_assertion(authority, IDENTITY, now=NOW)))
        etree.SubElement(envelope, f"{{{SOAP12}}}Body")
        reparsed = etree.fromstring(etree.tostring(envelope))
        blocks = reparsed.findall(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
        assert verifier.verify_security_header(blocks).national_id == "810001234567"

    def test_roles_are_told_apart_by_code_system_not_position(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        assertion = build_assertion(
            Identity(patient=PATIENT, profession="21", savoir_faire="SM54", genre_activite="GENR03"), now=NOW
        )
        role = assertion.find(f".//{{{SAML2}}}Attribute[@Name='{ROLE_ATTRIBUTE}']")
        assert role is not None
        values = list(role)
        for value in values:
            role.remove(value)
        for value in reversed(values):
            role.append(value)
        ctx = AssertionVerifier(lambda: [authority.certificate], clock=lambda: NOW).verify_security_header(
            [header(sign_assertion(assertion, authority.key, authority.certificate))]
        )
        assert (ctx.profession, ctx.savoir_faire, ctx.genre_activite) == ("21", "SM54", "GENR03")

    def test_unknown_role_code_system_is_ignored(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        assertion = build_assertion(
            Identity(patient=PATIENT, profession=None, savoir_faire=None, role="316"), now=NOW
        )
        role = assertion.find(f".//{{{SAML2}}}Attribute[@Name='{ROLE_ATTRIBUTE}']")
        assert role is not None
        value = etree.SubElement(role, f"{{{SAML2}}}AttributeValue")
        etree.SubElement(value, f"{{{HL7V3}}}Role", code="10", codeSystem="9.9.9")
        ctx = verifier.verify_security_header(
            [header(sign_assertion(assertion, authority.key, authority.certificate))]
        )
        assert (ctx.profession, ctx.role) == (None, "316")

    @pytest.mark.parametrize(
        ("value", "mode"),
        [
            ("normal", AccessMode.NORMAL),
            ("NORMAL", AccessMode.NORMAL),
            ("bris_de_glace", AccessMode.BREAK_GLASS),
            ("Centre_De_Regulation", AccessMode.REGULATION),
        ],
    )
    def test_purpose_of_use_is_case_insensitive(
        self, verifier: AssertionVerifier, authority: DevAuthority, value: str, mode: AccessMode
    ) -> None:
        assertion = build_assertion(IDENTITY, now=NOW)
        purpose = assertion.find(
            f".//{{{SAML2}}}Attribute[@Name='urn:oasis:names:tc:xspa:1.0:subject:purposeofuse']/{{{SAML2}}}AttributeValue"
        )
        assert purpose is not None
        purpose.text = value
        signed_assertion = sign_assertion(assertion, authority.key, authority.certificate)
        assert verifier.verify_security_header([header(signed_assertion)]).access_mode is mode

    def test_unknown_purpose_of_use_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        assertion = build_assertion(IDENTITY, now=NOW)
        purpose = assertion.find(
            f".//{{{SAML2}}}Attribute[@Name='urn:oasis:names:tc:xspa:1.0:subject:purposeofuse']/{{{SAML2}}}AttributeValue"
        )
        assert purpose is not None
        purpose.text = "WHATEVER"
        error = refused(verifier, [header(sign_assertion(assertion, authority.key, authority.certificate))])
        assert error.fault is WsseFault.INVALID_SECURITY


class TestSignatureWrapping:
    def test_unsigned_assertion_wrapping_the_signed_one_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        original = signed(authority)
        forged = forged_from(original)
        advice = etree.Element(f"{{{SAML2}}}Advice")
        advice.append(original)
        forged.insert(2, advice)
        assert refused(verifier, [header(forged)]).fault is WsseFault.INVALID_SECURITY

    @pytest.mark.parametrize("forged_first", [True, False])
    def test_unsigned_assertion_beside_the_signed_one_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority, forged_first: bool
    ) -> None:
        original = signed(authority)
        forged = forged_from(original)
        pair = (forged, original) if forged_first else (original, forged)
        assert refused(verifier, [header(*pair)]).fault is WsseFault.INVALID_SECURITY

    def test_signature_moved_onto_a_forged_assertion_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        """The forged assertion carries the real signature; the signed original hides inside it without its
        signature, so the reference (#original-id) still resolves and digests: the signed element is not the
        assertion read."""
        original = signed(authority)
        forged = forged_from(original)
        forged.set("ID", "_evil")
        signature = original.find(f"{{{DS}}}Signature")
        assert signature is not None
        original.remove(signature)
        forged.insert(1, signature)
        advice = etree.SubElement(forged, f"{{{SAML2}}}Advice")
        advice.append(original)
        error = refused(verifier, [header(forged)])
        assert error.fault is WsseFault.INVALID_SECURITY
        # Even without the header rule, the assertion-level check refuses it.
        with pytest.raises(IdentityError, match="does not cover"):
            verifier.verify_assertion(forged)

    def test_same_id_wrapping_never_yields_the_forged_identity(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        original = signed(authority)
        forged = forged_from(original)
        signature = original.find(f"{{{DS}}}Signature")
        assert signature is not None
        original.remove(signature)
        forged.insert(1, signature)
        etree.SubElement(forged, f"{{{SAML2}}}Advice").append(original)
        try:
            ctx = verifier.verify_assertion(forged)
        except IdentityError:
            return
        assert ctx.national_id == IDENTITY.national_id  # only signed content is ever read

    def test_tampered_attribute_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        tampered = signed(authority)
        _name_id(tampered).text = "899999999999"
        assert refused(verifier, [header(tampered)]).fault is WsseFault.FAILED_AUTHENTICATION


class TestTimeConditions:
    def test_expired_is_refused(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        late = make_verifier(now=NOW + timedelta(minutes=31, seconds=1))
        error = refused(late, [header(signed(authority, ttl=timedelta(minutes=30)))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "expired" in error.message

    def test_small_skew_is_tolerated(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        just_late = make_verifier(now=NOW + timedelta(minutes=30, seconds=30))
        assert just_late.verify_security_header([header(signed(authority, ttl=timedelta(minutes=30)))])
        just_early = make_verifier(now=NOW - timedelta(seconds=30))
        assert just_early.verify_security_header([header(signed(authority))])

    def test_not_yet_valid_is_refused(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        early = make_verifier(now=NOW - timedelta(minutes=5))
        assert "not valid yet" in refused(early, [header(signed(authority))]).message

    def test_assertion_without_expiry_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        assertion = build_assertion(IDENTITY, now=NOW)
        conditions = assertion.find(f"{{{SAML2}}}Conditions")
        assert conditions is not None
        del conditions.attrib["NotOnOrAfter"]
        error = refused(verifier, [header(sign_assertion(assertion, authority.key, authority.certificate))])
        assert "NotOnOrAfter" in error.message


class TestTrust:
    def test_unsigned_is_refused(self, verifier: AssertionVerifier) -> None:
        assertion = build_assertion(IDENTITY, now=NOW)
        placeholder = assertion.find(f"{{{DS}}}Signature")
        assert placeholder is not None
        assertion.remove(placeholder)
        error = refused(verifier, [header(assertion)])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "not signed" in error.message

    def test_empty_signature_element_is_refused(self, verifier: AssertionVerifier) -> None:
        assert (
            refused(verifier, [header(build_assertion(IDENTITY, now=NOW))]).fault
            is WsseFault.FAILED_AUTHENTICATION
        )

    def test_wrong_certificate_is_refused(self, verifier: AssertionVerifier, stranger: DevAuthority) -> None:
        error = refused(verifier, [header(signed(stranger))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "trusted" in error.message

    def test_any_trusted_certificate_will_do(self, authority: DevAuthority, stranger: DevAuthority) -> None:
        both = AssertionVerifier(lambda: [stranger.certificate, authority.certificate], clock=lambda: NOW)
        assert both.verify_security_header([header(signed(authority))])

    def test_no_trusted_certificate_refuses_everything(self, authority: DevAuthority) -> None:
        nobody = AssertionVerifier(lambda: [], clock=lambda: NOW)
        assert refused(nobody, [header(signed(authority))]).fault is WsseFault.FAILED_AUTHENTICATION


class TestVerifiedSignatureReuse:
    """A client keeps its assertion for a session: its signature is checked once, every other condition on
    every request."""

    def test_the_signature_of_a_reused_assertion_is_checked_once(
        self, verifier: AssertionVerifier, authority: DevAuthority, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = []
        real = XMLVerifier.verify

        def counting(self: XMLVerifier, *args: object, **kwargs: object) -> object:
            calls.append(1)
            return real(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(XMLVerifier, "verify", counting)
        reusable = signed(authority)
        contexts = [verifier.verify_security_header([header(copy.deepcopy(reusable))]) for _ in range(3)]
        assert len(calls) == 1
        assert contexts[0] == contexts[1] == contexts[2]

    def test_a_reused_assertion_is_still_refused_once_expired(self, authority: DevAuthority) -> None:
        moments = [NOW, NOW + timedelta(minutes=31, seconds=1)]
        verifier = AssertionVerifier(lambda: [authority.certificate], clock=lambda: moments[0])
        assertion = signed(authority, ttl=timedelta(minutes=30))
        verifier.verify_security_header([header(copy.deepcopy(assertion))])
        moments[0] = moments[1]
        assert "expired" in refused(verifier, [header(assertion)]).message

    def test_a_reused_assertion_is_refused_once_its_certificate_is_no_longer_trusted(
        self, authority: DevAuthority, stranger: DevAuthority
    ) -> None:
        trusted = [authority.certificate]
        verifier = AssertionVerifier(lambda: list(trusted), clock=lambda: NOW)
        assertion = signed(authority)
        verifier.verify_security_header([header(copy.deepcopy(assertion))])
        trusted[:] = [stranger.certificate]
        assert refused(verifier, [header(assertion)]).fault is WsseFault.FAILED_AUTHENTICATION

    def test_a_tampered_copy_of_a_verified_assertion_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        genuine = signed(authority)
        verifier.verify_security_header([header(copy.deepcopy(genuine))])
        _name_id(genuine).text = "899999999999"
        assert refused(verifier, [header(genuine)]).fault is WsseFault.FAILED_AUTHENTICATION

    def test_a_one_time_assertion_is_refused_the_second_time_even_when_cached(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        once = signed(authority, one_time_use=True)
        verifier.verify_security_header([header(copy.deepcopy(once))])
        assert "already used" in refused(verifier, [header(once)]).message


class TestReplay:
    def test_one_time_use_is_accepted_once(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        once = signed(authority, one_time_use=True)
        verifier.verify_security_header([header(copy.deepcopy(once))])
        error = refused(verifier, [header(once)])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "already used" in error.message

    def test_reusable_assertion_may_be_replayed_until_it_expires(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        reusable = signed(authority)
        for _ in range(3):
            verifier.verify_security_header([header(copy.deepcopy(reusable))])

    def test_strict_mode_refuses_any_replay(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        strict = make_verifier(settings=SamlSettings(strict_replay=True))
        reusable = signed(authority)
        strict.verify_security_header([header(copy.deepcopy(reusable))])
        assert "already used" in refused(strict, [header(reusable)]).message

    def test_cache_forgets_expired_ids(self) -> None:
        cache = ReplayCache(max_entries=2)
        assert cache.first_use("a", NOW + timedelta(minutes=1), NOW)
        assert not cache.first_use("a", NOW + timedelta(minutes=1), NOW)
        assert cache.first_use("a", NOW + timedelta(minutes=5), NOW + timedelta(minutes=2))
        cache.first_use("b", NOW + timedelta(minutes=3), NOW + timedelta(minutes=2))
        cache.first_use("c", NOW + timedelta(minutes=10), NOW + timedelta(minutes=6))  # purges a and b
        assert len(cache) == 1


class TestRequiredContent:
    @pytest.mark.parametrize(
        ("identity", "missing"),
        [
            (Identity(patient=PATIENT, profession=None, savoir_faire=None), "profession"),
            (Identity(patient=PATIENT, structure=""), "Identifiant_Structure"),
            (Identity(patient=None), "patient"),
            (Identity(patient=PATIENT, national_id=""), "NameID"),
        ],
    )
    def test_missing_facts_are_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority, identity: Identity, missing: str
    ) -> None:
        error = refused(verifier, [header(signed(authority, identity))])
        assert error.fault is WsseFault.INVALID_SECURITY and missing in error.message

    def test_patient_binding_is_optional_in_the_ihe_profile(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        ihe = make_verifier(settings=SamlSettings(require_resource_id=False))
        assert ihe.verify_security_header([header(signed(authority, Identity()))]).patient_ins is None


class TestHeaderShape:
    def test_no_security_header(self, verifier: AssertionVerifier) -> None:
        assert refused(verifier, []).fault is WsseFault.INVALID_SECURITY

    def test_two_security_headers(self, verifier: AssertionVerifier, authority: DevAuthority) -> None:
        blocks = [header(signed(authority)), header(signed(authority))]
        assert refused(verifier, blocks).fault is WsseFault.INVALID_SECURITY

    def test_security_header_without_assertion(self, verifier: AssertionVerifier) -> None:
        assert "no saml2:Assertion" in refused(verifier, [header()]).message

    def test_not_an_assertion(self, verifier: AssertionVerifier) -> None:
        with pytest.raises(IdentityError):
            verifier.verify_assertion(etree.Element("{urn:x}Token"))
        assert ASSERTION.endswith("Assertion")


class TestAudience:
    def test_audience_is_checked_when_configured(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        strict = make_verifier(settings=SamlSettings(audience="urn:xds-server"))
        assert strict.verify_security_header([header(signed(authority, audience="urn:xds-server"))])
        assert "addressed" in refused(strict, [header(signed(authority, audience="urn:other"))]).message
        assert "addressed" in refused(strict, [header(signed(authority))]).message

    def test_audience_is_ignored_when_not_configured(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        assert verifier.verify_security_header([header(signed(authority, audience="urn:other"))])


class TestPatientCanonicalisation:
    def test_resource_id_is_canonicalised(self, authority: DevAuthority) -> None:
        verifier = AssertionVerifier(
            lambda: [authority.certificate],
            clock=lambda: NOW,
            canonical_patient=lambda v: v.replace("ISO", "iso"),
        )
        assert verifier.verify_security_header([header(signed(authority))]).patient_ins == PATIENT.replace(
            "ISO", "iso"
        )

    def test_unacceptable_resource_id_is_refused(self, authority: DevAuthority) -> None:
        def reject(value: str) -> str:
            raise ValueError(f"{value} is a test authority")

        verifier = AssertionVerifier(
            lambda: [authority.certificate], clock=lambda: NOW, canonical_patient=reject
        )
        error = refused(verifier, [header(signed(authority))])
        assert error.fault is WsseFault.INVALID_SECURITY and "test authority" in error.message
