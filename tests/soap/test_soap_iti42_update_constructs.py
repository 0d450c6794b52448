"""ITI-42 carrying Metadata Update constructs, through the real register path (create_app, SQL registry,
signed requests): a new version of a registered DocumentEntry (``lid`` = the registered entry, HasMember with
a ``PreviousVersion`` slot) is an ITI-57 operation; sent through ITI-42 it is refused with
XDSRegistryMetadataError (NIST 21000: "an update sent through ITI-42 must be rejected", expected code
XDSRegistryMetadataError) and nothing is written. core/validation/original.py holds the rule."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from sqlalchemy import func, select

from tests.identity_helpers import SigningClient, signing_client
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import SoapAction
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.tables import registry_object

SINGLE_DOC = Path(__file__).parent / "data" / "nist_12346_single_doc.xml"
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
}
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
HAS_MEMBER_SLOT = '<rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original</rim:Value>'
PREVIOUS_VERSION = (
    '<rim:Slot name="PreviousVersion"><rim:ValueList><rim:Value>1</rim:Value></rim:ValueList></rim:Slot>'
)


def new_oid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}"


def envelope(body: str) -> bytes:
    return (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{SoapAction.REGISTER.value}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def submission(patient: str, *, doc_uid: str, entry_id: str = "Document01", lid: str | None = None) -> str:
    text = (
        SINGLE_DOC.read_text(encoding="utf-8")
        .split("?>", 1)[1]
        .replace("$patientid$", escape(patient))
        .replace("$docuid$", doc_uid)
        .replace("$ssuid$", new_oid())
        .replace('"Document01"', f'"{entry_id}"')
    )
    if lid is not None:
        text = text.replace(
            f'<rim:ExtrinsicObject id="{entry_id}"', f'<rim:ExtrinsicObject id="{entry_id}" lid="{lid}"'
        )
    return text


def register(client: SigningClient, body: str) -> etree._Element:
    response = client.post(
        "/xds/registry", content=envelope(body), headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 200, response.content[:500]
    found = etree.fromstring(response.content).find("env:Body/rs:RegistryResponse", NS)
    assert found is not None
    return found


def codes(response: etree._Element) -> list[str]:
    return [str(c) for c in response.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS)]


def object_count(database: Database) -> int:
    with database.transaction(readonly=True) as connection:
        return int(connection.execute(select(func.count()).select_from(registry_object)).scalar_one())


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[SigningClient]:
    settings = Settings(data_dir=tmp_path, profile="ihe")
    with signing_client(settings, database) as test_client:
        yield test_client


@pytest.fixture
def patient(database: Database) -> str:
    patient = f"p{secrets.token_hex(5)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED)
    return patient


@pytest.fixture
def original(client: SigningClient, patient: str) -> tuple[str, str]:
    """A registered DocumentEntry: (entryUUID, uniqueId)."""
    entry_uuid, doc_uid = f"urn:uuid:{uuid.uuid4()}", new_oid()
    response = register(client, submission(patient, doc_uid=doc_uid, entry_id=entry_uuid))
    assert response.get("status") == SUCCESS, codes(response)
    return entry_uuid, doc_uid


class TestNewVersionThroughIti42:
    def test_lid_of_a_registered_entry_is_refused(
        self, client: SigningClient, database: Database, patient: str, original: tuple[str, str]
    ) -> None:
        entry_uuid, doc_uid = original
        before = object_count(database)
        response = register(client, submission(patient, doc_uid=doc_uid, lid=entry_uuid))
        assert response.get("status") == FAILURE
        assert codes(response) == ["XDSRegistryMetadataError"]
        assert object_count(database) == before

    def test_has_member_with_previous_version_is_refused(
        self, client: SigningClient, database: Database, patient: str, original: tuple[str, str]
    ) -> None:
        entry_uuid, doc_uid = original
        body = submission(patient, doc_uid=doc_uid, lid=entry_uuid).replace(
            HAS_MEMBER_SLOT, PREVIOUS_VERSION + HAS_MEMBER_SLOT
        )
        before = object_count(database)
        response = register(client, body)
        assert response.get("status") == FAILURE
        assert set(codes(response)) == {"XDSRegistryMetadataError"}
        assert len(codes(response)) == 2  # the lid and the PreviousVersion slot
        assert object_count(database) == before

    def test_previous_version_alone_is_refused(
        self, client: SigningClient, database: Database, patient: str
    ) -> None:
        body = submission(patient, doc_uid=new_oid()).replace(
            HAS_MEMBER_SLOT, PREVIOUS_VERSION + HAS_MEMBER_SLOT
        )
        response = register(client, body)
        assert response.get("status") == FAILURE
        assert codes(response) == ["XDSRegistryMetadataError"]
        assert object_count(database) == 0

    def test_lid_equal_to_its_own_id_is_an_original(self, client: SigningClient, patient: str) -> None:
        entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        response = register(
            client, submission(patient, doc_uid=new_oid(), entry_id=entry_uuid, lid=entry_uuid)
        )
        assert response.get("status") == SUCCESS, codes(response)
