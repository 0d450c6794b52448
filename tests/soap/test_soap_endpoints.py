"""soap/endpoints.py + soap/router.py over HTTP: dispatch on wsa:Action, answer style, faults and statuses.

The handlers here are test handlers in a custom route table, so these tests exercise the frame alone; the
ITI-42 handler is tested end to end in test_soap_iti42.py.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
from xds_server.soap.endpoints import REGISTRY_PATH, REPOSITORY_PATH, api
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.namespaces import SOAP11, SOAP12, WSA
from xds_server.soap.router import Route, Router
from xds_server.soap.services import Reply
from xds_server.transport import with_tls_extension
from xds_server.wiring import Services, UnitOfWork

ECHO = "urn:example:Echo"
ECHO_RESPONSE = "urn:example:EchoResponse"
BOOM = "urn:example:Boom"
WHOAMI = "urn:example:WhoAmI"
SUBJECT = "CN=structure 3900000000001,O=Test,C=FR"
TLS = {
    "server_cert": None,
    "client_cert_chain": [],
    "client_cert_name": SUBJECT,
    "client_cert_error": None,
    "tls_version": 0x0304,
    "cipher_suite": None,
}
NS = {"env": SOAP12, "wsa": WSA}
MESSAGE_ID = "urn:uuid:5b1e0c1e-0000-4000-8000-000000000001"


def echo(request: SoapRequest, services: Services) -> Reply:
    answer = etree.Element("{urn:example}Echoed")
    answer.text = request.body.text
    if request.multipart is not None:
        answer.set("parts", ",".join(sorted(request.multipart.parts)))
    return Reply(answer)


def whoami(request: SoapRequest, services: Services) -> Reply:
    answer = etree.Element("{urn:example}Subject")
    answer.text = request.transport_subject
    return Reply(answer)


def boom(request: SoapRequest, services: Services) -> Reply:
    raise RuntimeError("secret internal detail")


@contextmanager
def _no_database() -> Iterator[UnitOfWork]:
    raise AssertionError("the frame tests never open a transaction")
    yield  # pragma: no cover


@pytest.fixture
def client(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The frame with test routes; parametrised indirectly with a TLS extension, the connection's."""
    settings = Settings(data_dir=tmp_path, max_request_bytes=64 * 1024, max_parts=5)
    services = Services(
        settings=settings,
        profile=IHE_DEFAULT,
        transaction=_no_database,
        clock=FixedClock(),
        ids=SequentialIds(),
        access=open_access(),
    )
    app = FastAPI()
    app.include_router(api)
    app.state.soap_router = Router(
        services,
        routes={
            ECHO: Route(echo, ECHO_RESPONSE),
            BOOM: Route(boom, "urn:example:BoomResponse"),
            WHOAMI: Route(whoami, "urn:example:WhoAmIResponse"),
        },
    )
    tls = request.param if hasattr(request, "param") else None
    with TestClient(app if tls is None else with_tls_extension(app, tls)) as test_client:
        yield test_client


def envelope(
    action: str = ECHO, *, ns: str = SOAP12, body: str = "<x:Ping xmlns:x='urn:example'>hi</x:Ping>"
) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{ns}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>{MESSAGE_ID}</wsa:MessageID>"
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def post(
    client: TestClient,
    data: bytes,
    content_type: str = "application/soap+xml; charset=UTF-8",
    path: str = REGISTRY_PATH,
):
    return client.post(path, content=data, headers={"Content-Type": content_type})


def fault_code(root: etree._Element) -> tuple[str, str]:
    code = root.xpath("string(env:Body/env:Fault/env:Code/env:Value)", namespaces=NS)
    sub = root.xpath("string(env:Body/env:Fault/env:Code/env:Subcode/env:Value)", namespaces=NS)
    return code, sub


class TestPlainSoap:
    def test_dispatches_on_action_and_answers_with_response_action(self, client: TestClient) -> None:
        response = post(client, envelope())
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/soap+xml")
        root = etree.fromstring(response.content)
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == ECHO_RESPONSE
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=NS) == MESSAGE_ID
        assert root.xpath("string(env:Body/*[local-name()='Echoed'])", namespaces=NS) == "hi"

    def test_repository_path_shares_the_router(self, client: TestClient) -> None:
        assert post(client, envelope(), path=REPOSITORY_PATH).status_code == 200


