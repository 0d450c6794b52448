"""soap/iti18.py: AdhocQueryRequest in, AdhocQueryResponse out, through the SOAP router (envelope, action,
response action), on the registry of conftest.py. Uses the NIST 11897 request shapes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from tests.identity_helpers import open_access
from xds_server.app import unit_of_work_factory
from xds_server.config import Settings
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.query import Transaction
from xds_server.core.query.queries import FindDocuments, GetDocuments
from xds_server.core.vocabulary import SoapAction
from xds_server.soap import iti18
from xds_server.soap.router import ROUTES, Router
from xds_server.storage.database import Database
from xds_server.storage.query_sql import SqlQueryPort
from xds_server.wiring import Services

from .builders import APPROVED, DEPRECATED, NS, PATIENT, FixedClock, Uuids, adhoc, q, s
from .conftest import World

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


@dataclass(frozen=True)
class QueryWork:
    """What the composition root's unit of work gives the handler (``queries``)."""

    queries: SqlQueryPort


def services_for(database: Database, tmp_path: Path, **settings: object) -> Services:
    # the composition root's units of work: the query reads in a read-only one, its trace is written in a
    # write one (the access trail, wiring/audit.py)
    return Services(
        settings=Settings(data_dir=tmp_path, profile="ihe", **settings),  # type: ignore[arg-type]
        profile=IHE_DEFAULT,
        transaction=unit_of_work_factory(database),
        read_transaction=unit_of_work_factory(database, readonly=True),
        clock=FixedClock(),
        ids=Uuids(),
        access=open_access(),
    )


def envelope(body: str, action: str = SoapAction.STORED_QUERY.value) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:wsa="{NS["wsa"]}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        "<wsa:MessageID>urn:uuid:5c1d2b7e-0000-4000-8000-000000000018</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def post(services: Services, body: str, action: str = SoapAction.STORED_QUERY.value) -> etree._Element:
    answer = Router(services).handle(envelope(body, action))
    assert isinstance(answer.body, bytes)
    return etree.fromstring(answer.body)


FD_PARAMS: dict[str, str | list[str]] = {
    "$XDSDocumentEntryPatientId": s(PATIENT),
    "$XDSDocumentEntryStatus": q(APPROVED, DEPRECATED),
}


class TestStoredQueryHandler:
    def test_routed_with_its_response_action(self) -> None:
        route = ROUTES[SoapAction.STORED_QUERY]
        assert route.handler is iti18.handle and route.response_action == SoapAction.STORED_QUERY_RESPONSE
        mpq = ROUTES[SoapAction.MULTI_PATIENT_QUERY]
        assert mpq.handler is iti18.handle_iti51
        assert mpq.response_action == SoapAction.MULTI_PATIENT_QUERY_RESPONSE

    def test_object_refs(self, database: Database, tmp_path: Path, world: World) -> None:
        root = post(services_for(database, tmp_path), adhoc(FindDocuments.query_id, FD_PARAMS))
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == SoapAction.STORED_QUERY_RESPONSE
        (response,) = root.xpath("env:Body/query:AdhocQueryResponse", namespaces=NS)
        assert response.get("status") == SUCCESS
        refs = response.xpath("rim:RegistryObjectList/rim:ObjectRef/@id", namespaces=NS)
        assert refs == [world.de1.entry_uuid, world.de2.entry_uuid, world.de3.entry_uuid]

    def test_leaf_class_with_current_status(self, database: Database, tmp_path: Path, world: World) -> None:
        body = adhoc(FindDocuments.query_id, FD_PARAMS, "LeafClass")
        response = post(services_for(database, tmp_path), body).find("env:Body/query:AdhocQueryResponse", NS)
        assert response is not None and response.get("status") == SUCCESS
        objects = response.xpath("rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS)
        statuses = {o.get("id"): o.get("status") for o in objects}
        assert statuses == {
            world.de1.entry_uuid: DEPRECATED,
            world.de2.entry_uuid: APPROVED,
            world.de3.entry_uuid: APPROVED,
        }
        patient_ids = response.xpath(
            "rim:RegistryObjectList/rim:ExtrinsicObject/rim:ExternalIdentifier"
            "[@identificationScheme='urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427']/@value",
            namespaces=NS,
        )
        assert set(patient_ids) == {PATIENT}

    def test_query_errors_are_failure_responses(
        self, database: Database, tmp_path: Path, world: World
    ) -> None:
        services = services_for(database, tmp_path)
        two_patients = {"$XDSDocumentEntryEntryUUID": q(world.de1.entry_uuid, world.de5.entry_uuid)}
        for body, code in (
            (adhoc("urn:uuid:00000000-0000-0000-0000-000000000000", FD_PARAMS), "XDSUnknownStoredQuery"),
            (
                adhoc(FindDocuments.query_id, {"$XDSDocumentEntryStatus": q(APPROVED)}),
                "XDSStoredQueryMissingParam",
            ),
            (adhoc(GetDocuments.query_id, two_patients, "LeafClass"), "XDSResultNotSinglePatient"),
        ):
            response = post(services, body).find("env:Body/query:AdhocQueryResponse", NS)
            assert response is not None and response.get("status") == FAILURE
            assert response.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS) == [code]
            assert response.xpath("count(rim:RegistryObjectList/*)", namespaces=NS) == 0

    def test_too_many_results(self, database: Database, tmp_path: Path, world: World) -> None:
        services = services_for(database, tmp_path, query_result_limit=2)
        response = post(services, adhoc(FindDocuments.query_id, FD_PARAMS)).find(
            "env:Body/query:AdhocQueryResponse", NS
        )
        assert response is not None
        assert response.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS) == [
            "XDSTooManyResults"
        ]

    def test_wrong_body(self, database: Database, tmp_path: Path) -> None:
        element = etree.fromstring(f'<query:Other xmlns:query="{NS["query"]}"/>')
        response = iti18.stored_query_response(
            element, services_for(database, tmp_path), Transaction.STORED_QUERY
        )
        assert response.get("status") == FAILURE


