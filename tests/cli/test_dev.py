"""``xds-server dev authority init | assertion | token``: what they print verifies against the trust store a
server on the same data dir builds, with the options given and valid defaults for the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jose import jwt
from lxml import etree

from xds_server.core.policy import AccessMode, ActorKind
from xds_server.identity import AssertionVerifier, SamlSettings, TokenVerifier, TrustStore
from xds_server.identity.dev_authority import AUDIENCE, CERT_FILE, FOLDER, KEY_FILE, MIN_DEFAULT_TTL
from xds_server.identity.errors import IdentityError
from xds_server.identity.jwt import JwtSettings
from xds_server.identity.saml import SAML2, WSSE

from .conftest import OTHER_INS, PARENT, PARENT_INS, PATIENT, PATIENT_INS, WRONG_KEY_INS, Cli


@pytest.fixture
def authority(cli: Cli) -> Cli:
    cli.ok("dev", "authority", "init")
    return cli


def saml_verifier(data_dir: Path, **settings: object) -> AssertionVerifier:
    trust = TrustStore(data_dir, dev_setting="on")  # a server started with --dev
    return AssertionVerifier(trust.certificates, SamlSettings(**settings))  # type: ignore[arg-type]


def token_verifier(data_dir: Path, audience: str = AUDIENCE) -> TokenVerifier:
    return TokenVerifier(TrustStore(data_dir, dev_setting="on").token_issuers, JwtSettings(audience=audience))


def not_on_or_after(assertion: etree._Element) -> datetime:
    conditions = assertion.find(f"{{{SAML2}}}Conditions")
    assert conditions is not None
    return datetime.strptime(conditions.get("NotOnOrAfter", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class TestAuthorityInit:
    def test_creates_key_and_certificate_under_the_data_dir(self, cli: Cli) -> None:
        result = cli("dev", "authority", "init")
        assert result.code == 0
        folder = cli.data_dir / FOLDER
        assert result.stdout == f"dev authority created: {folder / CERT_FILE}\n"
        assert (folder / KEY_FILE).stat().st_mode & 0o077 == 0  # the key is private
        assert "TEST ONLY" in result.stderr and "--dev" in result.stderr and "dmp profile" in result.stderr

    def test_keeps_an_existing_one_unless_forced(self, authority: Cli) -> None:
        certificate = (authority.data_dir / FOLDER / CERT_FILE).read_bytes()
        assert authority.ok("dev", "authority", "init").startswith("dev authority kept")
        assert (authority.data_dir / FOLDER / CERT_FILE).read_bytes() == certificate
        assert authority.ok("dev", "authority", "init", "--force").startswith("dev authority created")
        assert (authority.data_dir / FOLDER / CERT_FILE).read_bytes() != certificate

    def test_unwritable_data_dir(self, cli: Cli, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        assert "is a file" in cli.error("dev", "authority", "init", "--data-dir", str(blocker), code=2)
        cli.error("dev", "authority", "init", "--data-dir", str(blocker / "data"), code=2)


class TestAssertion:
    def test_defaults_verify_and_last_at_least_ten_minutes(self, authority: Cli) -> None:
        printed = authority.ok("dev", "assertion", "--patient", PATIENT_INS)
        assertion = etree.fromstring(printed.encode())
        ctx = saml_verifier(authority.data_dir).verify_assertion(assertion)
        assert ctx.actor_kind is ActorKind.PROFESSIONAL
        assert ctx.national_id and ctx.profession and ctx.structure_id and ctx.secteur
        assert ctx.access_mode is AccessMode.NORMAL
        assert ctx.patient_ins == PATIENT  # canonicalised under the profile
        assert ctx.name and ctx.lps_name and ctx.authentication_mode
        assert not_on_or_after(assertion) - datetime.now(UTC) >= MIN_DEFAULT_TTL - timedelta(seconds=5)

    def test_options_reach_the_verified_context(self, authority: Cli) -> None:
        printed = authority.ok(
            "dev",
            "assertion",
            "--id",
            "810000000009",
            "--name",
            "Kiné Test",
            "--profession",
            "70",
            "--genre",
            "GENR01",
            "--structure",
            "3900000000002",
            "--sector",
            "SA01",
            "--patient",
            PATIENT,
            "--mode",
            "break-glass",
            "--reason",
            "unconscious patient",
            "--lps",
            "MyLPS",
            "--lps-version",
            "2.1",
            "--secret-connection",
            "--ttl",
            "2h",
        )
        assertion = etree.fromstring(printed.encode())
        ctx = saml_verifier(authority.data_dir).verify_assertion(assertion)
        assert (ctx.national_id, ctx.name, ctx.profession, ctx.savoir_faire) == (
            "810000000009",
            "Kiné Test",
            "70",
            None,  # the médecin default savoir-faire does not follow another profession
        )
        assert (ctx.genre_activite, ctx.structure_id, ctx.secteur) == ("GENR01", "3900000000002", "SA01")
        assert ctx.access_mode is AccessMode.BREAK_GLASS and ctx.reason == "unconscious patient"
        assert (ctx.lps_name, ctx.lps_version, ctx.secret_connection) == ("MyLPS", "2.1", True)
        remaining = not_on_or_after(assertion) - datetime.now(UTC)
        assert timedelta(minutes=119) < remaining <= timedelta(hours=2)

    def test_a_role_without_profession(self, authority: Cli) -> None:
        printed = authority.ok("dev", "assertion", "--role", "316", "--patient", PATIENT_INS)
        ctx = saml_verifier(authority.data_dir).verify_assertion(etree.fromstring(printed.encode()))
        assert (ctx.profession, ctx.savoir_faire, ctx.role) == (None, None, "316")

    def test_regulation_mode_one_time_use_audience_and_header(self, authority: Cli) -> None:
        printed = authority.ok(
            "dev", "assertion", "--mode", "regulation", "--one-time-use", "--audience", "urn:me", "--header"
        )
        header = etree.fromstring(printed.encode())
        assert header.tag == f"{{{WSSE}}}Security"
        verifier = saml_verifier(authority.data_dir, audience="urn:me", require_resource_id=False)
        assert verifier.verify_security_header([header]).access_mode is AccessMode.REGULATION
        with pytest.raises(IdentityError):  # OneTimeUse: a second use is a replay
            verifier.verify_security_header([header])

    def test_audience_setting_is_the_default(self, authority: Cli) -> None:
        authority.env["XDS_SAML_AUDIENCE"] = "urn:xds:test"
        printed = authority.ok("dev", "assertion", "--patient", PATIENT_INS)
        verifier = saml_verifier(authority.data_dir, audience="urn:xds:test")
        assert verifier.verify_assertion(etree.fromstring(printed.encode())).patient_ins == PATIENT

    def test_a_server_with_the_authority_off_refuses_it(self, authority: Cli) -> None:
        printed = authority.ok("dev", "assertion", "--patient", PATIENT_INS)
        trust = TrustStore(authority.data_dir, dev_setting="off")
        with pytest.raises(IdentityError):
            AssertionVerifier(trust.certificates).verify_assertion(etree.fromstring(printed.encode()))

    def test_without_authority(self, cli: Cli) -> None:
        assert "dev authority init" in cli.error("dev", "assertion", code=1)

    @pytest.mark.parametrize(
        ("options", "named"),
        [
            (("--mode", "panic"), "--mode"),
            (("--ttl", "0"), "--ttl"),
            (("--ttl", "-5m"), "--ttl"),
            (("--ttl", "ten"), "--ttl"),
            (("--patient", WRONG_KEY_INS), "key"),
            (("--patient", "x^^^&1.2.3&ISO"), "authority"),
            (("--id", "8 1"), "--id"),
            (("--structure", ""), "--structure"),
        ],
    )
    def test_bad_options(self, authority: Cli, options: tuple[str, str], named: str) -> None:
        assert named in authority.error("dev", "assertion", *options, code=2)


class TestToken:
    def test_professional_token_defaults(self, authority: Cli) -> None:
        token = authority.ok("dev", "token", "--patient", PATIENT_INS).strip()
        ctx = token_verifier(authority.data_dir).verify(token)
        assert ctx.actor_kind is ActorKind.PROFESSIONAL and ctx.profession and ctx.structure_id
        assert ctx.patient_ins == PATIENT
        claims = jwt.get_unverified_claims(token)
        assert claims["exp"] - datetime.now(UTC).timestamp() >= MIN_DEFAULT_TTL.total_seconds() - 5

    def test_professional_options(self, authority: Cli) -> None:
        token = authority.ok(
            "dev",
            "token",
            "--id",
            "810000000007",
            "--mode",
            "regulation",
            "--ttl",
            "15m",
            "--audience",
            "api",
        ).strip()
        ctx = token_verifier(authority.data_dir, audience="api").verify(token)
        assert ctx.national_id == "810000000007" and ctx.access_mode is AccessMode.REGULATION
        claims = jwt.get_unverified_claims(token)
        assert claims["exp"] - claims["iat"] == 15 * 60

    def test_audience_setting_is_the_default(self, authority: Cli) -> None:
        authority.env["XDS_JWT_AUDIENCE"] = "fhir"
        token = authority.ok("dev", "token").strip()
        assert token_verifier(authority.data_dir, audience="fhir").verify(token).national_id

    def test_patient_token(self, authority: Cli) -> None:
        token = authority.ok("dev", "token", "--patient-self", PATIENT_INS).strip()
        ctx = token_verifier(authority.data_dir).verify(token)
        assert ctx.actor_kind is ActorKind.PATIENT and ctx.patient_ins == PATIENT

    def test_legal_representative_token(self, authority: Cli) -> None:
        token = authority.ok("dev", "token", "--representative-of", PATIENT_INS, "--id", PARENT_INS).strip()
        ctx = token_verifier(authority.data_dir).verify(token)
        assert ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE
        assert ctx.national_id == PARENT  # as `patients representative --add` registers him
        assert ctx.represented == {PATIENT}

    def test_several_represented(self, authority: Cli) -> None:
        token = authority.ok(
            "dev",
            "token",
            "--representative-of",
            PATIENT_INS,
            "--representative-of",
            OTHER_INS,
            "--id",
            PARENT,
        ).strip()
        other = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
        assert token_verifier(authority.data_dir).verify(token).represented == {PATIENT, other}

    @pytest.mark.parametrize(
        ("options", "named"),
        [
            (("--patient-self", PATIENT_INS, "--representative-of", PATIENT_INS), "exclude"),
            (("--representative-of", PATIENT_INS), "--id"),
            (("--representative-of", WRONG_KEY_INS, "--id", PARENT_INS), "key"),
            (("--representative-of", PATIENT_INS, "--id", "810000000001"), "INS"),
            (("--patient-self", WRONG_KEY_INS), "key"),
            (("--mode", "urgent"), "--mode"),
            (("--ttl", "0s"), "--ttl"),
            (("--id", ""), "--id"),
        ],
    )
    def test_bad_options(self, authority: Cli, options: tuple[str, ...], named: str) -> None:
        assert named in authority.error("dev", "token", *options, code=2)

    def test_without_authority(self, cli: Cli) -> None:
        cli.error("dev", "token", code=1)
