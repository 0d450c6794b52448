"""The local test authority: created on demand, trusted only while present and not switched off."""

from __future__ import annotations

import dataclasses
import shutil
import stat
from datetime import datetime, timedelta
from pathlib import Path

from lxml import etree

from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import (
    Identity,
    mint_assertion,
    mint_token,
    security_header,
    token_claims,
)
from xds_server.identity.jwt import TokenVerifier
from xds_server.identity.saml import SAML2, AssertionVerifier, VihfAttribute
from xds_server.identity.trust import TrustStore, load_certificates

from .conftest import PATIENT


def _conditions(assertion: bytes) -> tuple[datetime, datetime]:
    conditions = etree.fromstring(assertion).find(f"{{{SAML2}}}Conditions")
    assert conditions is not None
    return (
        datetime.fromisoformat(conditions.get("NotBefore", "")),
        datetime.fromisoformat(conditions.get("NotOnOrAfter", "")),
    )


class TestInit:
    def test_creates_a_private_key_and_a_certificate(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        folder = data_dir / "dev-authority"
        assert (folder / "key.pem").is_file() and (folder / "cert.pem").is_file()
        assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
        assert load_certificates([folder / "cert.pem"]) == (authority.certificate,)

    def test_is_idempotent_unless_forced(self, data_dir: Path) -> None:
        first = dev_authority.init(data_dir)
        assert dev_authority.init(data_dir).certificate == first.certificate
        assert dev_authority.init(data_dir, force=True).certificate != first.certificate


class TestTrusted:
    def test_absent_is_not_trusted(self, data_dir: Path) -> None:
        assert not dev_authority.trusted(data_dir, None)

    def test_present_is_trusted_unless_off(self, data_dir: Path) -> None:
        dev_authority.init(data_dir)
        assert dev_authority.trusted(data_dir, None)
        assert dev_authority.trusted(data_dir, "on")
        assert not dev_authority.trusted(data_dir, "off")
        assert not dev_authority.trusted(data_dir, " OFF ")

    def test_trust_store_picks_it_up_without_restart(self, data_dir: Path) -> None:
        store = TrustStore(data_dir)
        assert store.certificates() == [] and store.token_issuers() == []
        authority = dev_authority.init(data_dir)
        assert store.certificates() == [authority.certificate]
        assert [i.issuer for i in store.token_issuers()] == [dev_authority.ISSUER]
        replaced = dev_authority.init(data_dir, force=True)
        assert store.certificates() == [replaced.certificate] != [authority.certificate]
        shutil.rmtree(data_dir / "dev-authority")
        assert store.certificates() == []

    def test_off_setting_withdraws_it(self, data_dir: Path) -> None:
        dev_authority.init(data_dir)
        assert TrustStore(data_dir, dev_setting="off").certificates() == []


class TestMintAssertion:
    def test_defaults_are_valid_for_at_least_ten_minutes(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        start, end = _conditions(mint_assertion(authority))
        assert end - start >= timedelta(minutes=10)

    def test_ttl_option(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        start, end = _conditions(mint_assertion(authority, ttl=timedelta(minutes=2)))
        assert end - start == timedelta(minutes=2)

    def test_minted_assertion_is_accepted_with_its_defaults(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        verifier = AssertionVerifier(TrustStore(data_dir).certificates)
        ctx = verifier.verify_security_header(
            [security_header(mint_assertion(authority, Identity(patient=PATIENT)))]
        )
        assert ctx.structure_id and ctx.secteur and ctx.name and ctx.lps_name and ctx.lps_version
        assert ctx.authentication_mode and ctx.profession == "10"
        names = {
            a.get("Name") for a in etree.fromstring(mint_assertion(authority)).iter(f"{{{SAML2}}}Attribute")
        }
        assert {VihfAttribute.VIHF_VERSION.value, VihfAttribute.AUTHENTICATION_MODE.value} <= names


class TestMintToken:
    def test_minted_token_is_accepted_through_the_trust_store(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        verifier = TokenVerifier(TrustStore(data_dir).token_issuers)
        assert verifier.verify(mint_token(authority)).profession == "10"
        claims = token_claims(patient_self=PATIENT)
        assert claims["exp"] - claims["iat"] >= 600
        assert verifier.verify(mint_token(authority, claims)).patient_ins == PATIENT


class TestContextOf:
    def test_matches_what_the_verifier_reads(self, data_dir: Path) -> None:
        authority = dev_authority.init(data_dir)
        identity = Identity(patient=PATIENT, role="316", genre_activite="GENR02", reason="r")
        verifier = AssertionVerifier(TrustStore(data_dir).certificates)
        verified = verifier.verify_security_header([security_header(mint_assertion(authority, identity))])
        assert verified.credential_id  # the assertion's ID: it is minted per assertion, never in context_of
        assert dev_authority.context_of(identity) == dataclasses.replace(verified, credential_id=None)
