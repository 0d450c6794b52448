"""Bearer token verification: python-jose with required exp/aud/iss and asymmetric algorithms only."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from jose import jwt as jose_jwt

from xds_server.core.identifiers import canonical_patient_id
from xds_server.core.policy import AccessMode, ActorKind, Policy, RecordSettings
from xds_server.core.ports import PatientState
from xds_server.identity.dev_authority import ISSUER, DevAuthority, Identity, mint_token, token_claims
from xds_server.identity.errors import IdentityError, WsseFault
from xds_server.identity.jwt import JwtSettings, TokenVerifier, TrustedIssuer, context_from_claims
from xds_server.terminology import load_profile

from .conftest import PATIENT

INS_NIR = "1.2.250.1.213.1.4.8"
REPRESENTATIVE_INS = "155081416802588"  # bare INS (NIR + key), as a third-party token may carry it
CHILD_INS = "255081416802538"
#: The dev authority's trust: every kind of actor (configured issuers vouch for professionals only).
EVERY_KIND = frozenset(ActorKind)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def handmade(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT signed by hand (python-jose refuses to build the attacks we want to send)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def verifier(authority: DevAuthority) -> TokenVerifier:
    return TokenVerifier(lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)])


def claims_without(*names: str) -> dict[str, Any]:
    claims = token_claims(Identity(patient=PATIENT))
    for name in names:
        del claims[name]
    return claims


def refused(verifier: TokenVerifier, token: str) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        verifier.verify(token)
    return caught.value


class TestPythonJoseDefaults:
    def test_jose_alone_accepts_a_token_without_exp_aud_iss(self, authority: DevAuthority) -> None:
        """Why the verifier passes require_* options: by default python-jose does not require them."""
        token = mint_token(authority, claims_without("exp", "aud", "iss"))
        decoded = jose_jwt.decode(token, authority.public_key_pem, algorithms=["RS256"])
        assert "exp" not in decoded and "aud" not in decoded


class TestValidToken:
    def test_professional_token(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        identity = Identity(
            national_id="810009999999",
            profession="60",
            savoir_faire=None,
            genre_activite="GENR01",
            structure="3111",
            sector="SA01",
            patient=PATIENT,
            mode=AccessMode.BREAK_GLASS,
            reason="urgence",
        )
        ctx = verifier.verify(mint_token(authority, token_claims(identity)))
        assert ctx.actor_kind is ActorKind.PROFESSIONAL
        assert (ctx.national_id, ctx.profession, ctx.genre_activite) == ("810009999999", "60", "GENR01")
        assert (ctx.structure_id, ctx.secteur, ctx.patient_ins) == ("3111", "SA01", PATIENT)
        assert (ctx.access_mode, ctx.reason) == (AccessMode.BREAK_GLASS, "urgence")
        assert ctx.issuer == ISSUER

    def test_regulation_flag(self) -> None:
        claims = token_claims(Identity())
        del claims["Mode_Acces"]
        claims["Acces_Regulation_Medicale"] = "VRAI"
        assert context_from_claims(claims).access_mode is AccessMode.REGULATION
        claims["Acces_Regulation_Medicale"] = "FAUX"
        assert context_from_claims(claims).access_mode is AccessMode.NORMAL

    def test_psc_userinfo_shape(self) -> None:
        claims = {
            "sub": "f:550dc1c8:ANS:899700218896",
            "preferred_username": "899700218896",
            "SubjectRefPro": {
                "exercices": [
                    {
                        "codeProfession": "10",
                        "codeSavoirFaire": "SM54",
                        "activities": [
                            {"codeSecteurDactivite": "SA07", "ancienIdentifiantDeLaStructure": "499700"}
                        ],
                    }
                ]
            },
            "Secteur_Activite": "SA08^1.2.250.1.71.4.2.4",
            "Mode_Acces_Raison": "",
            "Acces_Regulation_Medicale": "FAUX",
        }
        ctx = context_from_claims(claims)
        assert (ctx.national_id, ctx.profession, ctx.savoir_faire) == ("899700218896", "10", "SM54")
        assert (ctx.structure_id, ctx.secteur, ctx.reason) == ("499700", "SA08", None)

    def test_patient_token(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        ctx = verifier.verify(mint_token(authority, token_claims(patient_self=PATIENT)))
        assert (ctx.actor_kind, ctx.patient_ins, ctx.national_id) == (ActorKind.PATIENT, PATIENT, PATIENT)

    def test_representative_token(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        ctx = verifier.verify(
            mint_token(authority, token_claims(Identity(national_id="REP"), representative_of=[PATIENT]))
        )
        assert (ctx.actor_kind, ctx.represented, ctx.national_id) == (
            ActorKind.LEGAL_REPRESENTATIVE,
            frozenset({PATIENT}),
            "REP",
        )


class TestRequiredClaims:
    @pytest.mark.parametrize("claim", ["exp", "aud", "iss"])
    def test_missing_claim_is_refused(
        self, verifier: TokenVerifier, authority: DevAuthority, claim: str
    ) -> None:
        error = refused(verifier, mint_token(authority, claims_without(claim)))
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and claim in error.message

    def test_expired(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        claims = token_claims(Identity())
        claims["exp"] = int(time.time()) - 3600
        assert "expired" in refused(verifier, mint_token(authority, claims)).message

    def test_wrong_audience(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        claims = token_claims(Identity(), audience="another-server")
        assert refused(verifier, mint_token(authority, claims)).fault is WsseFault.FAILED_AUTHENTICATION

    def test_untrusted_issuer(self, verifier: TokenVerifier, authority: DevAuthority) -> None:
        claims = token_claims(Identity(), issuer="urn:somebody-else")
        assert "issuer" in refused(verifier, mint_token(authority, claims)).message

    def test_patient_token_without_patient(self) -> None:
        with pytest.raises(IdentityError, match="INS"):
            context_from_claims({"sub": "x", "actor": "patient"})

    def test_representative_without_represented(self) -> None:
        with pytest.raises(IdentityError, match="represented"):
            context_from_claims({"sub": "x", "actor": "legal_representative", "represented": []})

    def test_professional_without_profession(self) -> None:
        with pytest.raises(IdentityError, match="profession"):
            context_from_claims({"sub": "x", "Identifiant_Structure": "s"})

    def test_professional_without_structure(self) -> None:
        claims = token_claims(Identity())
        del claims["Identifiant_Structure"]
        claims["SubjectRefPro"]["exercices"][0]["activities"][0].pop("ancienIdentifiantDeLaStructure")
        with pytest.raises(IdentityError, match="structure"):
            context_from_claims(claims)
        assert context_from_claims(claims, require_structure=False).structure_id is None


class TestAlgorithmAttacks:
    def test_alg_none_is_refused(self, verifier: TokenVerifier) -> None:
        token = handmade({"alg": "none", "typ": "JWT"}, token_claims(Identity()), None)
        error = refused(verifier, token)
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "alg" in error.message

    def test_hs256_signed_with_the_public_key_is_refused(
        self, verifier: TokenVerifier, authority: DevAuthority
    ) -> None:
        secret = authority.public_key_pem.encode("ascii")
        token = handmade({"alg": "HS256", "typ": "JWT"}, token_claims(Identity()), secret)
        error = refused(verifier, token)
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "alg" in error.message

    def test_other_key_is_refused(self, verifier: TokenVerifier, stranger: DevAuthority) -> None:
        assert (
            "Signature verification failed"
            in refused(verifier, mint_token(stranger, token_claims(Identity()))).message
        )

    def test_garbage_is_invalid(self, verifier: TokenVerifier) -> None:
        assert refused(verifier, "not-a-token").fault is WsseFault.INVALID_SECURITY

    @pytest.mark.parametrize("algorithms", [frozenset({"HS256"}), frozenset({"RS256", "none"}), frozenset()])
    def test_symmetric_or_empty_algorithm_lists_are_rejected(self, algorithms: frozenset[str]) -> None:
        with pytest.raises(ValueError, match="asymmetric"):
            JwtSettings(algorithms=algorithms)


class TestPatientCanonicalisation:
    def test_patient_and_represented_are_canonicalised(self, authority: DevAuthority) -> None:
        verifier = TokenVerifier(
            lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)],
            canonical_patient=str.lower,
        )
        rep = verifier.verify(
            mint_token(authority, token_claims(Identity(patient=PATIENT), representative_of=[PATIENT]))
        )
        assert rep.patient_ins == PATIENT.lower() and rep.represented == {PATIENT.lower()}

    def test_unacceptable_patient_is_refused(self, authority: DevAuthority) -> None:
        def reject(value: str) -> str:
            raise ValueError("bad INS key")

        verifier = TokenVerifier(
            lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)], canonical_patient=reject
        )
        with pytest.raises(IdentityError, match="bad INS key"):
            verifier.verify(mint_token(authority, token_claims(patient_self=PATIENT)))

    def test_representative_subject_is_canonicalised(self, authority: DevAuthority) -> None:
        """A representative is registered by his INS in canonical CX (``patients representative --add``); a
        token naming him by his bare INS must reach the policy in that spelling, or he is refused."""
        canonical = functools.partial(canonical_patient_id, profile=load_profile("dmp"))
        verifier = TokenVerifier(
            lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)],
            canonical_patient=canonical,
        )
        claims = token_claims(Identity(national_id=REPRESENTATIVE_INS), representative_of=[CHILD_INS])
        ctx = verifier.verify(mint_token(authority, claims))
        assert ctx.national_id == canonical(REPRESENTATIVE_INS) == f"{REPRESENTATIVE_INS}^^^&{INS_NIR}&ISO^NH"
        assert ctx.represented == {canonical(CHILD_INS)}
        record = RecordSettings(
            canonical(CHILD_INS),
            PatientState.ACTIVATED,
            legal_representatives=frozenset({canonical(REPRESENTATIVE_INS)}),
        )
        assert Policy().decide_record_access(ctx, record).allowed

    def test_only_the_representative_subject_is_canonicalised(self, authority: DevAuthority) -> None:
        verifier = TokenVerifier(
            lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)],
            canonical_patient=str.lower,
        )
        professional = verifier.verify(mint_token(authority, token_claims(Identity(national_id="PS-A"))))
        assert professional.national_id == "PS-A"

    def test_unacceptable_representative_subject_is_refused(self, authority: DevAuthority) -> None:
        canonical = functools.partial(canonical_patient_id, profile=load_profile("dmp"))
        verifier = TokenVerifier(
            lambda: [TrustedIssuer(ISSUER, (authority.public_key_pem,), EVERY_KIND)],
            canonical_patient=canonical,
        )
        claims = token_claims(Identity(national_id="REP-001"), representative_of=[CHILD_INS])
        with pytest.raises(IdentityError, match="legal representative's id"):
            verifier.verify(mint_token(authority, claims))
