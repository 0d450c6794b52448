"""``xds-server feed hl7`` against the MLLP listener of the real application."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.feed.messages import adt, ihe_pid
from tests.server_helpers import free_port
from xds_server.app import create_app
from xds_server.cli import app as cli
from xds_server.config import Settings
from xds_server.feed_cli import split_messages
from xds_server.storage.database import Database


@pytest.fixture
def port(database: Database, tmp_path: Path) -> Iterator[int]:
    app = create_app(Settings(data_dir=tmp_path / "data", profile="ihe", mllp_port=0), database=database)
    with TestClient(app):
        yield app.state.mllp_port


def write(tmp_path: Path, *messages: bytes) -> Path:
    path = tmp_path / "feed.hl7"
    # one segment per line, as people write them
    path.write_text("\n".join(m.decode().replace("\r", "\n") for m in messages), encoding="utf-8")
    return path


class TestFeedHl7:
    def test_all_accepted(self, port: int, tmp_path: Path) -> None:
        path = write(
            tmp_path, adt("A01", ihe_pid("C1"), control_id="ONE"), adt("A08", ihe_pid("C1"), control_id="TWO")
        )
        result = CliRunner().invoke(cli, ["feed", "hl7", str(path), "--port", str(port)])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == ["AA ONE", "AA TWO"]

    def test_a_refused_message_sets_the_exit_status(self, port: int, tmp_path: Path) -> None:
        path = write(
            tmp_path, adt("A03", ihe_pid("C2"), control_id="BAD"), adt("A01", ihe_pid("C2"), control_id="OK")
        )
        result = CliRunner().invoke(cli, ["feed", "hl7", str(path), "--port", str(port)])
        assert result.exit_code == 1
        first, second = result.output.splitlines()
        assert first.startswith("AR BAD 201 event A03 is not supported")
        assert second == "AA OK"

    def test_no_server(self, tmp_path: Path) -> None:
        path = write(tmp_path, adt("A01", ihe_pid("C3")))
        result = CliRunner().invoke(cli, ["feed", "hl7", str(path), "--port", str(free_port())])
        assert result.exit_code == 2
        assert "error: mllp://127.0.0.1:" in result.output


def test_split_messages_any_line_end() -> None:
    one, two = adt("A01", ihe_pid("S1")), adt("A08", ihe_pid("S1"))
    assert split_messages((one + two).decode()) == [one, two]
    assert split_messages((one + two).decode().replace("\r", "\r\n")) == [one, two]


class TestFeedFhir:
    """``feed fhir`` against the real application; httpx.put is routed to the in-process TestClient."""

    @pytest.fixture
    def routed(self, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        import httpx

        from tests.identity_helpers import install_authority
        from xds_server.identity import dev_authority

        data_dir = tmp_path / "fhir"
        authority = install_authority(data_dir)
        app = create_app(Settings(data_dir=data_dir, profile="ihe", dev_authority="on"), database=database)
        with TestClient(app, base_url="http://feed.test") as client:

            def put(url: str, **kwargs: object) -> httpx.Response:
                kwargs.pop("timeout", None)
                kwargs.pop("verify", None)
                return client.put(url, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr("xds_server.feed_cli.httpx.put", put)
            yield dev_authority.mint_token(authority, dev_authority.token_claims())

    def test_create_then_refused(self, routed: str, tmp_path: Path) -> None:
        oid = "1.3.6.1.4.1.21367.13.20.1000"
        path = tmp_path / "patient.json"
        path.write_text(
            json.dumps(
                {"resourceType": "Patient", "identifier": [{"system": f"urn:oid:{oid}", "value": "CLI1"}]}
            )
        )
        args = ["feed", "fhir", str(path), "--base-url", "http://feed.test", "--token", routed]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"201 Patient/{oid}-CLI1"
        path.write_text(
            json.dumps({"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]})
        )
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert result.output.startswith("400 invalid: no patient identifier of the ihe affinity domain")
