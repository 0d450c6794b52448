"""The attack suite's server: the real application (``ihe`` profile, anonymous actor, the configured test
database), and helpers that post a request and read what came back, whatever it is (a RegistryResponse, an
AdhocQueryResponse, a SOAP fault)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.core.builders import PATIENT
from tests.repository.messages import NIST_PATIENT
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"


def envelope(action: str, body: bytes | str, header: bytes | str = b"") -> bytes:
    body_bytes = body.encode() if isinstance(body, str) else body
    header_bytes = header.encode() if isinstance(header, str) else header
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>".encode()
        + header_bytes
        + b"</env:Header><env:Body>"
        + body_bytes
        + b"</env:Body></env:Envelope>"
    )


@dataclass(frozen=True)
class Outcome:
    http: int
    status: str  # the ebRS status, or "fault:<subcode or code>"
    codes: tuple[str, ...]
    text: bytes

    @property
    def refused(self) -> bool:
        return self.status == FAILURE or self.status.startswith("fault:")


def outcome(http: int, content: bytes) -> Outcome:
    start = content.find(b"<env:Envelope")
    if start < 0:
        start = content.find(b"<")
    end = content.rfind(b"Envelope>")
    root = etree.fromstring(content[start : end + len(b"Envelope>")])
    fault = root.find("{*}Body/{*}Fault")
    if fault is not None:  # SOAP 1.2 (Code/Value, Subcode/Value), or SOAP 1.1 (faultcode) for a 1.1 request
        values = [v.text or "" for v in fault.iter(f"{{{SOAP12}}}Value")] or [
            fault.findtext("faultcode") or "?"
        ]
        return Outcome(http, f"fault:{values[-1]}", (), content)
    status = ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("status"):
            status = element.get("status", "")
            break
    codes = tuple(e.get("errorCode", "") for e in root.iter(f"{{{RS}}}RegistryError"))
    return Outcome(http, status, codes, content)


@dataclass
class Target:
    client: TestClient
    settings: Settings
    database: Database

    def post(
        self, message: bytes, *, path: str = "/xds/registry", content_type: str | None = None
    ) -> Outcome:
        response = self.client.post(
            path, content=message, headers={"Content-Type": content_type or "application/soap+xml"}
        )
        assert response.status_code != 500 or b"Fault" in response.content, response.content[:500]
        return outcome(response.status_code, response.content)

    def blob_files(self) -> list[Path]:
        """Every file of the document store, staging included (what a refused request must not leave)."""
        root = self.settings.blob_dir
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def target(database: Database, tmp_path: Path) -> Iterator[Target]:
    settings = Settings(
        data_dir=tmp_path, profile="ihe", anonymous_actor="attack-suite", max_metadata_bytes=1024 * 1024
    )
    with database.transaction() as connection:
        for patient in (PATIENT, NIST_PATIENT):
            SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED)
    with TestClient(create_app(settings, database=database)) as client:
        yield Target(client, settings, database)
