"""A FHIR test server: the real application (``create_app``) on the test database, a dev authority it
trusts, bearer tokens minted by that authority, and patients in its directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.identity_helpers import install_authority
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

#: A valid test INS-NIR (key 97 - NIR mod 97) and the CX the dmp-test profile stores it as.
INS = "279035121518989"
INS_TEST_AUTHORITY = "1.2.250.1.213.1.4.10"
OTHER_INS = "155081416802588"
#: The NIST patient of the ihe profile.
IHE_PATIENT = "IHEBLUE-2742^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"


@dataclass
class FhirServer:
    client: TestClient
    database: Database
    authority: DevAuthority
    settings: Settings

    def token(self, identity: Identity | None = None, **claims: Any) -> str:
        return dev_authority.mint_token(self.authority, dev_authority.token_claims(identity, **claims))

    def auth(self, identity: Identity | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(identity, **claims)}"}

    def add_patient(self, patient_id: str, state: PatientState = PatientState.ACTIVATED) -> None:
        with self.database.transaction() as connection:
            SqlPatientDirectory(connection).add(patient_id, state)


@pytest.fixture
def fhir_server_factory(database: Database, tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(profile: str = "ihe", **settings: Any) -> FhirServer:
        data_dir = tmp_path / f"data-{len(clients)}"
        authority = install_authority(data_dir)
        config = Settings(data_dir=data_dir, profile=profile, dev_authority="on", **settings)
        client = TestClient(create_app(config, database=database))
        client.__enter__()
        clients.append(client)
        return FhirServer(client, database, authority, config)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def ihe_server(fhir_server_factory: Any) -> FhirServer:
    server: FhirServer = fhir_server_factory("ihe")
    return server


@pytest.fixture
def dmp_server(fhir_server_factory: Any) -> FhirServer:
    server: FhirServer = fhir_server_factory("dmp-test")
    return server
