"""A merge end to end: ITI-42 for the patient's temporary id over SOAP, ITI-8 A40 over the real MLLP
listener, then ITI-18 / ITI-42 over SOAP (create_app, ``ihe`` profile, signed requests)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.feed.messages import adt, ihe_pid, msa
from tests.identity_helpers import SigningClient, install_authority
from tests.query.builders import NS, adhoc
from tests.query.test_e2e_iti18 import SINGLE_DOC, SUCCESS, new_oid, post
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.query.queries import FindDocuments, FindSubmissionSets, GetSubmissionSetAndContents
from xds_server.core.vocabulary import SoapAction
from xds_server.storage.database import Database

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, int]]:
    settings = Settings(data_dir=tmp_path, profile="ihe", mllp_port=0)
    app = create_app(settings, database=database)
    with SigningClient(app, install_authority(tmp_path)) as client:
        yield client, app.state.mllp_port


def mllp(port: int, message: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"\x0b" + message + b"\x1c\r")
        answer = b""
        while b"\x1c\r" not in answer:
            chunk = sock.recv(65536)
            assert chunk
            answer += chunk
    return answer[1 : answer.index(b"\x1c\r")]


def register(client: TestClient, patient: str, ss_uid: str) -> etree._Element:
    body = (
        SINGLE_DOC.read_text(encoding="utf-8")
        .split("?>", 1)[1]
        .replace("$patientid$", escape(patient))
        .replace("$docuid$", new_oid())
        .replace("$ssuid$", ss_uid)
    )
    answer = post(client, SoapAction.REGISTER.value, body).find("env:Body/rs:RegistryResponse", NS)
    assert answer is not None
    return answer


def query(
    client: TestClient, query_id: str, params: dict[str, str], kind: str = "LeafClass"
) -> etree._Element:
    found = post(client, SoapAction.STORED_QUERY.value, adhoc(query_id, params, kind))
    response = found.find("env:Body/query:AdhocQueryResponse", NS)
    assert response is not None and response.get("status") == SUCCESS, etree.tostring(found)[:800]
    return response


def documents_of(client: TestClient, patient: str) -> list[etree._Element]:
    params = {"$XDSDocumentEntryPatientId": f"'{patient}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"}
    return query(client, FindDocuments.query_id, params).xpath(
        "rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS
    )


def submission_sets_of(client: TestClient, patient: str) -> list[etree._Element]:
    params = {"$XDSSubmissionSetPatientId": f"'{patient}'", "$XDSSubmissionSetStatus": f"('{APPROVED}')"}
    return query(client, FindSubmissionSets.query_id, params).xpath(
        "rim:RegistryObjectList/rim:RegistryPackage", namespaces=NS
    )


class TestMergeOverSoap:
    def test_the_record_answers_under_the_surviving_id_only(self, served: tuple[TestClient, int]) -> None:
        client, port = served
        tag = secrets.token_hex(4)
        old, new = ihe_pid(f"TMP{tag}"), ihe_pid(f"QUAL{tag}")
        assert msa(mllp(port, adt("A01", old)))[1] == "AA"
        assert msa(mllp(port, adt("A01", new)))[1] == "AA"
        ss_uid = new_oid()
        assert register(client, old, ss_uid).get("status") == SUCCESS
        assert register(client, new, new_oid()).get("status") == SUCCESS
        assert len(documents_of(client, old)) == 1 and len(documents_of(client, new)) == 1

        assert msa(mllp(port, adt("A40", new, mrg=old)))[1] == "AA"

        # every DocumentEntry and SubmissionSet of the old id answers under the surviving id, carrying it
        documents = documents_of(client, new)
        assert len(documents) == 2
        for entry in documents:
            assert new in entry.xpath("rim:ExternalIdentifier/@value", namespaces=NS)
            assert old not in entry.xpath("rim:ExternalIdentifier/@value", namespaces=NS)
        assert len(submission_sets_of(client, new)) == 2
        contents = query(
            client, GetSubmissionSetAndContents.query_id, {"$XDSSubmissionSetUniqueId": f"'{ss_uid}'"}
        )
        package = contents.xpath("rim:RegistryObjectList/rim:RegistryPackage", namespaces=NS)[0]
        assert new in package.xpath("rim:ExternalIdentifier/@value", namespaces=NS)

        # the old id answers nothing, and a new submission for it is refused
        assert documents_of(client, old) == []
        assert submission_sets_of(client, old) == []
        refused = register(client, old, new_oid())
        assert refused.get("status") == FAILURE
        assert refused.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS) == [
            "XDSUnknownPatientId"
        ]
        # and the survivor still takes submissions
        assert register(client, new, new_oid()).get("status") == SUCCESS
        assert len(documents_of(client, new)) == 3
