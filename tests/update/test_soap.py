"""ITI-57 and ITI-62 over HTTP (TestClient) on /xds/registry: routes, response actions, RegistryResponse
statuses and error codes. The ITI-57 request is NIST 12346/single_doc turned into a new version (``lid`` and a
PreviousVersion slot), as NIST 15800 does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import signing_client
from tests.soap.test_soap_iti42 import (
    FAILURE,
    NS,
    REGISTER,
    SINGLE_DOC,
    SOAP12,
    SUCCESS,
    WSA,
    error_codes,
    new_oid,
    registry_response,
)
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.soap import iti57, iti62
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
DELETE = "urn:ihe:iti:2010:DeleteDocumentSet"
PATIENT = "SOAPMU1^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
    with signing_client(Settings(data_dir=tmp_path, profile="ihe"), database) as test_client:
        yield test_client


def soap(action: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}">'
        f'<env:Header><wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def post(client: TestClient, data: bytes) -> etree._Element:
    response = client.post("/xds/registry", content=data, headers={"Content-Type": "application/soap+xml"})
    assert response.status_code == 200, response.content
    return etree.fromstring(response.content)


def request(entry_uuid: str, doc_uid: str) -> str:
    """12346/single_doc: DocumentEntry id ``entry_uuid``, its uniqueId, and a fresh SubmissionSet uniqueId."""
    text = SINGLE_DOC.read_text(encoding="utf-8").split("?>", 1)[1]
    text = (
        text.replace("$patientid$", escape(PATIENT))
        .replace("$docuid$", doc_uid)
        .replace("$ssuid$", new_oid())
    )
    return text.replace('"Document01"', f'"{entry_uuid}"')


def registered(client: TestClient) -> tuple[str, str]:
    """Register 12346/single_doc; (its DocumentEntry uuid, its uniqueId)."""
    entry_uuid, doc_uid = f"urn:uuid:{uuid.uuid4()}", new_oid()
    response = registry_response(etree.tostring(post(client, soap(REGISTER, request(entry_uuid, doc_uid)))))
    assert response.get("status") == SUCCESS, etree.tostring(response)
    return entry_uuid, doc_uid


def new_version(lid: str, doc_uid: str, previous: str = "1") -> str:
    """The ITI-57 request for version ``previous`` + 1 of ``lid``."""
    text = request("Document01", doc_uid).replace(
        '<rim:ExtrinsicObject id="Document01"', f'<rim:ExtrinsicObject id="Document01" lid="{lid}"'
    )
    value = f"<rim:ValueList><rim:Value>{previous}</rim:Value></rim:ValueList>"
    slot = f'<rim:Slot name="PreviousVersion">{value}</rim:Slot>'
    return text.replace("</rim:Association>", f"{slot}</rim:Association>")


def answer_of(client: TestClient, action: str, body: str) -> etree._Element:
    root = post(client, soap(action, body))
    assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == f"{action}Response"
    return registry_response(etree.tostring(root))


class TestUpdateOverSoap:
    def test_new_version(self, client: TestClient) -> None:
        lid, doc_uid = registered(client)
        response = answer_of(client, UPDATE, new_version(lid, doc_uid))
        assert response.get("status") == SUCCESS, etree.tostring(response)

    def test_stale_version(self, client: TestClient) -> None:  # NIST 15800e
        lid, doc_uid = registered(client)
        response = answer_of(client, UPDATE, new_version(lid, doc_uid, "7"))
        assert response.get("status") == FAILURE
        assert error_codes(response) == ["XDSMetadataVersionError"]

    def test_register_refuses_an_update(self, client: TestClient) -> None:  # NIST 21000: ITI-42 is no MU
        _, doc_uid = registered(client)
        body = new_version("Document01", doc_uid).replace(
            'targetObject="Document01"', 'targetObject="SubmissionSet01"'
        )
        response = answer_of(client, REGISTER, body)
        assert response.get("status") == FAILURE
        assert "XDSRegistryMetadataError" in error_codes(response)

    def test_not_a_submit_objects_request(self, client: TestClient) -> None:
        response = answer_of(client, UPDATE, f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}"/>')
        assert error_codes(response) == ["XDSRegistryMetadataError"]


class TestDeleteOverSoap:
    def remove(self, client: TestClient, *ids: str) -> etree._Element:
        refs = "".join(f'<rim:ObjectRef id="{i}"/>' for i in ids)
        body = f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}"><rim:ObjectRefList>{refs}'
        return answer_of(client, DELETE, f"{body}</rim:ObjectRefList></lcm:RemoveObjectsRequest>")

    def test_unknown_object(self, client: TestClient) -> None:  # NIST 30000
        response = self.remove(client, f"urn:uuid:{uuid.uuid4()}")
        assert response.get("status") == FAILURE
        assert error_codes(response) == ["UnresolvedReferenceException"]

    def test_references_exist(self, client: TestClient) -> None:
        entry_uuid, _ = registered(client)
        response = self.remove(client, entry_uuid)
        assert error_codes(response) == ["ReferencesExistException"]

    def test_no_object_ref_list(self, client: TestClient) -> None:
        response = answer_of(client, DELETE, f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}"/>')
        assert response.get("status") == FAILURE
        assert error_codes(response) == ["XDSRegistryMetadataError"]


class TestUnexpectedErrors:
    """An unexpected exception in the use case is one generic XDSRegistryError; nothing is written."""

    def test_update(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        entry_uuid, doc_uid = registered(client)

        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk on fire: secret detail")

        monkeypatch.setattr(iti57, "update", crash)
        response = answer_of(client, UPDATE, new_version(entry_uuid, doc_uid))
        assert response.get("status") == FAILURE
        assert error_codes(response) == ["XDSRegistryError"]
        assert b"secret" not in etree.tostring(response)
        monkeypatch.undo()  # version 1 is still the latest: the same update now succeeds
        assert answer_of(client, UPDATE, new_version(entry_uuid, doc_uid)).get("status") == SUCCESS

    def test_delete(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk on fire: secret detail")

        monkeypatch.setattr(iti62, "delete", crash)
        refs = f'<rim:ObjectRefList><rim:ObjectRef id="urn:uuid:{uuid.uuid4()}"/></rim:ObjectRefList>'
        body = (
            f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">{refs}</lcm:RemoveObjectsRequest>'
        )
        response = answer_of(client, DELETE, body)
        assert response.get("status") == FAILURE
        assert error_codes(response) == ["XDSRegistryError"]
        assert b"secret" not in etree.tostring(response)
