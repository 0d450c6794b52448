"""Fixtures of the command tests: a fresh data dir per test (and a fresh schema on PostgreSQL), the runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.pg_helpers import database_env, scratch_schema
from xds_server.cli import app
from xds_server.core.identifiers import nir_key
from xds_server.storage.database import Database, sqlite_url_for


def ins(nir13: str) -> str:
    """A valid 15-character INS from a 13-character NIR."""
    return f"{nir13}{nir_key(nir13):02d}"


PATIENT_INS = ins("1840575123456")  # a child in the tests (born 2015 with --birth-date)
OTHER_INS = ins("2840575123457")
PARENT_INS = ins("2800575123458")
PATIENT = f"{PATIENT_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
PARENT = f"{PARENT_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
WRONG_KEY_INS = PATIENT_INS[:13] + f"{(nir_key(PATIENT_INS[:13]) + 1) % 97:02d}"
DOCTOR = "810000000001"
KINE = "810000000002"
OTHER_DOCTOR = "810000000003"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None


@dataclass
class Cli:
    """Runs ``xds-server`` in process with the environment of one test."""

    env: dict[str, str | None]
    data_dir: Path

    def __call__(self, *args: str) -> Result:
        result = CliRunner().invoke(app, list(args), env=self.env)
        exception = result.exception if not isinstance(result.exception, SystemExit) else None
        return Result(result.exit_code, result.stdout, result.stderr, exception)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.code == 0 and result.exception is None, (result.stdout, result.stderr, result.exception)
        return result.stdout

    def error(self, *args: str, code: int | None = None) -> str:
        """Run a command that must fail with one ``error:`` line on stderr, no traceback; that line."""
        result = self(*args)
        assert result.exception is None, result.exception
        assert result.code != 0, result.stdout
        if code is not None:
            assert result.code == code, (result.code, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        return lines[0]

    def database(self) -> Database:
        """The database the commands write (the caller disposes of it)."""
        url = self.env.get("XDS_DATABASE_URL")
        schema = self.env.get("XDS_DATABASE_SCHEMA")
        return Database(url or sqlite_url_for(self.data_dir), schema=schema or None)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()  # only serve, db upgrade and demo create a missing data dir
    env: dict[str, str | None] = {
        "XDS_DATA_DIR": str(data_dir),
        "XDS_PROFILE": "dmp-test",
        "XDS_DEV_AUTHORITY": None,
        "XDS_ANONYMOUS_ACTOR": None,
        "XDS_SAML_AUDIENCE": None,
        "XDS_JWT_AUDIENCE": None,
    }
    with scratch_schema("xds_cli") as schema:
        env |= database_env(schema)
        yield Cli(env, data_dir)
