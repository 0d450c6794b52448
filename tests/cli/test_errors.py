"""Every command fails with one ``error:`` line and an exit status, never a traceback (cli_errors.py).

Exit 2: the command line names something wrong (a data dir that does not exist or is a file, a port out of
range, an unknown profile); exit 1: the command could not be done (database unreachable or not migrated).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import PATIENT_INS, Cli

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"


class TestMissingDataDir:
    @pytest.mark.parametrize(
        "command",
        [
            ("patients", "list"),
            ("patients", "add", PATIENT_INS),
            ("patients", "settings", PATIENT_INS),
            ("gc",),
            ("dev", "authority", "init"),
            ("dev", "assertion"),
            ("policy", "explain", "--patient", PATIENT_INS, "--actor", "1", "--document", "1.2"),
        ],
    )
    def test_is_an_error_and_is_not_created(self, cli: Cli, tmp_path: Path, command: tuple[str, ...]) -> None:
        typo = tmp_path / "xds-dta"
        line = cli.error(*command, "--data-dir", str(typo), code=2)
        assert f"data dir {typo} does not exist" in line
        assert not typo.exists()

    def test_db_upgrade_creates_it(self, cli: Cli, tmp_path: Path) -> None:
        fresh = tmp_path / "fresh" / "data"
        assert "at revision" in cli.ok("db", "upgrade", "--data-dir", str(fresh))
        assert fresh.is_dir()


class TestDataDirIsAFile:
    @pytest.mark.parametrize(
        "command", [("patients", "list"), ("db", "upgrade"), ("serve",), ("gc",), ("dev", "token")]
    )
    def test_is_an_error(self, cli: Cli, tmp_path: Path, command: tuple[str, ...]) -> None:
        afile = tmp_path / "afile"
        afile.write_text("not a directory")
        assert f"data dir {afile} is a file" in cli.error(*command, "--data-dir", str(afile), code=2)


class TestUsage:
    @pytest.mark.parametrize("port", ["99999", "0", "-1"])
    def test_port_out_of_range(self, cli: Cli, port: str) -> None:
        line = cli.error("serve", "--port", port, code=2)
        assert line.startswith("error: Invalid value for '--port'") and line.endswith("serve --help)")

    def test_unknown_profile(self, cli: Cli) -> None:
        line = cli.error("patients", "add", PATIENT_INS, "--profile", "dmpp", code=2)
        assert "'dmpp' is not one of dmp, dmp-test, ihe" in line

    def test_unknown_profile_from_the_environment(self, cli: Cli) -> None:
        cli.env["XDS_PROFILE"] = "dmpp"
        assert "unknown profile 'dmpp'" in cli.error("patients", "add", PATIENT_INS, code=2)

    def test_unknown_option_and_command(self, cli: Cli) -> None:
        assert "--colour" in cli.error("patients", "list", "--colour", code=2)
        assert "patiens" in cli.error("patiens", code=2)


class TestDatabase:
    def test_unreachable_database(self, cli: Cli) -> None:
        cli.env |= {"XDS_DATABASE_URL": UNREACHABLE, "XDS_DATABASE_SCHEMA": None}
        for command in (("patients", "list"), ("db", "upgrade"), ("gc",)):
            line = cli.error(*command, code=1)
            assert "database postgresql+psycopg://nobody@127.0.0.1:1/none" in line and "not usable" in line

    def test_debug_shows_the_traceback(self, cli: Cli) -> None:
        cli.env |= {"XDS_DATABASE_URL": UNREACHABLE, "XDS_DATABASE_SCHEMA": None}
        result = cli("--debug", "patients", "list")
        assert result.code == 1 and "Traceback" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: database")

    @pytest.mark.skipif(bool(os.environ.get("XDS_DATABASE_URL")), reason="an empty SQLite data dir")
    def test_gc_on_an_unmigrated_database(self, cli: Cli) -> None:
        line = cli.error("gc", code=1)
        assert "has no registry schema" in line and "xds-server db upgrade" in line


class TestHelpShowsTypes:
    @pytest.fixture(autouse=True)
    def wide(self, cli: Cli) -> None:
        cli.env["COLUMNS"] = "200"

    def test_serve(self, cli: Cli) -> None:
        text = cli.ok("serve", "--help")
        assert "1<=x<=65535" in text and "<dmp|dmp-test|ihe>" in text and "<path>" in text

    def test_patients_add(self, cli: Cli) -> None:
        text = cli.ok("patients", "add", "--help")
        assert "YYYY-MM-DD" in text and "<created|activated|opposed|closed>" in text
