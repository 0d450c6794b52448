"""The identity and transport settings (config.py, ``XDS_*``) the server and the commands read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from xds_server.config import JwtIssuer, Settings

from .conftest import Cli

NAMES = (
    "DEV_AUTHORITY",
    "TRUSTED_CERTS",
    "SAML_CLOCK_SKEW",
    "SAML_STRICT_REPLAY",
    "SAML_AUDIENCE",
    "JWT_AUDIENCE",
    "JWT_ISSUERS",
    "ANONYMOUS_ACTOR",
    "DEPOSIT_FOLLOWS_MATRIX",
    "TLS_CERT",
    "TLS_KEY",
    "TLS_CLIENT_CA",
    "PROFILE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(f"XDS_{name}", raising=False)


class TestDefaults:
    def test_defaults(self) -> None:
        settings = Settings()
        assert settings.dev_authority == "off"  # the test authority is trusted only when asked for
        assert settings.trusted_certs == [] and settings.jwt_issuers == {}
        assert settings.saml_clock_skew == 60 and not settings.saml_strict_replay
        assert settings.saml_audience is None and settings.jwt_audience == "xds-server"
        assert settings.anonymous_actor is None and settings.deposit_follows_matrix
        assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (None, None, None)


class TestEnvironment:
    def test_every_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        values = {
            "DEV_AUTHORITY": " ON ",
            "TRUSTED_CERTS": "/etc/xds/a.pem, /etc/xds/b.pem,",
            "SAML_CLOCK_SKEW": "5",
            "SAML_STRICT_REPLAY": "true",
            "SAML_AUDIENCE": "urn:xds",
            "SAML_MAX_LIFETIME": "3600",
            "LOG_FORMAT": "json",
            "JWT_AUDIENCE": "fhir",
            "JWT_ISSUERS": '{"https://psc.example": "/etc/xds/psc.pem"}',
            "ANONYMOUS_ACTOR": "nist",
            "PROFILE": "ihe",
            "DEPOSIT_FOLLOWS_MATRIX": "false",
            "TLS_CERT": "/etc/xds/server.pem",
            "TLS_KEY": "/etc/xds/server.key",
            "TLS_CLIENT_CA": "/etc/xds/ca.pem",
        }
        for name, value in values.items():
            monkeypatch.setenv(f"XDS_{name}", value)
        settings = Settings()
        assert settings.dev_authority == "on"
        assert settings.trusted_certs == [Path("/etc/xds/a.pem"), Path("/etc/xds/b.pem")]
        assert settings.saml_clock_skew == 5 and settings.saml_strict_replay
        assert settings.saml_max_lifetime == 3600 and settings.log_format == "json"
        assert (settings.saml_audience, settings.jwt_audience) == ("urn:xds", "fhir")
        assert settings.jwt_issuers == {"https://psc.example": JwtIssuer(key=Path("/etc/xds/psc.pem"))}
        assert settings.anonymous_actor == "nist" and not settings.deposit_follows_matrix
        assert settings.tls_client_ca == Path("/etc/xds/ca.pem")

    def test_empty_values_mean_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "TRUSTED_CERTS",
            "SAML_AUDIENCE",
            "ANONYMOUS_ACTOR",
            "TLS_CERT",
            "TLS_KEY",
            "TLS_CLIENT_CA",
        ):
            monkeypatch.setenv(f"XDS_{name}", "")
        settings = Settings()
        assert settings.trusted_certs == [] and settings.saml_audience is None
        assert settings.anonymous_actor is None and settings.tls_cert is None


class TestRefused:
    @pytest.mark.parametrize(
        "values",
        [
            {"dev_authority": "maybe"},
            {"saml_clock_skew": -1},
            {"anonymous_actor": "nist"},  # the dmp profile never admits anonymous requests
            {"anonymous_actor": "nist", "profile": "dmp-test"},
            {"tls_cert": "/a.pem"},
            {"tls_key": "/a.key"},
            {"tls_client_ca": "/ca.pem"},
        ],
    )
    def test_inconsistent_settings(self, values: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            Settings(**values)  # type: ignore[arg-type]

    def test_anonymous_actor_in_the_ihe_profile(self) -> None:
        assert Settings(anonymous_actor="nist", profile="ihe").anonymous_actor == "nist"

    def test_malformed_issuers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDS_JWT_ISSUERS", "https://psc.example=/etc/k.pem")
        with pytest.raises(SettingsError):  # a JSON object is expected
            Settings()

    def test_commands_report_a_bad_setting_in_one_line(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cli.env["XDS_JWT_ISSUERS"] = "not json"
        assert "jwt_issuers" in cli.error("dev", "token", code=2)
        cli.env["XDS_JWT_ISSUERS"] = None
        cli.env["XDS_DEV_AUTHORITY"] = "perhaps"
        assert "dev_authority must be on or off" in cli.error("patients", "settings", "x", code=2)