class TestTransportSubject:
    """The TLS client certificate subject (ASGI TLS extension, filled by xds_server/transport.py) reaches
    the handler as SoapRequest.transport_subject and the INFO line of the request."""

    @pytest.mark.parametrize("client", [TLS], indirect=True)
    def test_subject_reaches_the_handler_and_the_log(
        self, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="xds_server.soap.router"):
            response = post(client, envelope(WHOAMI))
        assert response.status_code == 200, response.text
        root = etree.fromstring(response.content)
        assert root.findtext("env:Body/{urn:example}Subject", namespaces=NS) == SUBJECT
        lines = [r.getMessage() for r in caplog.records if r.name == "xds_server.soap.router"]
        assert lines == [f"SOAP {WHOAMI} message {MESSAGE_ID}, TLS client {SUBJECT}"]

    def test_no_certificate_no_subject(self, client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="xds_server.soap.router"):
            response = post(client, envelope(WHOAMI))
        root = etree.fromstring(response.content)
        assert root.find("env:Body/{urn:example}Subject", namespaces=NS).text is None
        lines = [r.getMessage() for r in caplog.records if r.name == "xds_server.soap.router"]
        assert lines == [f"SOAP {WHOAMI} message {MESSAGE_ID}, TLS client -"]


class TestFaultsOverHttp:
    def test_unknown_action_is_action_not_supported(self, client: TestClient) -> None:
        response = post(client, envelope("urn:example:Nope"))
        assert response.status_code == 400
        root = etree.fromstring(response.content)
        code, sub = fault_code(root)
        assert code == "env:Sender"
        assert sub.endswith(":ActionNotSupported")
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=NS) == MESSAGE_ID

    def test_soap11_envelope_is_version_mismatch(self, client: TestClient) -> None:
        response = post(client, envelope(ns=SOAP11), content_type="text/xml; charset=UTF-8")
        assert response.status_code == 500
        root = etree.fromstring(response.content)
        assert (
            root.xpath("string(s:Body/s:Fault/faultcode)", namespaces={"s": SOAP11}) == "soap:VersionMismatch"
        )

    def test_malformed_xml_is_a_sender_fault(self, client: TestClient) -> None:
        response = post(client, b"<env:Envelope")
        assert response.status_code == 400
        root = etree.fromstring(response.content)
        assert fault_code(root)[0] == "env:Sender"
        assert "malformed" in root.xpath("string(env:Body/env:Fault/env:Reason/env:Text)", namespaces=NS)

    def test_doctype_is_a_sender_fault(self, client: TestClient) -> None:
        data = b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + envelope()
        response = post(client, data)
        assert response.status_code == 400
        assert b"/etc/passwd" not in response.content.split(b"<env:Body>")[0]
        assert "DOCTYPE" in etree.fromstring(response.content).xpath(
            "string(env:Body/env:Fault/env:Reason/env:Text)", namespaces=NS
        )

    def test_must_understand_header_not_understood(self, client: TestClient) -> None:
        data = envelope().replace(
            b"</env:Header>", b'<x:Tx xmlns:x="urn:example" env:mustUnderstand="true"/></env:Header>'
        )
        response = post(client, data)
        assert response.status_code == 500
        assert fault_code(etree.fromstring(response.content))[0] == "env:MustUnderstand"

    def test_handler_crash_is_a_receiver_fault_without_details(self, client: TestClient) -> None:
        response = post(client, envelope(BOOM))
        assert response.status_code == 500
        assert fault_code(etree.fromstring(response.content))[0] == "env:Receiver"
        assert b"secret internal detail" not in response.content
        assert b"Traceback" not in response.content

    def test_streamed_request_over_the_size_limit(self, client: TestClient) -> None:
        # No Content-Length (chunked): the limit is enforced while the body streams in.
        chunks = iter([envelope()[:20]] + [b" " * 8192] * 10)
        response = client.post(
            REGISTRY_PATH, content=chunks, headers={"Content-Type": "application/soap+xml; charset=UTF-8"}
        )
        assert response.status_code == 400
        assert b"limit" in response.content

    def test_failure_outside_the_handler_is_a_receiver_fault(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> bytes:
            raise RuntimeError("serialiser exploded: secret")

        monkeypatch.setattr("xds_server.soap.router.write_envelope", broken)
        response = post(client, envelope())
        assert response.status_code == 500
        assert fault_code(etree.fromstring(response.content))[0] == "env:Receiver"
        assert b"secret" not in response.content

    def test_spool_failure_is_a_receiver_fault(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def disk_full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("xds_server.soap.endpoints.read_multipart", disk_full)
        response = post(client, mtom(envelope()), content_type=MTOM_TYPE)
        assert response.status_code == 500
        assert fault_code(etree.fromstring(response.content))[0] == "env:Receiver"
        assert b"No space" not in response.content

    def test_request_over_the_size_limit(self, client: TestClient) -> None:
        big = envelope(body=f"<x:Ping xmlns:x='urn:example'>{'a' * 70_000}</x:Ping>")
        response = post(client, big)
        assert response.status_code == 400
        assert "limit" in etree.fromstring(response.content).xpath(
            "string(env:Body/env:Fault/env:Reason/env:Text)", namespaces=NS
        )


BOUNDARY = "MIMEBoundary_test"
MTOM_TYPE = mtom_type(BOUNDARY)


def mtom(root: bytes, *attachments: tuple[str, bytes]) -> bytes:
    return build_mtom(BOUNDARY, root, *attachments)


def split_multipart(content_type: str, body: bytes) -> list[email.message.Message]:
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    return list(message.iter_parts())  # type: ignore[attr-defined]


class TestMtom:
    def test_mtom_request_gets_an_mtom_answer(self, client: TestClient) -> None:
        response = post(client, mtom(envelope(), ("doc1@test", b"hello")), content_type=MTOM_TYPE)
        assert response.status_code == 200
        content_type = response.headers["content-type"]
        assert content_type.startswith("multipart/related")
        assert 'type="application/xop+xml"' in content_type
        parts = split_multipart(content_type, response.content)
        assert parts[0].get_content_type() == "application/xop+xml"
        root = etree.fromstring(parts[0].get_payload(decode=True))
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=NS) == MESSAGE_ID
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == ECHO_RESPONSE
        echoed = root.xpath("env:Body/*[local-name()='Echoed']", namespaces=NS)[0]
        assert echoed.get("parts") == "doc1@test"

    def test_spooled_parts_are_removed_after_the_request(self, client: TestClient, tmp_path: Path) -> None:
        post(client, mtom(envelope(), ("doc1@test", b"x" * 1000)), content_type=MTOM_TYPE)
        spool = tmp_path / "spool"
        assert not spool.exists() or list(spool.iterdir()) == []

    def test_truncated_mtom_is_a_sender_fault(self, client: TestClient) -> None:
        data = mtom(envelope()).rsplit(b"--", 2)[0]
        response = post(client, data, content_type=MTOM_TYPE)
        assert response.status_code == 400
        assert fault_code(etree.fromstring(response.content))[0] == "env:Sender"

    def test_streamed_mtom_over_the_size_limit(self, client: TestClient) -> None:
        body = mtom(envelope(), ("big@test", b"x" * 100_000))
        chunks = iter([body[i : i + 8192] for i in range(0, len(body), 8192)])
        response = client.post(REGISTRY_PATH, content=chunks, headers={"Content-Type": MTOM_TYPE})
        assert response.status_code == 400
        assert fault_code(etree.fromstring(response.content))[0] == "env:Sender"

    def test_too_many_parts_is_a_sender_fault(self, client: TestClient) -> None:
        attachments = [(f"d{i}@test", b"x") for i in range(6)]
        response = post(client, mtom(envelope(), *attachments), content_type=MTOM_TYPE)
        assert response.status_code == 400

    def test_faults_of_mtom_requests_are_plain_soap(self, client: TestClient) -> None:
        response = post(client, mtom(envelope("urn:example:Nope")), content_type=MTOM_TYPE)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/soap+xml")
