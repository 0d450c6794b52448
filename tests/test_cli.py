"""The ``xds-server`` command (in process, through Typer's runner): patients, db upgrade, help.

Each test gets its own data directory; on PostgreSQL (``XDS_DATABASE_URL`` set) its own schema, dropped after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.pg_helpers import database_env, scratch_schema
from xds_server.cli import app
from xds_server.core.identifiers import nir_key

INS_AUTHORITY = "1.2.250.1.213.1.4.8"
NIR13 = "1840575123456"
INS = f"{NIR13}{nir_key(NIR13):02d}"
IHE_PATIENT = "cli-1^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str | None]]:
    """The environment of one CLI test: a fresh data dir, and a fresh schema on PostgreSQL."""
    (tmp_path / "data").mkdir()
    values: dict[str, str | None] = {"XDS_DATA_DIR": str(tmp_path / "data"), "XDS_PROFILE": None}
    with scratch_schema("xds_cli") as schema:
        values |= database_env(schema)
        yield values


def run(env: dict[str, str | None], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


class TestPatientsAdd:
    def test_default_state_is_created(self, env: dict[str, str | None]) -> None:
        code, output = run(env, "patients", "add", IHE_PATIENT, "--profile", "ihe")
        assert code == 0, output
        assert run(env, "patients", "list") == (0, f"{IHE_PATIENT} created\n")

    def test_state_option_and_update_of_a_known_patient(self, env: dict[str, str | None]) -> None:
        assert run(env, "patients", "add", IHE_PATIENT, "--profile", "ihe")[0] == 0
        code, output = run(env, "patients", "add", IHE_PATIENT, "--state", "activated", "--profile", "ihe")
        assert code == 0, output
        assert run(env, "patients", "list") == (0, f"{IHE_PATIENT} activated\n")

    def test_unknown_state_is_refused(self, env: dict[str, str | None]) -> None:
        code, _ = run(env, "patients", "add", IHE_PATIENT, "--state", "sleeping", "--profile", "ihe")
        assert code != 0

    def test_malformed_id_is_refused_and_nothing_is_written(self, env: dict[str, str | None]) -> None:
        code, output = run(env, "patients", "add", "not-a-cx", "--profile", "ihe")
        assert code == 2
        assert "not-a-cx" in output
        assert run(env, "patients", "list") == (0, "")

    def test_data_dir_option(self, env: dict[str, str | None], tmp_path: Path) -> None:
        (tmp_path / "other").mkdir()
        other = str(tmp_path / "other")
        assert run(env, "patients", "add", IHE_PATIENT, "--profile", "ihe", "--data-dir", other)[0] == 0
        if not os.environ.get("XDS_DATABASE_URL"):  # on SQLite the data dir holds the database
            assert run(env, "patients", "list")[1] == ""
        assert run(env, "patients", "list", "--data-dir", other)[1] == f"{IHE_PATIENT} created\n"


class TestDmpPatientIds:
    def test_three_spellings_of_one_ins_are_one_patient(self, env: dict[str, str | None]) -> None:
        canonical = f"{INS}^^^&{INS_AUTHORITY}&ISO^NH"
        for spelling in (INS, f"{INS}^^^&{INS_AUTHORITY}&ISO", canonical):
            code, output = run(env, "patients", "add", spelling, "--profile", "dmp", "--state", "activated")
            assert code == 0, output
            assert output.strip() == f"{canonical} activated"
        assert run(env, "patients", "list") == (0, f"{canonical} activated\n")

    def test_ins_with_a_wrong_key_is_refused(self, env: dict[str, str | None]) -> None:
        wrong = f"{NIR13}{(nir_key(NIR13) + 1) % 97:02d}"
        code, output = run(env, "patients", "add", wrong, "--profile", "dmp")
        assert code == 2
        assert "key" in output

    def test_profile_from_the_environment(self, env: dict[str, str | None]) -> None:
        env = {**env, "XDS_PROFILE": "dmp"}
        assert run(env, "patients", "add", INS)[0] == 0


class TestDbUpgrade:
    def test_upgrade_reports_the_revision_and_is_idempotent(self, env: dict[str, str | None]) -> None:
        first = run(env, "db", "upgrade")
        assert first[0] == 0, first[1]
        assert "at revision" in first[1]
        assert run(env, "db", "upgrade") == first


class TestDatabaseErrors:
    def test_unreachable_database_is_a_message_not_a_traceback(self, env: dict[str, str | None]) -> None:
        env = {**env, "XDS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"}
        code, output = run(env, "patients", "list")
        assert code == 1
        assert output.startswith("error: ")
        assert "Traceback" not in output

    def test_unusable_url_is_a_message(self, env: dict[str, str | None]) -> None:
        code, output = run({**env, "XDS_DATABASE_URL": "mysql://x@y/z"}, "db", "upgrade")
        assert code == 1
        assert "unsupported database URL" in output


class TestHelp:
    @pytest.mark.parametrize("command", [[], ["serve"], ["patients"], ["db"], ["gc"]])
    def test_help(self, command: list[str]) -> None:
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output

    def test_unknown_profile_is_refused(self, env: dict[str, str | None]) -> None:
        code, _ = run(env, "patients", "add", IHE_PATIENT, "--profile", "nope")
        assert code != 0
