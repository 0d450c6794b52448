"""``xds-server demo``: seeds an empty data dir through the real transactions; what it seeds is then served
under the DMP rules (who sees what), and it never runs on the production profile or over existing data."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xds_server.app import create_app, open_database
from xds_server.client import XdsClient
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.demo import KINE, PATIENTS, RADIOLOGUE, patient_id
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.patients import SqlPatientDirectory

from .conftest import Cli


def find(settings: Settings, identity: Identity, patient: str) -> tuple[bool, list[str], list[str]]:
    authority = dev_authority.load(settings.data_dir)
    with TestClient(create_app(settings)) as http:
        client = XdsClient(
            "http://testserver", lambda: dev_authority.mint_assertion(authority, identity), http=http
        )
        outcome, entries = client.find_documents(patient)
    return outcome.success, [e.code for e in outcome.errors], [e.unique_id or "" for e in entries]


@pytest.fixture
def seeded(cli: Cli, tmp_path: Path) -> Settings:
    folder = tmp_path / "demo"
    out = cli.ok("demo", "--data-dir", str(folder))
    assert "6 patients, 15 documents" in out and "what to try next" in out
    assert "emergency access: NGUYEN Lea read 2 documents" in out
    url, schema = cli.env.get("XDS_DATABASE_URL"), cli.env.get("XDS_DATABASE_SCHEMA")
    return Settings(
        data_dir=folder, profile="dmp-test", dev_authority="on", database_url=url, database_schema=schema
    )


class TestDemo:
    def test_every_record_state(self, cli: Cli, seeded: Settings) -> None:
        cli.env["XDS_DATA_DIR"] = str(seeded.data_dir)
        listed = cli.ok("patients", "list")
        for state in PatientState:
            assert f" {state.value}\n" in listed

    def test_the_rules_apply_to_what_it_seeded(self, seeded: Settings) -> None:
        marie = patient_id(PATIENTS[0].nir, "dmp-test")
        ok, _, radiologue = find(seeded, RADIOLOGUE.identity(marie), marie)
        assert ok and len(radiologue) == 9  # all but the MASQUE_PS document he did not write
        ok, _, kine = find(seeded, KINE.identity(marie), marie)
        assert ok and set(kine) < set(radiologue) and len(kine) == 5  # the habilitation matrix
        anne = patient_id(PATIENTS[4].nir, "dmp-test")  # opposed
        assert find(seeded, RADIOLOGUE.identity(anne), anne)[:2] == (False, ["XDSUnknownPatientId"])

    def test_twice_is_refused(self, cli: Cli, seeded: Settings) -> None:
        line = cli.error("demo", "--data-dir", str(seeded.data_dir), code=2)
        assert "already holds patients" in line

    def test_never_on_the_production_profile(self, cli: Cli, tmp_path: Path) -> None:
        line = cli.error("demo", "--data-dir", str(tmp_path / "prod"), "--profile", "dmp", code=2)
        assert "dmp-test or ihe" in line


def test_ihe_profile(cli: Cli, tmp_path: Path) -> None:
    cli.ok("demo", "--data-dir", str(tmp_path / "ihe"), "--profile", "ihe")
    settings = Settings(
        data_dir=tmp_path / "ihe",
        profile="ihe",
        database_url=cli.env.get("XDS_DATABASE_URL"),
        database_schema=cli.env.get("XDS_DATABASE_SCHEMA"),
    )
    database = open_database(settings)
    try:
        with database.transaction(readonly=True) as connection:
            ids = [pid for pid, _ in SqlPatientDirectory(connection).list()]
    finally:
        database.dispose()
    assert patient_id(PATIENTS[0].nir, "ihe") in ids and all("21367" in pid for pid in ids)
