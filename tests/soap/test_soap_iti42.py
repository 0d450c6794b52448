"""ITI-42 Register Document Set-b over HTTP (FastAPI TestClient), on the configured test database.

The request is NIST 12346/single_doc in ebRIM 3.0 syntax (tests/soap/data), with a fresh patient id and fresh
uniqueIds, posted to /xds/registry of the real application (create_app) with the ``ihe`` profile.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from tests.identity_helpers import signing_client
from xds_server.config import Settings
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.ports import PatientState
from xds_server.soap import iti42
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

SINGLE_DOC = Path(__file__).with_name("data") / "nist_12346_single_doc.xml"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
NS = {"env": SOAP12, "wsa": WSA, "rs": RS}
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


def new_oid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}"


def new_patient() -> str:
    return f"p{secrets.token_hex(5)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"


def single_doc(patient_id: str) -> str:
    text = SINGLE_DOC.read_text(encoding="utf-8").split("?>", 1)[1]
    return (
        text.replace("$patientid$", escape(patient_id))
        .replace("$docuid$", new_oid())
        .replace("$ssuid$", new_oid())
    )


def envelope(body: str, message_id: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}">'
        f'<env:Header><wsa:Action env:mustUnderstand="true">{REGISTER}</wsa:Action>'
        f"<wsa:MessageID>{message_id}</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def registry_response(content: bytes) -> etree._Element:
    root = etree.fromstring(content)
    found = root.xpath("env:Body/rs:RegistryResponse", namespaces=NS)
    assert found, content[:500]
    return found[0]


def error_codes(response: etree._Element) -> list[str]:
    return response.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS)


def count_objects(database: Database) -> int:
    with database.transaction(readonly=True) as connection:
        return connection.execute(select(func.count()).select_from(tables.registry_object)).scalar_one()


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe")
    with signing_client(settings, database) as test_client:
        yield test_client


@pytest.fixture
def patient(database: Database) -> str:
    patient_id = new_patient()
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(patient_id, PatientState.ACTIVATED)
    return patient_id


def post(client: TestClient, data: bytes, content_type: str = "application/soap+xml; charset=UTF-8"):
    return client.post("/xds/registry", content=data, headers={"Content-Type": content_type})


class TestRegisterSuccess:
    def test_single_doc_is_registered(self, client: TestClient, patient: str, database: Database) -> None:
        message_id = f"urn:uuid:{uuid.uuid4()}"
        response = post(client, envelope(single_doc(patient), message_id))
        assert response.status_code == 200
        root = etree.fromstring(response.content)
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == f"{REGISTER}Response"
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=NS) == message_id
        answer = registry_response(response.content)
        assert answer.get("status") == SUCCESS, etree.tostring(answer)
        assert count_objects(database) == 3  # SubmissionSet, DocumentEntry, HasMember association

    def test_mtom_request_is_answered_in_mtom(self, client: TestClient, patient: str) -> None:
        boundary = "MIMEBoundary_iti42"
        root = envelope(single_doc(patient), f"urn:uuid:{uuid.uuid4()}")
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
                "Content-Transfer-Encoding: binary\r\nContent-ID: <root@iti42>\r\n\r\n"
            ).encode()
            + root
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content_type = (
            f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<root@iti42>"; '
            'start-info="application/soap+xml"'
        )
        response = post(client, body, content_type)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/related")
        assert SUCCESS.encode() in response.content


class TestRegisterFailure:
    def test_unknown_patient_fails_and_writes_nothing(self, client: TestClient, database: Database) -> None:
        response = post(client, envelope(single_doc(new_patient()), "urn:uuid:1"))
        assert response.status_code == 200
        answer = registry_response(response.content)
        assert answer.get("status") == FAILURE
        assert ErrorCode.UNKNOWN_PATIENT_ID.value in error_codes(answer)
        assert count_objects(database) == 0

    def test_every_error_is_reported(self, client: TestClient, patient: str, database: Database) -> None:
        # No classCode and no typeCode: two RegistryErrors in one response (NIST 11998a style).
        body = single_doc(patient)
        for scheme in ("41a5887f-8865-4c09-adf7-e362475b143a", "f0306f51-975f-434e-a61c-c59651d33983"):
            start = body.index(f'classificationScheme="urn:uuid:{scheme}"')
            open_at = body.rindex("<rim:Classification ", 0, start)
            close_at = body.index("</rim:Classification>", start) + len("</rim:Classification>")
            body = body[:open_at] + body[close_at:]
        answer = registry_response(post(client, envelope(body, "urn:uuid:2")).content)
        assert answer.get("status") == FAILURE
        assert len(error_codes(answer)) >= 2
        assert set(error_codes(answer)) == {ErrorCode.REGISTRY_METADATA_ERROR.value}
        assert count_objects(database) == 0

    def test_wrong_body_element_is_a_registry_failure(self, client: TestClient) -> None:
        body = '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/>'
        answer = registry_response(post(client, envelope(body, "urn:uuid:3")).content)
        assert answer.get("status") == FAILURE
        assert error_codes(answer) == [ErrorCode.REGISTRY_METADATA_ERROR.value]


class TestAtomicity:
    def test_unexpected_error_after_writes_rolls_back(
        self, client: TestClient, patient: str, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real_register = iti42.register

        def register_then_crash(submission, **kwargs):  # type: ignore[no-untyped-def]
            real_register(submission, **kwargs)  # the rows are written in the open transaction ...
            raise RuntimeError("disk on fire: secret detail")  # ... then something unexpected happens

        monkeypatch.setattr(iti42, "register", register_then_crash)
        response = post(client, envelope(single_doc(patient), "urn:uuid:4"))
        assert response.status_code == 200
        answer = registry_response(response.content)
        assert answer.get("status") == FAILURE
        assert error_codes(answer) == [ErrorCode.REGISTRY_ERROR.value]
        assert b"secret detail" not in response.content
        assert b"Traceback" not in response.content
        assert count_objects(database) == 0

    def test_xds_error_after_writes_rolls_back(
        self, client: TestClient, patient: str, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real_register = iti42.register

        def register_then_fail(submission, **kwargs):  # type: ignore[no-untyped-def]
            real_register(submission, **kwargs)
            raise XdsError([Issue(ErrorCode.REGISTRY_BUSY, "busy")])

        monkeypatch.setattr(iti42, "register", register_then_fail)
        answer = registry_response(post(client, envelope(single_doc(patient), "urn:uuid:5")).content)
        assert error_codes(answer) == [ErrorCode.REGISTRY_BUSY.value]
        assert count_objects(database) == 0

    def test_same_submission_set_twice_is_a_duplicate(
        self, client: TestClient, patient: str, database: Database
    ) -> None:
        body = single_doc(patient)
        first = registry_response(post(client, envelope(body, "urn:uuid:6")).content)
        assert first.get("status") == SUCCESS
        second = registry_response(post(client, envelope(body, "urn:uuid:7")).content)
        assert second.get("status") == FAILURE
        assert ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY.value in error_codes(second)
        assert count_objects(database) == 3
