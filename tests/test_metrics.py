"""``GET /metrics``: Prometheus exposition of requests by transaction and outcome, latency, refusals by
reason, and blob store and database timings (issue 15, item 7)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.query.builders import adhoc
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.vocabulary import SoapAction
from xds_server.storage.database import Database

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
PATIENT = "P1^^^&1.2.3&ISO"


def envelope(action: str, body: str) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(client: TestClient, name: str, **labels: str) -> float:
    return samples(client).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def ihe(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe", anonymous_actor="metrics-test")
    with TestClient(create_app(settings, database=database)) as client:
        yield client


def query(client: TestClient, status: str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved") -> None:
    body = adhoc(
        FIND_DOCUMENTS,
        {"$XDSDocumentEntryPatientId": f"'{PATIENT}'", "$XDSDocumentEntryStatus": f"('{status}')"},
    )
    client.post("/xds/registry", content=envelope(SoapAction.STORED_QUERY, body),
                headers={"Content-Type": "application/soap+xml"})  # fmt: skip


class TestRequests:
    def test_counted_by_transaction_and_outcome(self, ihe: TestClient) -> None:
        success = value(ihe, "xds_requests_total", transaction="ITI-18", outcome="success")
        failure = value(ihe, "xds_requests_total", transaction="ITI-18", outcome="failure")
        query(ihe)  # nothing found: Success
        query(ihe, status="not-a-status")  # a bad parameter: Failure
        assert value(ihe, "xds_requests_total", transaction="ITI-18", outcome="success") == success + 1
        assert value(ihe, "xds_requests_total", transaction="ITI-18", outcome="failure") == failure + 1

    def test_fhir_requests_are_counted_too(self, ihe: TestClient) -> None:
        success = value(ihe, "xds_requests_total", transaction="ITI-67", outcome="success")
        failure = value(ihe, "xds_requests_total", transaction="ITI-67", outcome="failure")
        search = {"patient.identifier": "urn:oid:1.2.3|P1", "status": "current"}
        assert ihe.get("/fhir/DocumentReference", params=search).status_code == 200
        assert ihe.get("/fhir/DocumentReference", params={"status": "current"}).status_code == 400
        assert value(ihe, "xds_requests_total", transaction="ITI-67", outcome="success") == success + 1
        assert value(ihe, "xds_requests_total", transaction="ITI-67", outcome="failure") == failure + 1
        assert value(ihe, "xds_request_duration_seconds_count", transaction="ITI-67") >= 2

    def test_latency_histogram(self, ihe: TestClient) -> None:
        before = value(ihe, "xds_request_duration_seconds_count", transaction="ITI-18")
        query(ihe)
        query(ihe)
        assert value(ihe, "xds_request_duration_seconds_count", transaction="ITI-18") == before + 2

    def test_a_fault_is_an_outcome(self, ihe: TestClient) -> None:
        before = value(ihe, "xds_requests_total", transaction="unknown", outcome="fault")
        ihe.post("/xds/registry", content=b"<not-soap/>", headers={"Content-Type": "application/soap+xml"})
        assert value(ihe, "xds_requests_total", transaction="unknown", outcome="fault") == before + 1

    def test_database_timings(self, ihe: TestClient) -> None:
        before = value(ihe, "xds_database_transaction_duration_seconds_count", mode="read")
        query(ihe)
        assert value(ihe, "xds_database_transaction_duration_seconds_count", mode="read") > before


class TestRefusals:
    def test_unauthenticated_request_is_a_refusal(self, database: Database, tmp_path: Path) -> None:
        with TestClient(
            create_app(Settings(data_dir=tmp_path, profile="dmp-test"), database=database)
        ) as client:
            before = value(client, "xds_refusals_total", reason="authentication")
            query(client)
            assert value(client, "xds_refusals_total", reason="authentication") == before + 1

    def test_oversized_request_is_a_refusal(self, database: Database, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, profile="ihe", anonymous_actor="x", max_envelope_bytes=1000)
        with TestClient(create_app(settings, database=database)) as client:
            before = value(client, "xds_refusals_total", reason="too_large")
            client.post(
                "/xds/registry", content=b"x" * 5000, headers={"Content-Type": "application/soap+xml"}
            )
            assert value(client, "xds_refusals_total", reason="too_large") == before + 1


def test_blob_store_timings_are_exposed(ihe: TestClient) -> None:
    services = ihe.app.state.services  # type: ignore[attr-defined]
    before = value(ihe, "xds_blob_operation_duration_seconds_count", operation="exists")
    services.blobs.exists("0" * 40)
    assert value(ihe, "xds_blob_operation_duration_seconds_count", operation="exists") == before + 1
