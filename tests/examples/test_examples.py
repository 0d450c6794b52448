"""examples/: every message is what the client's builders write (no drift), and each is accepted by a server
on the ``dmp-test`` and on the ``ihe`` profile: ITI-41 stores the CDA, ITI-42 registers, ITI-18 finds both,
ITI-43 returns the CDA byte for byte. The CDA's header is what ``xds-server send`` reads."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import sign, trusting_app
from xds_server.client import cda, responses
from xds_server.client.metadata import DocumentFacts, facts_from_cda
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_generate", EXAMPLES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = _generator()
PATIENT: str = GENERATE.PATIENT


def test_the_files_are_what_the_builders_write() -> None:
    assert GENERATE.main(["--check"]) == 0


class TestCdaHeader:
    def test_the_header_facts(self) -> None:
        header = cda.read_header((EXAMPLES / "cda-compte-rendu-consultation.xml").read_bytes())
        assert header.patient_id == "280017512345610^^^&1.2.250.1.213.1.4.10&ISO"
        assert header.type_code == cda.CdaCode(
            "11488-4", "2.16.840.1.113883.6.1", "CR ou fiche de consultation ou de visite"
        )
        assert header.creation_time == "20261207081500"  # 09:15 at +01:00, in UTC
        assert (header.service_start, header.service_stop) == ("20261207080000", "20261207081500")
        assert header.confidentiality is not None and header.confidentiality.code == "N"
        assert header.author is not None and header.author.national_id == "899700000001"
        assert header.author.organisation_id == "3900000000001" and header.body_media_type is None

    def test_facts_for_the_submission(self) -> None:
        header = cda.read_header((EXAMPLES / "cda-compte-rendu-consultation.xml").read_bytes())
        facts = facts_from_cda(header, DocumentFacts(patient_id=""))
        assert facts.mime_type == "text/xml" and facts.resolved_class().code == "10"
        assert facts.unique_id == "1.2.250.1.999.1.3.1.20261207.1"
        assert facts.author.structure == "3900000000001"

    @pytest.mark.parametrize(
        "data", [b"<html/>", b"not xml", b"<!DOCTYPE x [<!ENTITY e 'x'>]><ClinicalDocument/>"]
    )
    def test_not_a_cda(self, data: bytes) -> None:
        with pytest.raises(cda.CdaError):
            cda.read_header(data)


class Server:
    def __init__(self, client: TestClient, authority: DevAuthority) -> None:
        self.client, self.authority = client, authority

    def post(self, name: str, path: str) -> tuple[etree._Element, dict[str, bytes]]:
        message = sign((EXAMPLES / name).read_bytes(), self.authority, Identity(patient=PATIENT))
        answer = self.client.post(path, content=message, headers={"Content-Type": "application/soap+xml"})
        assert answer.status_code == 200, answer.text[:500]
        root, parts = responses.split_parts(answer.headers["content-type"], answer.content)
        return responses.parse_envelope(root), parts


@pytest.fixture(params=["dmp-test", "ihe"])
def server(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> Iterator[Server]:
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
        SqlRecordStore(connection).authorize(PATIENT, "899700000001")  # the default dev professional
    app, authority = trusting_app(Settings(data_dir=tmp_path, profile=request.param), database)
    with TestClient(app) as client:
        yield Server(client, authority)


def test_each_message_is_accepted(server: Server) -> None:
    stored, _ = server.post("iti41-provide-and-register.xml", "/xds/repository")
    assert responses.outcome(stored).success, responses.outcome(stored).errors
    registered, _ = server.post("iti42-register.xml", "/xds/registry")
    assert responses.outcome(registered).success, responses.outcome(registered).errors

    found, _ = server.post("iti18-find-documents.xml", "/xds/registry")
    assert responses.outcome(found).success
    unique_ids = sorted(e.unique_id or "" for e in responses.documents_found(found))
    assert unique_ids == ["1.2.250.1.999.1.3.1.20261207.1", "1.2.250.1.999.1.3.1.20261207.2"]

    retrieved, parts = server.post("iti43-retrieve.xml", "/xds/repository")
    assert responses.outcome(retrieved).success
    [document] = responses.retrieved(retrieved, parts)
    assert document.content == (EXAMPLES / "cda-compte-rendu-consultation.xml").read_bytes()
    assert document.mime_type == "text/xml"


def test_sent_twice_the_uniqueid_is_refused(server: Server) -> None:
    server.post("iti42-register.xml", "/xds/registry")
    again, _ = server.post("iti42-register.xml", "/xds/registry")
    codes = {e.code for e in responses.outcome(again).errors}
    assert not responses.outcome(again).success and "XDSDuplicateUniqueIdInRegistry" in codes
