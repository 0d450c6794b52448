"""ITI-42 then ITI-18 over HTTP against the real application (create_app, ``ihe`` profile, signed requests):
the NIST 12346/single_doc submission, then the NIST 11897 / 11906 style queries that read it back."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import signing_client
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.core.query.queries import FindDocuments, GetSubmissionSetAndContents
from xds_server.core.vocabulary import SoapAction
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

from .builders import NS, adhoc

SINGLE_DOC = Path(__file__).parents[1] / "soap" / "data" / "nist_12346_single_doc.xml"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def new_oid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}"


def envelope(action: str, body: str) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:wsa="{NS["wsa"]}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe")
    with signing_client(settings, database) as test_client:
        yield test_client


def post(client: TestClient, action: str, body: str) -> etree._Element:
    response = client.post(
        "/xds/registry", content=envelope(action, body), headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 200, response.content[:500]
    return etree.fromstring(response.content)


class TestRegisterThenQuery:
    def test_find_documents_and_submission_set_contents(self, client: TestClient, database: Database) -> None:
        patient = f"p{secrets.token_hex(5)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
        with database.transaction() as connection:
            SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED)
        ss_uid = new_oid()
        submission = (
            SINGLE_DOC.read_text(encoding="utf-8")
            .split("?>", 1)[1]
            .replace("$patientid$", escape(patient))
            .replace("$docuid$", new_oid())
            .replace("$ssuid$", ss_uid)
        )
        registered = post(client, SoapAction.REGISTER.value, submission)
        assert registered.find("env:Body/rs:RegistryResponse", NS).get("status") == SUCCESS  # type: ignore[union-attr]

        params = {"$XDSDocumentEntryPatientId": f"'{patient}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"}
        found = post(
            client, SoapAction.STORED_QUERY.value, adhoc(FindDocuments.query_id, params, "LeafClass")
        )
        assert found.xpath("string(env:Header/wsa:Action)", namespaces=NS) == SoapAction.STORED_QUERY_RESPONSE
        response = found.find("env:Body/query:AdhocQueryResponse", NS)
        assert response is not None and response.get("status") == SUCCESS
        (entry,) = response.xpath("rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS)
        assert entry.get("status") == APPROVED
        assert patient in entry.xpath("rim:ExternalIdentifier/@value", namespaces=NS)

        contents = post(
            client,
            SoapAction.STORED_QUERY.value,
            adhoc(
                GetSubmissionSetAndContents.query_id,
                {"$XDSSubmissionSetUniqueId": f"'{ss_uid}'"},
                "ObjectRef",
            ),
        )
        refs = contents.xpath(
            "env:Body/query:AdhocQueryResponse/rim:RegistryObjectList/rim:ObjectRef/@id", namespaces=NS
        )
        assert len(refs) == 3  # NIST 11906/objectrefs: SubmissionSet, DocumentEntry, HasMember
        assert entry.get("id") in refs