class TestMultiPatientHandler:
    MPQ = SoapAction.MULTI_PATIENT_QUERY.value
    PARAMS: ClassVar[dict[str, str | list[str]]] = {
        "$XDSDocumentEntryStatus": q(APPROVED),
        "$XDSDocumentEntryClassCode": q("Education^^1.3.6.1.4.1.21367.100.1"),
    }

    def test_disabled_is_action_not_supported(self, database: Database, tmp_path: Path, world: World) -> None:
        root = post(services_for(database, tmp_path), adhoc(self.mpq_id(), self.PARAMS), self.MPQ)
        assert root.find("env:Body/env:Fault", NS) is not None
        assert "ActionNotSupported" in etree.tostring(root).decode()

    def test_enabled(self, database: Database, tmp_path: Path, world: World) -> None:
        services = services_for(database, tmp_path, multi_patient_query=True)
        root = post(services, adhoc(self.mpq_id(), self.PARAMS), self.MPQ)
        assert (
            root.xpath("string(env:Header/wsa:Action)", namespaces=NS)
            == SoapAction.MULTI_PATIENT_QUERY_RESPONSE
        )
        refs = root.xpath(
            "env:Body/query:AdhocQueryResponse/rim:RegistryObjectList/rim:ObjectRef/@id", namespaces=NS
        )
        assert set(refs) == {world.de3.entry_uuid, world.de5.entry_uuid}

    @staticmethod
    def mpq_id() -> str:
        from xds_server.core.query.queries import FindDocumentsForMultiplePatients

        return FindDocumentsForMultiplePatients.query_id


@pytest.mark.parametrize(
    "section", ["and", "author", "creationtime_between", "classcode_scheme_mismatch", "old_scheme"]
)
def test_nist_11897_requests(database: Database, tmp_path: Path, world: World, section: str) -> None:
    """The testkit's own FindDocuments requests decode and answer with the expected status."""
    folder = Path(__file__).parents[2] / "conformance/nist-testkit/tests/11897" / section
    query_file = next(p for p in folder.iterdir() if p.name.lower() == "query.xml")
    text = query_file.read_text(encoding="utf-8").replace("$patient_id$", escape(PATIENT))
    expected = etree.parse(str(folder / "testplan.xml")).findtext(".//ExpectedStatus")
    response = iti18.stored_query_response(
        etree.fromstring(text.encode()), services_for(database, tmp_path), Transaction.STORED_QUERY
    )
    assert response.get("status").endswith(str(expected)), etree.tostring(response)[:600]
