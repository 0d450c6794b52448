"""Identity fixtures: two dev authorities (the trusted one and a stranger), a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import DevAuthority
from xds_server.identity.saml import AssertionVerifier, ReplayCache, SamlSettings

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
PATIENT = "1840512345678^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> DevAuthority:
    return dev_authority.init(tmp_path_factory.mktemp("trusted"))


@pytest.fixture(scope="session")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> DevAuthority:
    return dev_authority.init(tmp_path_factory.mktemp("stranger"))


@pytest.fixture
def make_verifier(authority: DevAuthority) -> Callable[..., AssertionVerifier]:
    def make(
        *, now: datetime = NOW, settings: SamlSettings | None = None, cache: ReplayCache | None = None
    ) -> AssertionVerifier:
        return AssertionVerifier(
            lambda: [authority.certificate], settings, clock=lambda: now, replay_cache=cache
        )

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., AssertionVerifier]) -> AssertionVerifier:
    return make_verifier()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
