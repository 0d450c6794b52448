"""The trail leaving the server (NDJSON export, ITI-20 FHIR feed push) and the patient's yearly statement,
through the ``xds-server`` commands on a server's data directory."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS, code
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, STRANGER, Dmp, document
from tests.identity_helpers import install_authority
from xds_server.app import create_app
from xds_server.audit.feed import FeedError, push
from xds_server.cli import app as cli
from xds_server.config import Settings
from xds_server.core.policy import AccessMode
from xds_server.core.vocabulary import DMP_VISIBILITY_OID
from xds_server.storage.database import SQLITE_FILE_NAME, Database

runner = CliRunner()


#: The database the commands open: the test database's URL on PostgreSQL (the session schema is in it),
#: else the SQLite file of --data-dir, which is where the ``database`` fixture puts its copy.
_CLI_ENV: dict[str, str | None] = {"XDS_DATABASE_URL": None}


@pytest.fixture
def server(database: Database, database_url: str, tmp_path: Path) -> Iterator[Dmp]:
    """A dmp server on the test database, whose data dir the commands are given."""
    if database.dialect_name == "postgresql":
        _CLI_ENV["XDS_DATABASE_URL"] = database_url
    else:  # the commands open <data dir>/registry.sqlite3: the fixture's copy
        assert Path(str(database.engine.url.database)).resolve() == (tmp_path / SQLITE_FILE_NAME).resolve()
    app = create_app(Settings(data_dir=tmp_path, profile="dmp"), database=database)
    authority = install_authority(tmp_path)
    with TestClient(app) as client:
        yield Dmp(client, database, authority, app.state.services)
    _CLI_ENV["XDS_DATABASE_URL"] = None


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args), env=_CLI_ENV)
    return result.exit_code, result.stdout, result.stderr


class TestExport:
    def test_ndjson_since(self, server: Dmp, tmp_path: Path) -> None:
        server.record(authorised=[MEDECIN])
        server.deposit(AUTHOR, document())
        server.find(MEDECIN)
        out = tmp_path / "trail.ndjson"
        code_, _, err = run(
            "audit", "export", "--since", "2000-01-01", "-o", str(out), "--data-dir", str(tmp_path)
        )
        assert code_ == 0, err
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["subtype"][-1]["code"] for line in lines] == ["ITI-42", "ITI-18"]
        assert all(line["resourceType"] == "AuditEvent" for line in lines)
        tomorrow = datetime.now(UTC).date().replace(year=datetime.now(UTC).year + 1).isoformat()
        code_, stdout, _ = run("audit", "export", "--since", tomorrow, "--data-dir", str(tmp_path))
        assert code_ == 0 and stdout == ""

    def test_bad_since_is_one_error_line(self, tmp_path: Path) -> None:
        code_, _, err = run("audit", "export", "--since", "yesterday", "--data-dir", str(tmp_path))
        assert code_ == 2 and err.startswith("error: --since")


class TestPush:
    def test_retries_then_delivers_in_order(self, server: Dmp) -> None:
        server.record(authorised=[MEDECIN])
        server.find(MEDECIN)
        server.find(MEDECIN)
        received: list[str] = []
        answers = iter([503, 201, 201])

        def arr(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/arr/AuditEvent"
            assert request.headers["content-type"] == "application/fhir+json"
            status = next(answers)
            if status == 201:
                received.append(json.loads(request.content)["id"])
            return httpx.Response(status)

        trail = events(server.database)
        with httpx.Client(transport=httpx.MockTransport(arr)) as client:
            report = push(trail, "http://arr.example/arr/", client=client, sleep=lambda _: None)
        assert (report.delivered, report.retries) == (2, 1)
        assert received == [e.event_id.removeprefix("urn:uuid:") for e in trail]

    def test_a_refusal_stops_at_that_event(self, server: Dmp) -> None:
        server.record(authorised=[MEDECIN])
        server.find(MEDECIN)
        trail = events(server.database)
        with (
            httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(400))) as client,
            pytest.raises(FeedError) as stopped,
        ):
            push(trail, "http://arr.example", client=client, sleep=lambda _: None)
        assert stopped.value.event_id == trail[0].event_id and stopped.value.delivered == 0

    def test_an_unreachable_arr_is_retried_then_reported(self, server: Dmp) -> None:
        server.record(authorised=[MEDECIN])
        server.find(MEDECIN)

        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        waits: list[float] = []
        with httpx.Client(transport=httpx.MockTransport(down)) as client, pytest.raises(FeedError):
            push(events(server.database), "http://arr.example", client=client, attempts=3, sleep=waits.append)
        assert waits == [0.5, 1.0]  # exponential backoff between the 3 attempts


class TestStatement:
    def test_the_patient_sees_professional_accesses_but_not_hidden_documents(
        self, server: Dmp, tmp_path: Path
    ) -> None:
        server.record(authorised=[MEDECIN])
        shown = document()
        invisible = code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID)
        hidden = dataclasses.replace(
            document(), confidentiality_codes=(*document().confidentiality_codes, invisible)
        )
        server.deposit(AUTHOR, shown)
        server.deposit(AUTHOR, hidden)
        server.find(MEDECIN)
        server.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="malaise au volant"))
        server.find(STRANGER)  # refused (no consent): not shown
        pdf = tmp_path / "statement.pdf"
        year = str(datetime.now(UTC).year)
        code_, stdout, err = run("patients", "statement", INS, "--year", year, "--pdf", str(pdf),
                                 "--data-dir", str(tmp_path))  # fmt: skip
        assert code_ == 0, err
        lines = stdout.splitlines()
        assert len(lines) == 3  # one deposit (the hidden one is not shown), two consultations
        assert sum("a ajouté un document" in line for line in lines) == 1
        assert shown.unique_id in stdout and (hidden.unique_id or "") not in stdout
        assert "EN URGENCE (break_glass), motif : malaise au volant" in stdout
        assert pdf.read_bytes().startswith(b"%PDF")

    def test_unknown_year_has_no_access(self, server: Dmp, tmp_path: Path) -> None:
        server.record()
        code_, stdout, err = run(
            "patients", "statement", DMP_PATIENT, "--year", "2001", "--data-dir", str(tmp_path)
        )
        assert code_ == 0 and stdout == "" and "0 access" in err


class TestContact:
    def test_register_and_remove(self, server: Dmp, tmp_path: Path) -> None:
        server.record()
        code_, stdout, err = run(
            "patients", "contact", INS, "--email", "p@example.org", "--data-dir", str(tmp_path)
        )
        assert code_ == 0, err
        assert "p@example.org" in stdout
        assert run("patients", "contact", INS, "--remove", "--data-dir", str(tmp_path))[0] == 0

    def test_refusals(self, tmp_path: Path) -> None:
        assert (
            run("patients", "contact", INS, "--email", "not an address", "--data-dir", str(tmp_path))[0] == 2
        )
        assert run("patients", "contact", INS, "--data-dir", str(tmp_path))[0] == 2
        unknown = run("patients", "contact", INS, "--email", "p@example.org", "--data-dir", str(tmp_path))
        assert unknown[0] == 1 and "unknown patient" in unknown[2]


class TestProfessionals:
    def test_accessed_and_authorised_then_revoked(self, server: Dmp, tmp_path: Path) -> None:
        server.record(authorised=[MEDECIN])
        server.find(MEDECIN)
        server.find(MEDECIN)
        server.find(STRANGER)  # refused: not an access
        code_, stdout, err = run("patients", "professionals", INS, "--data-dir", str(tmp_path))
        assert code_ == 0, err
        accessed = stdout.split("authorised:")[0]
        assert MEDECIN.national_id in accessed and "(2 access(es))" in accessed
        assert STRANGER.national_id not in accessed
        assert f"authorised: {MEDECIN.national_id}" in stdout
        code_, stdout, _ = run(
            "patients", "revoke", INS, "--professional", MEDECIN.national_id, "--data-dir", str(tmp_path)
        )
        assert code_ == 0 and "revoked" in stdout
        refused_now = server.find(MEDECIN)
        assert refused_now.codes == ("DMPAccessDenied",)
