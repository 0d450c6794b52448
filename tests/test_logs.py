"""Request ids and JSON logs (issue 15, item 7): each HTTP answer carries ``X-Request-Id``, every log line
written while serving it names the same id, and ``XDS_LOG_FORMAT=json`` gives one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xds_server import logs
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.storage.database import Database


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe", anonymous_actor="logs-test")
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


SOAP = (
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
    b"<wsa:Action>urn:ihe:iti:2007:RegistryStoredQuery</wsa:Action><wsa:MessageID>urn:uuid:1</wsa:MessageID>"
    b"</env:Header><env:Body><x/></env:Body></env:Envelope>"
)


class TestRequestId:
    def test_every_answer_has_one(self, client: TestClient) -> None:
        first, second = client.get("/health"), client.get("/health")
        assert (
            first.headers["x-request-id"] and first.headers["x-request-id"] != second.headers["x-request-id"]
        )

    def test_a_sane_client_id_is_kept(self, client: TestClient) -> None:
        assert (
            client.get("/health", headers={"X-Request-Id": "abc-123.Z_9"}).headers["x-request-id"]
            == "abc-123.Z_9"
        )

    @pytest.mark.parametrize("given", ["a b", "x" * 65, '"}{"level":"CRITICAL', "\u00e9t\u00e9"])
    def test_an_unsafe_client_id_is_replaced(self, client: TestClient, given: str) -> None:
        answer = client.get("/health", headers=[(b"X-Request-Id", given.encode("utf-8"))])
        assert answer.headers["x-request-id"] != given and len(answer.headers["x-request-id"]) == 32

    def test_log_lines_of_the_request_name_it(self, client: TestClient, captured: io.StringIO) -> None:
        answer = client.post(
            "/xds/registry",
            content=SOAP,
            headers={"Content-Type": "application/soap+xml", "X-Request-Id": "req-42"},
        )
        assert answer.headers["x-request-id"] == "req-42"
        lines = [json.loads(line) for line in captured.getvalue().splitlines()]
        soap = [line for line in lines if line["logger"] == "xds_server.soap.router"]
        assert soap and all(line["request_id"] == "req-42" for line in soap)  # logged in a worker thread


class TestFormats:
    def test_json_lines(self) -> None:
        record = logging.LogRecord("x.y", logging.WARNING, __file__, 1, "disk at %d%%", (93,), None)
        logs.RequestIdFilter().filter(record)
        entry = json.loads(logs.JsonFormatter().format(record))
        assert entry["level"] == "WARNING" and entry["logger"] == "x.y" and entry["message"] == "disk at 93%"
        assert entry["request_id"] == "-" and entry["time"].endswith("+00:00")

    def test_configure_installs_one_handler(self) -> None:
        root = logging.getLogger()
        saved, level = list(root.handlers), root.level
        try:
            handler = logs.configure("WARNING", "json", force=True)
            again = logs.configure("WARNING", "json", force=True)
            assert handler is not None and again is not None
            assert handler not in root.handlers and again in root.handlers
            assert isinstance(again.formatter, logs.JsonFormatter)
            assert logs.configure("INFO") is None  # already configured: left alone
        finally:
            root.handlers[:] = saved
            root.setLevel(level)

    def test_setting(self, tmp_path: Path) -> None:
        assert Settings(data_dir=tmp_path).log_format == "text"
        assert Settings(data_dir=tmp_path, log_format="json").log_format == "json"
        with pytest.raises(ValueError):
            Settings(data_dir=tmp_path, log_format="xml")
