"""xds_server.client: the ITI-41 metadata built from flags or a CDA header is accepted by a dmp-test server
(MTOM), found by ITI-18 and retrieved byte for byte by ITI-43; a refusal comes back as RegistryErrors, a
missing identity as a SOAP fault. The transport is the real application (FastAPI TestClient is an httpx
client)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import trusting_app
from xds_server.client import XdsClient, messages, responses
from xds_server.client.cda import read_header
from xds_server.client.metadata import (
    DocumentFacts,
    Professional,
    class_of_type,
    facts_from_cda,
    parse_code,
    submission_for,
)
from xds_server.config import Settings
from xds_server.core.metadata import Code
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

PATIENT = "280017512345610^^^&1.2.250.1.213.1.4.10&ISO^NH"
REPOSITORY = Settings().repository_unique_id
CDA = Path(__file__).resolve().parents[2] / "examples" / "cda-compte-rendu-consultation.xml"
PDF = b"%PDF-1.4 a test report\n%%EOF\n"


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, DevAuthority]]:
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
        SqlRecordStore(connection).authorize(PATIENT, "899700000001")
    app, authority = trusting_app(Settings(data_dir=tmp_path, profile="dmp-test"), database)
    with TestClient(app) as http:
        yield http, authority


def client(served: tuple[TestClient, DevAuthority], identity: Identity | None = None) -> XdsClient:
    http, authority = served
    who = identity or Identity(patient=PATIENT)
    return XdsClient("http://testserver", lambda: dev_authority.mint_assertion(authority, who), http=http)


class TestMetadata:
    def test_class_follows_the_type_by_the_matrix(self) -> None:
        assert class_of_type()[("11488-4", "2.16.840.1.113883.6.1")] == "10"
        facts = DocumentFacts(PATIENT, type_code=parse_code("11369-6", "2.16.840.1.113883.6.1"))
        assert facts.resolved_class() == Code(class_of_type()[("11369-6", "2.16.840.1.113883.6.1")],
                                              "1.2.250.1.213.1.1.4.1")  # fmt: skip

    def test_masks_and_confidentiality(self) -> None:
        facts = DocumentFacts(PATIENT, confidentiality="R", masks=("MASQUE_PS",))
        entry = submission_for(facts, PDF, repository_unique_id=REPOSITORY).submission.documents[0]
        assert [(c.code, c.scheme) for c in entry.confidentiality_codes] == [
            ("R", "2.16.840.1.113883.5.25"),
            ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
        ]

    def test_fresh_unique_ids(self) -> None:
        facts = DocumentFacts(PATIENT)
        first = submission_for(facts, PDF, repository_unique_id=REPOSITORY)
        second = submission_for(facts, PDF, repository_unique_id=REPOSITORY)
        assert first.unique_id != second.unique_id and first.unique_id.startswith("2.25.")


class TestRoundTrip:
    def test_pdf_from_flags(self, served: tuple[TestClient, DevAuthority]) -> None:
        xds = client(served)
        request = submission_for(DocumentFacts(PATIENT, title="CR"), PDF, repository_unique_id=REPOSITORY)
        outcome = xds.provide_and_register(request, "application/pdf")
        assert outcome.success, outcome.errors
        found_outcome, found = xds.find_documents(PATIENT)
        assert found_outcome.success and [e.unique_id for e in found] == [request.unique_id]
        assert found[0].mime_type == "application/pdf" and found[0].title is not None
        retrieved_outcome, documents = xds.retrieve(REPOSITORY, [request.unique_id])
        assert retrieved_outcome.success and documents[0].content == PDF

    def test_cda_from_its_header(self, served: tuple[TestClient, DevAuthority]) -> None:
        xds = client(served)
        content = CDA.read_bytes()
        facts = facts_from_cda(read_header(content), DocumentFacts(patient_id=""))
        facts = replace(facts, patient_id=PATIENT, unique_id=None)  # a fresh uniqueId
        request = submission_for(facts, content, repository_unique_id=REPOSITORY)
        assert xds.provide_and_register(request, facts.mime_type).success
        _, [entry] = xds.find_documents(PATIENT)
        assert entry.creation_time == "20261207081500" and entry.service_start_time == "20261207080000"
        assert entry.type_code is not None and entry.type_code.code == "11488-4"
        assert xds.retrieve(REPOSITORY, [request.unique_id])[1][0].content == content

    def test_find_filters(self, served: tuple[TestClient, DevAuthority]) -> None:
        xds = client(served)
        request = submission_for(DocumentFacts(PATIENT), PDF, repository_unique_id=REPOSITORY)
        assert xds.provide_and_register(request, "application/pdf").success
        assert len(xds.find_documents(PATIENT, class_codes=["10^^1.2.250.1.213.1.1.4.1"])[1]) == 1
        assert xds.find_documents(PATIENT, class_codes=["11^^1.2.250.1.213.1.1.4.1"])[1] == []
        assert xds.find_documents(PATIENT, statuses=[messages.DEPRECATED])[1] == []


class TestRefusals:
    def test_a_code_outside_the_value_set_is_a_registry_error(
        self, served: tuple[TestClient, DevAuthority]
    ) -> None:
        facts = DocumentFacts(PATIENT, facility=Code("NOPE", "1.2.250.1.71.4.2.4"))
        request = submission_for(facts, PDF, repository_unique_id=REPOSITORY)
        outcome = client(served).provide_and_register(request, "application/pdf")
        assert not outcome.success
        assert any("NOPE" in e.context for e in outcome.errors), outcome.errors

    def test_a_professional_without_consent_reads_nothing(
        self, served: tuple[TestClient, DevAuthority]
    ) -> None:
        assert (
            client(served)
            .provide_and_register(
                submission_for(DocumentFacts(PATIENT), PDF, repository_unique_id=REPOSITORY),
                "application/pdf",
            )
            .success
        )
        stranger = client(served, Identity(national_id="810000000777", patient=PATIENT))
        outcome, found = stranger.find_documents(PATIENT)
        assert not outcome.success and found == []
        assert [e.code for e in outcome.errors] == ["DMPAccessDenied"]

    def test_no_identity_is_a_soap_fault(self, served: tuple[TestClient, DevAuthority]) -> None:
        http, _ = served
        with pytest.raises(responses.SoapFault) as fault:
            XdsClient("http://testserver", http=http).find_documents(PATIENT)
        assert fault.value.subcode == "wsse:InvalidSecurity"


class TestMessages:
    def test_mtom_package_parts(self) -> None:
        request = submission_for(DocumentFacts(PATIENT), PDF, repository_unique_id=REPOSITORY)
        package = messages.provide_and_register(request.submission, {"Document01": ("application/pdf", PDF)})
        root, parts = responses.split_parts(package.content_type, package.body)
        assert list(parts.values()) == [PDF]
        include = etree.fromstring(root).find(".//{http://www.w3.org/2004/08/xop/include}Include")
        assert include is not None and include.get("href") == f"cid:{next(iter(parts))}"

    def test_author_of_a_professional(self) -> None:
        author = Professional(national_id="810000000001", structure="S1").author()
        assert author.person is not None and author.person.startswith("810000000001^")
        assert author.institutions == ("xds-server test structure^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^S1",)
