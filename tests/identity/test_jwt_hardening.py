"""Bearer-token hardening (issue 14, item 3), from the attacker's side: a NumericDate claim sent as a string
is refused, and an issuer asserts only the actor kinds its configuration names (a professional identity
provider cannot mint a patient token by writing ``"actor": "patient"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xds_server.config import Settings
from xds_server.core.policy import ActorKind
from xds_server.identity.dev_authority import ISSUER, DevAuthority, Identity, mint_token, token_claims
from xds_server.identity.errors import WsseFault
from xds_server.identity.jwt import TokenVerifier, TrustedIssuer

from .conftest import PATIENT
from .test_jwt import refused


def verifier(authority: DevAuthority, *kinds: ActorKind) -> TokenVerifier:
    issuer = TrustedIssuer(ISSUER, (authority.public_key_pem,), frozenset(kinds or {ActorKind.PROFESSIONAL}))
    return TokenVerifier(lambda: [issuer])


class TestNumericDates:
    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
    @pytest.mark.parametrize("value", ["99999999999", True, None, [1]])
    def test_a_non_number_is_refused(self, authority: DevAuthority, claim: str, value: Any) -> None:
        claims = token_claims(Identity(patient=PATIENT))
        claims[claim] = value
        error = refused(verifier(authority), mint_token(authority, claims))
        assert (
            error.fault is WsseFault.FAILED_AUTHENTICATION
            and f"{claim} claim must be a number" in error.message
        )

    def test_numbers_pass(self, authority: DevAuthority) -> None:
        claims = token_claims(Identity(patient=PATIENT))
        claims["exp"] = float(claims["exp"])
        assert verifier(authority).verify(mint_token(authority, claims)).actor_kind is ActorKind.PROFESSIONAL


class TestIssuerActorKinds:
    def test_a_professional_issuer_cannot_mint_a_patient(self, authority: DevAuthority) -> None:
        token = mint_token(authority, token_claims(patient_self=PATIENT))
        error = refused(verifier(authority), token)
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "may not assert a patient" in error.message

    def test_nor_a_legal_representative_or_a_system(self, authority: DevAuthority) -> None:
        representative = token_claims(Identity(national_id="155081416802588"), representative_of=[PATIENT])
        system = token_claims(Identity(patient=PATIENT)) | {"actor": "system"}
        for claims in (representative, system):
            assert "may not assert" in refused(verifier(authority), mint_token(authority, claims)).message

    def test_an_issuer_configured_for_patients_may(self, authority: DevAuthority) -> None:
        token = mint_token(authority, token_claims(patient_self=PATIENT))
        ctx = verifier(authority, ActorKind.PATIENT).verify(token)
        assert ctx.actor_kind is ActorKind.PATIENT
        professional = mint_token(authority, token_claims(Identity(patient=PATIENT)))
        assert (
            "may not assert a professional"
            in refused(verifier(authority, ActorKind.PATIENT), professional).message
        )


class TestConfiguration:
    def test_a_bare_key_file_vouches_for_professionals_only(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, jwt_issuers={"https://psc": str(tmp_path / "psc.pem")})
        assert settings.jwt_issuers["https://psc"].actors == ("professional",)

    def test_actor_kinds_are_checked(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="actors must be some of"):
            Settings(data_dir=tmp_path, jwt_issuers={"https://x": {"key": "k.pem", "actors": ["admin"]}})

    def test_the_server_trusts_what_is_configured(self, tmp_path: Path, authority: DevAuthority) -> None:
        from xds_server.app import trust_store

        key = tmp_path / "patients.pem"
        key.write_text(authority.public_key_pem)
        settings = Settings(
            data_dir=tmp_path,
            dev_authority="off",
            jwt_issuers={
                "https://patients": {"key": str(key), "actors": ["patient", "legal_representative"]}
            },
        )
        (issuer,) = trust_store(settings).token_issuers()
        assert issuer.issuer == "https://patients" and issuer.keys == (authority.public_key_pem,)
        assert issuer.actor_kinds == {ActorKind.PATIENT, ActorKind.LEGAL_REPRESENTATIVE}
