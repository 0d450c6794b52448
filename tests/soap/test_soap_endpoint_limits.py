"""soap/endpoints.py: the envelope limit of plain SOAP (``XDS_MAX_ENVELOPE_BYTES``) apart from the request
limit of MTOM, and a client that disconnects before its request was read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from tests.fakes import FixedClock, SequentialIds
from tests.identity_helpers import open_access
from tests.soap_helpers import mtom as build_mtom
from tests.soap_helpers import mtom_type
from xds_server.config import Settings
from xds_server.core.profile import IHE_DEFAULT
from xds_server.soap.endpoints import REGISTRY_PATH, api
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.namespaces import SOAP12, WSA
from xds_server.soap.router import Route, Router
from xds_server.soap.services import Reply
from xds_server.wiring import Services, UnitOfWork

ECHO = "urn:example:Echo"
ECHO_RESPONSE = "urn:example:EchoResponse"
NS = {"env": SOAP12, "wsa": WSA}
BOUNDARY = "MIMEBoundary_limits"
MTOM_TYPE = mtom_type(BOUNDARY)


def echo(request: SoapRequest, services: Services) -> Reply:
    return Reply(etree.Element("{urn:example}Echoed"))


@contextmanager
def _no_database() -> Iterator[UnitOfWork]:
    raise AssertionError("these tests never open a transaction")
    yield  # pragma: no cover


def envelope(body: str = "<x:Ping xmlns:x='urn:example'>hi</x:Ping>") -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{ECHO}</wsa:Action>'
        "<wsa:MessageID>urn:uuid:5b1e0c1e-0000-4000-8000-000000000002</wsa:MessageID>"
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def mtom(root: bytes, *attachments: tuple[str, bytes]) -> bytes:
    return build_mtom(BOUNDARY, root, *attachments)


def post(client: TestClient, data: bytes, content_type: str = "application/soap+xml; charset=UTF-8") -> Any:
    return client.post(REGISTRY_PATH, content=data, headers={"Content-Type": content_type})


def fault_code(root: etree._Element) -> str:
    return str(root.xpath("string(env:Body/env:Fault/env:Code/env:Value)", namespaces=NS))


ENVELOPE_LIMIT = 4 * 1024
REQUEST_LIMIT = 64 * 1024
PLAIN = "application/soap+xml; charset=UTF-8"


def make_app(tmp_path: Path, **settings: Any) -> FastAPI:
    services = Services(
        settings=Settings(data_dir=tmp_path, **settings),
        profile=IHE_DEFAULT,
        transaction=_no_database,
        clock=FixedClock(),
        ids=SequentialIds(),
        access=open_access(),
    )
    app = FastAPI()
    app.include_router(api)
    app.state.soap_router = Router(services, routes={ECHO: Route(echo, ECHO_RESPONSE)})
    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(tmp_path, max_request_bytes=REQUEST_LIMIT, max_envelope_bytes=ENVELOPE_LIMIT)
    with TestClient(app) as test_client:
        yield test_client


def reason(content: bytes) -> str:
    return str(
        etree.fromstring(content).xpath("string(env:Body/env:Fault/env:Reason/env:Text)", namespaces=NS)
    )


def ping(size: int) -> bytes:
    return envelope(f"<x:Ping xmlns:x='urn:example'>{'a' * size}</x:Ping>")


class TestEnvelopeLimit:
    def test_default_is_32_mib(self, tmp_path: Path) -> None:
        assert Settings(data_dir=tmp_path).max_envelope_bytes == 32 * 1024 * 1024

    def test_from_the_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDS_MAX_ENVELOPE_BYTES", "1234")
        assert Settings(data_dir=tmp_path).max_envelope_bytes == 1234

    def test_plain_envelope_under_the_limit_is_served(self, client: TestClient) -> None:
        assert post(client, ping(ENVELOPE_LIMIT // 2)).status_code == 200

    def test_plain_envelope_over_the_limit_is_a_sender_fault(self, client: TestClient) -> None:
        response = post(client, ping(ENVELOPE_LIMIT * 2))  # declared Content-Length, under the request limit
        assert response.status_code == 400
        assert fault_code(etree.fromstring(response.content)) == "env:Sender"
        text = reason(response.content)
        assert f"{ENVELOPE_LIMIT}-byte limit" in text and "MTOM" in text

    def test_streamed_plain_envelope_over_the_limit(self, client: TestClient) -> None:
        chunks = iter([envelope()[:20]] + [b" " * 1024] * 8)  # chunked: no Content-Length
        response = client.post(REGISTRY_PATH, content=chunks, headers={"Content-Type": PLAIN})
        assert response.status_code == 400
        assert f"{ENVELOPE_LIMIT}-byte limit" in reason(response.content)

    def test_mtom_request_keeps_the_request_limit(self, client: TestClient) -> None:
        body = mtom(envelope(), ("big@test", b"x" * (ENVELOPE_LIMIT * 4)))
        response = post(client, body, content_type=MTOM_TYPE)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/related")

    def test_mtom_root_part_gets_the_envelope_limit(self, client: TestClient) -> None:
        response = post(client, mtom(ping(ENVELOPE_LIMIT * 2)), content_type=MTOM_TYPE)
        assert response.status_code == 400
        assert "root part" in reason(response.content)

    def test_request_limit_below_the_envelope_limit_wins(self, tmp_path: Path) -> None:
        app = make_app(tmp_path, max_request_bytes=1024, max_envelope_bytes=ENVELOPE_LIMIT)
        with TestClient(app) as test_client:
            response = post(test_client, ping(2048))
        assert response.status_code == 400
        assert "1024-byte limit" in reason(response.content)


async def _call(app: FastAPI, messages: list[dict[str, Any]], content_type: str) -> list[dict[str, Any]]:
    """Run one ASGI request whose client sends ``messages`` (then disconnects); what the app sent back."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": REGISTRY_PATH,
        "raw_path": REGISTRY_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", content_type.encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
        "app": app,
    }
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await anyio.sleep(3600)  # never: the endpoint must stop reading after the disconnect
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return sent


class TestClientDisconnect:
    @pytest.mark.parametrize("content_type", [PLAIN, MTOM_TYPE])
    def test_logged_on_one_line_without_traceback(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, content_type: str
    ) -> None:
        app = make_app(tmp_path, max_request_bytes=REQUEST_LIMIT, max_envelope_bytes=ENVELOPE_LIMIT)
        first = mtom(envelope(), ("doc@test", b"x" * 1000))[:300] if content_type == MTOM_TYPE else b"<env:"
        messages = [
            {"type": "http.request", "body": first, "more_body": True},
            {"type": "http.disconnect"},
        ]
        with caplog.at_level(logging.INFO, logger="xds_server.soap.endpoints"):
            sent = anyio.run(_call, app, messages, content_type)
        records = [r for r in caplog.records if r.name == "xds_server.soap.endpoints"]
        assert [r.levelno for r in records] == [logging.INFO]
        assert "disconnected" in records[0].getMessage()
        assert all(r.exc_info is None for r in records)
        assert sent[0]["type"] == "http.response.start"
        assert list((tmp_path / "spool").glob("*")) == []  # spooled parts removed
