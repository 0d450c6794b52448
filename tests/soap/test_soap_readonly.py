"""Read-only routes (soap/router.py ``Route.readonly``, soap/services.py ``Services.for_reading``, app.py
``unit_of_work_factory(readonly=True)``): ITI-18, ITI-51 and ITI-43 run in a read-only transaction, so on
SQLite their reads do not queue behind a submission that holds the write lock; their trace (issue 11) is a
write, committed before the answer: on SQLite it waits for the lock like any write.

The server's database waits only 300 ms for the write lock, so the tests holding the lock see the writes
(the traces included) fail quickly.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import SigningClient, install_authority
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.core.query import EVERYTHING, DocumentCriteria
from xds_server.core.query.queries import FindDocuments
from xds_server.core.vocabulary import SoapAction
from xds_server.soap.router import ROUTES
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.wiring import Services

SINGLE_DOC = Path(__file__).parent / "data" / "nist_12346_single_doc.xml"
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "xdsb": "urn:ihe:iti:xds-b:2007",
}
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
BUSY_TIMEOUT_MS = 300
READ_ACTIONS = {SoapAction.STORED_QUERY, SoapAction.MULTI_PATIENT_QUERY, SoapAction.RETRIEVE}


def envelope(action: str, body: str) -> bytes:
    return (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def new_oid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}"


def submission(patient: str) -> str:
    return (
        SINGLE_DOC.read_text(encoding="utf-8")
        .split("?>", 1)[1]
        .replace("$patientid$", escape(patient))
        .replace("$docuid$", new_oid())
        .replace("$ssuid$", new_oid())
    )


def find_documents(patient: str) -> str:
    slots = "".join(
        f'<rim:Slot name="{name}"><rim:ValueList><rim:Value>{escape(value)}</rim:Value>'
        "</rim:ValueList></rim:Slot>"
        for name, value in (
            ("$XDSDocumentEntryPatientId", f"'{patient}'"),
            ("$XDSDocumentEntryStatus", f"('{APPROVED}')"),
        )
    )
    return (
        f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
        '<query:ResponseOption returnComposedObjects="true" returnType="ObjectRef"/>'
        f'<rim:AdhocQuery id="{FindDocuments.query_id}">{slots}</rim:AdhocQuery></query:AdhocQueryRequest>'
    )


def retrieve(repository: str, unique_id: str) -> str:
    return (
        f'<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}"><xdsb:DocumentRequest>'
        f"<xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId>"
        f"<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId>"
        "</xdsb:DocumentRequest></xdsb:RetrieveDocumentSetRequest>"
    )


def post(client: TestClient, path: str, action: str, body: str) -> etree._Element:
    headers = {"Content-Type": "application/soap+xml"}
    response = client.post(path, content=envelope(action, body), headers=headers)
    assert response.status_code == 200, response.content[:500]
    return etree.fromstring(response.content)


def error_codes(element: etree._Element) -> list[str]:
    return [str(code) for code in element.xpath(".//rs:RegistryError/@errorCode", namespaces=NS)]


@pytest.fixture
def impatient(sqlite_database: Database) -> Iterator[Database]:
    """The same SQLite file, with writers that give up on the write lock after BUSY_TIMEOUT_MS."""
    url = sqlite_database.engine.url.render_as_string(hide_password=False)
    database = Database(url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    yield database
    database.dispose()


@pytest.fixture
def client(impatient: Database, tmp_path: Path) -> Iterator[SigningClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe", multi_patient_query=True)
    with SigningClient(create_app(settings, database=impatient), install_authority(tmp_path)) as test_client:
        yield test_client


@contextmanager
def write_lock_held(database: Database) -> Iterator[None]:
    """A submission in progress: a write transaction (BEGIN IMMEDIATE) that has written and not committed."""
    with database.transaction() as connection:
        busy = f"busy{secrets.token_hex(4)}^^^&1.2.3&ISO"
        SqlPatientDirectory(connection).add(busy, PatientState.ACTIVATED)
        yield


@pytest.fixture
def patient(sqlite_database: Database) -> str:
    patient = f"p{secrets.token_hex(5)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
    with sqlite_database.transaction() as connection:
        SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED)
    return patient


class TestRouteTable:
    def test_queries_and_retrieve_are_read_only_and_nothing_else(self) -> None:
        assert {action for action, route in ROUTES.items() if route.readonly} == READ_ACTIONS

    def test_for_reading_swaps_the_transaction(self, tmp_path: Path) -> None:
        def write() -> None: ...

        def read() -> None: ...

        services = Services(
            settings=Settings(data_dir=tmp_path, profile="ihe"),
            profile=None,  # type: ignore[arg-type]
            transaction=write,  # type: ignore[arg-type]
            clock=None,  # type: ignore[arg-type]
            ids=None,  # type: ignore[arg-type]
            read_transaction=read,  # type: ignore[arg-type]
        )
        assert services.for_reading().transaction is read
        assert services.transaction is write
        without = Services(
            settings=services.settings,
            profile=None,  # type: ignore[arg-type]
            transaction=write,  # type: ignore[arg-type]
            clock=None,  # type: ignore[arg-type]
            ids=None,  # type: ignore[arg-type]
        )
        assert without.for_reading() is without


class TestReadsUnderAWriter:
    """The read transaction itself never waits for the write lock; the read's TRACE is a write (issue 11:
    committed before the answer is sent), so on SQLite a read is answered once the writer lets go of the
    lock, and fails closed (an env:Receiver fault, no result) when it cannot get it within the timeout."""

    def test_the_read_transaction_does_not_take_the_lock(
        self, client: SigningClient, sqlite_database: Database, patient: str
    ) -> None:
        registered = post(client, "/xds/registry", SoapAction.REGISTER.value, submission(patient))
        assert registered.find("env:Body/rs:RegistryResponse", NS).get("status") == SUCCESS  # type: ignore[union-attr]
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        criteria = DocumentCriteria(patient_ids=frozenset({patient}))
        with write_lock_held(sqlite_database), services.for_reading().transaction() as work:
            assert work.queries is not None
            assert len(work.queries.find_documents(criteria, scope=EVERYTHING, limit=10, with_xml=False)) == 1

    def test_a_write_fails_while_the_lock_is_held(
        self, client: SigningClient, sqlite_database: Database, patient: str
    ) -> None:
        with write_lock_held(sqlite_database):
            response = client.post(
                "/xds/registry",
                content=envelope(SoapAction.REGISTER.value, submission(patient)),
                headers={"Content-Type": "application/soap+xml"},
            )
        # XDSRegistryBusy, whose trace could not be written either: fail closed
        assert response.status_code == 500 and b"could not be traced" in response.content

    @pytest.mark.parametrize(
        ("path", "action"),
        [
            ("/xds/registry", SoapAction.STORED_QUERY.value),
            ("/xds/registry", SoapAction.MULTI_PATIENT_QUERY.value),
            ("/xds/repository", SoapAction.RETRIEVE.value),
        ],
    )
    def test_a_read_whose_trace_cannot_be_written_is_not_answered(
        self, client: SigningClient, sqlite_database: Database, patient: str, path: str, action: str
    ) -> None:
        registered = post(client, "/xds/registry", SoapAction.REGISTER.value, submission(patient))
        assert registered.find("env:Body/rs:RegistryResponse", NS).get("status") == SUCCESS  # type: ignore[union-attr]
        repository = client.app.state.settings.repository_unique_id  # type: ignore[attr-defined]
        body = (
            retrieve(repository, new_oid())
            if action == SoapAction.RETRIEVE.value
            else find_documents(patient)
        )
        with write_lock_held(sqlite_database):
            response = client.post(
                path, content=envelope(action, body), headers={"Content-Type": "application/soap+xml"}
            )
        assert response.status_code == 500 and b"could not be traced" in response.content
        assert b"ObjectRef" not in response.content
        answer = post(client, path, action, body)  # the lock released: answered (and traced)
        assert b"could not be traced" not in etree.tostring(answer)
