"""config.py: XDS_* environment variables, defaults, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from xds_server.config import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "XDS_DATA_DIR",
        "XDS_DATABASE_URL",
        "XDS_DATABASE_SCHEMA",
        "XDS_PROFILE",
        "XDS_MULTI_PATIENT_QUERY",
    ):
        monkeypatch.delenv(name, raising=False)


class TestDefaults:
    def test_single_machine_defaults(self) -> None:
        settings = Settings()
        assert settings.data_dir == Path("xds-data")
        assert settings.database_url is None
        assert settings.database_backend == "sqlite"
        assert settings.profile == "dmp"
        assert settings.multi_patient_query is False
        assert settings.query_result_limit == 10000
        assert settings.blob_dir == Path("xds-data") / "blobs"


class TestEnvironment:
    def test_values_come_from_xds_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDS_DATA_DIR", "/srv/xds")
        monkeypatch.setenv("XDS_DATABASE_URL", "postgresql+psycopg://u@h/db")
        monkeypatch.setenv("XDS_PROFILE", "ihe")
        monkeypatch.setenv("XDS_MULTI_PATIENT_QUERY", "on")
        settings = Settings()
        assert settings.data_dir == Path("/srv/xds")
        assert settings.database_backend == "postgresql"
        assert settings.profile == "ihe"
        assert settings.multi_patient_query is True

    def test_unknown_profile_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDS_PROFILE", "nope")
        with pytest.raises(ValidationError):
            Settings()

    def test_limits_must_be_positive(self) -> None:
        with pytest.raises(ValidationError):
            Settings(max_request_bytes=0)


class TestOverrides:
    def test_flags_override_the_environment_and_none_keeps_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDS_PROFILE", "ihe")
        monkeypatch.setenv("XDS_DATA_DIR", "/from/env")
        settings = load_settings(profile="dmp", data_dir=None)
        assert settings.profile == "dmp"
        assert settings.data_dir == Path("/from/env")
