"""The DMP rules end to end: SOAP requests signed with dev assertions against the real application (``dmp``
profile, the configured test database), each rule written from the attacker's side first (the forbidden read
is refused or the document is absent everywhere it could show), then the allowed side.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.core.builders import DMP_PATIENT, INS, TYPE, code, dmp_document, dmp_submission, folder, member
from tests.identity_helpers import security_block, sign, trusting_app
from tests.query.builders import adhoc
from tests.repository.messages import mtom as multipart
from tests.update.registry import next_version, status_update, update_request
from xds_server.config import Settings
from xds_server.core.metadata import Association, Author, DocumentEntry, LocalizedText, Submission
from xds_server.core.policy import PS_NATIONAL_ID_OID, AccessMode
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, AssociationType, SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.wiring import Services

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
NS = {
    "env": SOAP12,
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "xdsb": "urn:ihe:iti:xds-b:2007",
}
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
GET_SS_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
GET_RELATED = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"

#: CR d'anatomie et de cytologie pathologiques: médecins read it, the matrix does not let kinés read it.
ANAPATH = code("11526-1", TYPE[1])
CONTENT = b"%PDF-1.4 a DMP test document"
OTHER_INS = "155081416802588"  # another valid NIR (key 88)


def professional(
    national_id: str, profession: str = "10", structure: str = "S-OTHER", **more: object
) -> Identity:
    savoir_faire = "SM26" if profession == "10" else None
    fields: dict[str, object] = {
        "national_id": national_id,
        "profession": profession,
        "savoir_faire": savoir_faire,
        "structure": structure,
        "patient": DMP_PATIENT,
    }
    return Identity(**{**fields, **more})  # type: ignore[arg-type]


AUTHOR = professional("810000000001", structure="S-AUTHOR")
COLLEAGUE = professional("810000000009", structure="S-AUTHOR")  # same structure as the author
MEDECIN = professional("810000000002")
KINE = professional("810000000003", profession="70")
ADMINISTRATOR = professional("810000000004")
STRANGER = professional("810000000005")  # no consent, not médecin traitant


def authored_by(identity: Identity) -> Author:
    return Author(
        person=f"{identity.national_id}^DOC^Test^^^^^^&{PS_NATIONAL_ID_OID}&ISO^D^^^IDNPS",
        institutions=(f"Structure^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{identity.structure}",),
    )


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def document(*, type_code: object = None, masked: bool = False, author: Identity = AUTHOR) -> DocumentEntry:
    confidentiality = [code("N", "2.16.840.1.113883.5.25")]
    if masked:
        confidentiality.append(code("MASQUE_PS", DMP_VISIBILITY_OID))
    return dmp_document(
        new_uuid(),
        authors=(authored_by(author),),
        confidentiality_codes=tuple(confidentiality),
        hash=hashlib.sha1(CONTENT).hexdigest(),
        size=str(len(CONTENT)),
        repository_unique_id=Settings().repository_unique_id,
        **({"type_code": type_code} if type_code is not None else {}),
    )


def envelope(action: str, body: etree._Element | str) -> bytes:
    text = body if isinstance(body, str) else etree.tostring(body).decode()
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID></env:Header>"
        f"<env:Body>{text}</env:Body></env:Envelope>"
    ).encode()


@dataclass(frozen=True)
class Answer:
    status: str
    codes: tuple[str, ...]
    messages: tuple[str, ...]
    ids: tuple[str, ...] = ()
    xml: bytes = b""


@dataclass
class Dmp:
    client: TestClient
    database: Database
    authority: DevAuthority
    services: Services

    # -- the patient's record ---------------------------------------------------------------------------

    def record(
        self,
        state: PatientState = PatientState.ACTIVATED,
        *,
        patient: str = DMP_PATIENT,
        authorised: Sequence[Identity] = (),
        blocked: Sequence[Identity] = (),
        administrators: Sequence[Identity] = (),
        samu: bool | None = None,
        break_glass: bool | None = None,
    ) -> None:
        with self.database.transaction() as connection:
            SqlPatientDirectory(connection).add(patient, state)
            records = SqlRecordStore(connection)
            for who in authorised:
                records.authorize(patient, who.national_id)
            for who in blocked:
                records.block(patient, who.national_id)
            for who in administrators:
                records.set_settings(patient, administrator=who.national_id)
            records.set_settings(patient, samu=samu, break_glass=break_glass)

    # -- transactions -------------------------------------------------------------------------------------

    def post(self, identity: Identity | None, message: bytes, path: str = "/xds/registry") -> etree._Element:
        data = sign(message, self.authority, identity) if identity is not None else message
        response = self.client.post(path, content=data, headers={"Content-Type": "application/soap+xml"})
        self.last_status = response.status_code
        return etree.fromstring(response.content)

    def register(self, identity: Identity, submission: Submission) -> Answer:
        root = self.post(identity, envelope(SoapAction.REGISTER, encode_submission(submission)))
        return _answer(root, "env:Body/rs:RegistryResponse")

    def deposit(self, identity: Identity, *docs: DocumentEntry, extra: Sequence[object] = ()) -> Submission:
        """Register ``docs`` in one submission (asserting success) and store their content."""
        submission = dmp_submission(*docs)
        submission = dataclasses.replace(
            submission,
            submission_sets=(dataclasses.replace(submission.submission_sets[0], entry_uuid=new_uuid()),),
        )
        ss = submission.submission_sets[0].entry_uuid
        submission = dataclasses.replace(
            submission,
            associations=(*(member(ss, d.entry_uuid, entry_uuid=new_uuid()) for d in docs), *extra),  # type: ignore[misc]
        )
        answer = self.register(identity, submission)
        assert answer.status == SUCCESS, answer
        path = self.services.settings.data_dir / "content.bin"
        path.write_bytes(CONTENT)
        assert self.services.blobs is not None
        self.services.blobs.put_file(hashlib.sha1(CONTENT).hexdigest(), path)
        return submission

    def query(
        self, identity: Identity, query_id: str, params: dict[str, str], return_type: str = "ObjectRef"
    ) -> Answer:
        root = self.post(identity, envelope(SoapAction.STORED_QUERY, adhoc(query_id, params, return_type)))
        answer = _answer(root, "env:Body/query:AdhocQueryResponse")
        response = root.find("env:Body/query:AdhocQueryResponse", NS)
        assert response is not None
        ids = tuple(e.get("id", "") for e in response.iterfind("rim:RegistryObjectList/*", NS))
        return dataclasses.replace(answer, ids=ids, xml=etree.tostring(response))

    def find(self, identity: Identity) -> Answer:
        return self.query(
            identity,
            FIND_DOCUMENTS,
            {"$XDSDocumentEntryPatientId": f"'{DMP_PATIENT}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"},
        )

    def retrieve(self, identity: Identity, unique_id: str) -> Answer:
        body = (
            f'<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}"><xdsb:DocumentRequest>'
            f"<xdsb:RepositoryUniqueId>{self.services.settings.repository_unique_id}</xdsb:RepositoryUniqueId>"
            f"<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
            "</xdsb:RetrieveDocumentSetRequest>"
        )
        response = self.client.post(
            "/xds/repository",
            content=sign(envelope(SoapAction.RETRIEVE, body), self.authority, identity),
            headers={"Content-Type": "application/soap+xml"},
        )
        content = response.content
        start = content.index(b"<env:Envelope") if b"<env:Envelope" in content else content.index(b"<")
        end = content.index(b"Envelope>", content.rindex(b"</")) + len(b"Envelope>")
        root = etree.fromstring(content[start:end])
        answer = _answer(root, "env:Body/xdsb:RetrieveDocumentSetResponse/rs:RegistryResponse")
        uids = tuple(
            e.text or ""
            for e in root.iterfind(
                "env:Body/xdsb:RetrieveDocumentSetResponse/xdsb:DocumentResponse/xdsb:DocumentUniqueId", NS
            )
        )
        return dataclasses.replace(answer, ids=uids)


def _answer(root: etree._Element, path: str) -> Answer:
    response = root.find(path, NS)
    assert response is not None, etree.tostring(root)[:800]
    errors = list(response.iter(f"{{{NS['rs']}}}RegistryError"))
    return Answer(
        response.get("status", ""),
        tuple(e.get("errorCode", "") for e in errors),
        tuple(e.get("codeContext", "") for e in errors),
    )


@pytest.fixture
def dmp(database: Database, tmp_path: Path) -> Iterator[Dmp]:
    app, authority = trusting_app(Settings(data_dir=tmp_path, profile="dmp-test"), database)
    with TestClient(app) as client:
        yield Dmp(client, database, authority, app.state.services)


def refused(answer: Answer, code: str) -> None:
    assert answer.status == FAILURE, answer
    assert answer.codes == (code,), answer
    assert answer.ids == ()


# ---- identity ---------------------------------------------------------------------------------------------


def fault(dmp: Dmp, root: etree._Element) -> str:
    assert dmp.last_status == 400
    assert root.findtext("env:Body/env:Fault/env:Code/env:Value", namespaces=NS) == "env:Sender"
    return root.findtext("env:Body/env:Fault/env:Code/env:Subcode/env:Value", namespaces=NS) or ""


class TestIdentity:
    def _find_message(self) -> bytes:
        query = adhoc(FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": f"'{DMP_PATIENT}'",
                                       "$XDSDocumentEntryStatus": f"('{APPROVED}')"})  # fmt: skip
        return envelope(SoapAction.STORED_QUERY, query)

    def test_no_assertion_is_invalid_security(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        root = dmp.post(None, self._find_message())
        assert fault(dmp, root) == "wsse:InvalidSecurity"
        assert b"RegistryObjectList" not in etree.tostring(root)

    def test_signature_wrapping_is_refused(self, dmp: Dmp) -> None:
        """A forged assertion wrapping a genuine signed one: the attacker's identity is never read."""
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        genuine = etree.fromstring(security_block(dmp.authority, STRANGER))
        signed = genuine[0]
        forged = etree.fromstring(etree.tostring(signed))
        forged.find(
            "{urn:oasis:names:tc:SAML:2.0:assertion}Subject/{urn:oasis:names:tc:SAML:2.0:assertion}NameID"
        ).text = MEDECIN.national_id  # type: ignore[union-attr]
        forged.remove(forged.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))  # type: ignore[arg-type]
        # the forged assertion is read first; the signed one hides in its Advice
        advice = etree.SubElement(forged, "{urn:oasis:names:tc:SAML:2.0:assertion}Advice")
        advice.append(signed)
        genuine.append(forged)
        root = dmp.post(None, _insert(self._find_message(), etree.tostring(genuine)))
        assert fault(dmp, root) == "wsse:InvalidSecurity"

    def test_tampered_assertion_fails_authentication(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        block = security_block(dmp.authority, STRANGER)
        tampered = block.replace(STRANGER.national_id.encode(), MEDECIN.national_id.encode())
        root = dmp.post(None, _insert(self._find_message(), tampered))
        assert fault(dmp, root) == "wsse:FailedAuthentication"

    def test_expired_assertion_fails_authentication(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        old = datetime.now(UTC) - timedelta(hours=2)
        block = security_block(dmp.authority, MEDECIN, now=old, ttl=timedelta(minutes=30))
        root = dmp.post(None, _insert(self._find_message(), block))
        assert fault(dmp, root) == "wsse:FailedAuthentication"

    def test_assertion_for_another_patient_is_refused(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        other = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
        dmp.record(patient=other, authorised=[MEDECIN])
        refused(dmp.find(dataclasses.replace(MEDECIN, patient=other)), "DMPAccessDenied")

    def test_valid_assertion_is_served(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        submission = dmp.deposit(AUTHOR, document())
        answer = dmp.find(MEDECIN)
        assert answer.status == SUCCESS
        assert answer.ids == (submission.documents[0].entry_uuid,)


def _insert(message: bytes, block: bytes) -> bytes:
    marker = b"<env:Header>"
    return message.replace(marker, marker + block, 1)


# ---- record state -------------------------------------------------------------------------------------


class TestRecordState:
    """No record, an opposed and a closed record: one and the same answer, on reads and on writes."""

    def _answers(self, dmp: Dmp) -> tuple[Answer, Answer]:
        read = dmp.find(MEDECIN)
        write = dmp.register(MEDECIN, dmp_submission(document(author=MEDECIN)))
        return dataclasses.replace(read, xml=b""), write

    def test_absent_opposed_closed_answer_identically(self, dmp: Dmp) -> None:
        absent = self._answers(dmp)
        dmp.record(PatientState.OPPOSED, authorised=[MEDECIN])
        opposed = self._answers(dmp)
        dmp.record(PatientState.CLOSED)
        closed = self._answers(dmp)
        assert absent == opposed == closed
        read, write = absent
        refused(read, "XDSUnknownPatientId")
        refused(write, "XDSUnknownPatientId")
        assert read.messages == write.messages == ("DMP closed or does not exist",)

    def test_created_record_can_be_fed_and_read(self, dmp: Dmp) -> None:
        dmp.record(PatientState.CREATED, authorised=[MEDECIN])
        submission = dmp.deposit(MEDECIN, document(author=MEDECIN))
        assert dmp.find(MEDECIN).ids == (submission.documents[0].entry_uuid,)


# ---- matrix ---------------------------------------------------------------------------------------------


class TestMatrix:
    """Kiné vs médecin on a type the matrix lets médecins read and not kinés."""

    def test_kine_never_sees_the_document(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE, MEDECIN])
        seen = document()
        hidden = document(type_code=ANAPATH)
        submission = dmp.deposit(AUTHOR, seen, hidden)
        ss = submission.submission_sets[0].entry_uuid
        # not an entry, not an ObjectRef
        assert dmp.find(KINE).ids == (seen.entry_uuid,)
        find = {
            "$XDSDocumentEntryPatientId": f"'{DMP_PATIENT}'",
            "$XDSDocumentEntryStatus": f"('{APPROVED}')",
        }
        leaf = dmp.query(KINE, FIND_DOCUMENTS, find, "LeafClass")
        assert hidden.entry_uuid.encode() not in leaf.xml and hidden.unique_id.encode() not in leaf.xml  # type: ignore[union-attr]
        by_id = dmp.query(KINE, GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": f"('{hidden.entry_uuid}')"})
        assert by_id.status == SUCCESS and by_id.ids == ()
        # not through associations or the submission set's contents
        associations = dmp.query(KINE, GET_ASSOCIATIONS, {"$uuid": f"('{ss}')"}, "LeafClass")
        assert hidden.entry_uuid.encode() not in associations.xml
        contents = dmp.query(
            KINE, GET_SS_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": f"'{ss}'"}, "LeafClass"
        )
        assert contents.status == SUCCESS and hidden.entry_uuid.encode() not in contents.xml
        assert seen.entry_uuid.encode() in contents.xml
        related_params = {
            "$XDSDocumentEntryEntryUUID": f"'{hidden.entry_uuid}'",
            "$AssociationTypes": f"('{AssociationType.REPLACE}')",
        }
        related = dmp.query(KINE, GET_RELATED, related_params)
        assert related.ids == ()
        # ITI-43: exactly like an unknown document (same code, same message shape)
        retrieved = dmp.retrieve(KINE, hidden.unique_id or "")
        unknown = dmp.retrieve(KINE, "1.2.250.1.999.404")
        refused(retrieved, "XDSDocumentUniqueIdError")
        assert retrieved.messages[0].replace(hidden.unique_id or "", "X") == unknown.messages[0].replace(
            "1.2.250.1.999.404", "X"
        )

    def test_kine_may_not_deposit_the_type(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE])
        answer = dmp.register(KINE, dmp_submission(document(type_code=ANAPATH, author=KINE)))
        refused(answer, "DMPDocumentTypeNotAllowed")

    def test_medecin_sees_and_retrieves_it(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE, MEDECIN])
        hidden = document(type_code=ANAPATH)
        dmp.deposit(AUTHOR, hidden)
        assert dmp.find(MEDECIN).ids == (hidden.entry_uuid,)
        retrieved = dmp.retrieve(MEDECIN, hidden.unique_id or "")
        assert retrieved.status == SUCCESS and retrieved.ids == (hidden.unique_id,)


# ---- masking --------------------------------------------------------------------------------------------


class TestMasquePs:
    """MASQUE_PS: hidden from every professional but the author and the administrator doctors."""

    def test_authorised_professional_never_sees_it(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], administrators=[ADMINISTRATOR])
        masked = document(masked=True)
        submission = dmp.deposit(AUTHOR, masked)
        ss = submission.submission_sets[0].entry_uuid
        assert dmp.find(MEDECIN).ids == ()
        assert (
            dmp.query(MEDECIN, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": f"('{masked.unique_id}')"}).ids
            == ()
        )
        assert dmp.query(MEDECIN, GET_ASSOCIATIONS, {"$uuid": f"('{masked.entry_uuid}')"}).ids == ()
        contents = dmp.query(MEDECIN, GET_SS_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": f"'{ss}'"})
        assert (
            contents.status == SUCCESS and contents.ids == ()
        )  # its only entry is hidden: so is the package
        refused(dmp.retrieve(MEDECIN, masked.unique_id or ""), "XDSDocumentUniqueIdError")

    def test_stays_hidden_from_an_administrator_in_break_glass(self, dmp: Dmp) -> None:
        dmp.record(administrators=[ADMINISTRATOR])
        dmp.deposit(AUTHOR, document(masked=True))
        urgent = dataclasses.replace(ADMINISTRATOR, mode=AccessMode.BREAK_GLASS, reason="malaise")
        answer = dmp.find(urgent)
        assert answer.status == SUCCESS and answer.ids == ()

    def test_author_and_administrator_see_it(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN, AUTHOR], administrators=[ADMINISTRATOR])
        masked = document(masked=True)
        dmp.deposit(AUTHOR, masked)
        assert dmp.find(AUTHOR).ids == (masked.entry_uuid,)
        assert dmp.find(ADMINISTRATOR).ids == (masked.entry_uuid,)
        assert dmp.retrieve(ADMINISTRATOR, masked.unique_id or "").ids == (masked.unique_id,)

    def test_masque_ps_with_invisible_patient_is_refused(self, dmp: Dmp) -> None:
        dmp.record()
        doc = document(masked=True)
        doc = dataclasses.replace(
            doc,
            confidentiality_codes=(*doc.confidentiality_codes, code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID)),
        )
        refused(dmp.register(AUTHOR, dmp_submission(doc)), "DMPMaskingConflict")


# ---- replacement: the author or his structure ----------------------------------------------------------


class TestReplacement:
    def _replacement(self, dmp: Dmp, original: DocumentEntry, by: Identity) -> Answer:
        new = document(author=by)
        submission = dmp_submission(new)
        rplc = dataclasses.replace(
            member(submission.submission_sets[0].entry_uuid, new.entry_uuid),
            entry_uuid="Rplc01",
            association_type=AssociationType.REPLACE.value,
            source=new.entry_uuid,
            target=original.entry_uuid,
            slots=(),
        )
        return dmp.register(
            by, dataclasses.replace(submission, associations=(*submission.associations, rplc))
        )

    def test_other_professional_may_not_replace(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        original = document()
        dmp.deposit(AUTHOR, original)
        refused(self._replacement(dmp, original, MEDECIN), "DMPAccessDenied")

    def test_hidden_original_is_answered_as_unknown(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        masked = document(masked=True)
        dmp.deposit(AUTHOR, masked)
        hidden = self._replacement(dmp, masked, MEDECIN)
        ghost = self._replacement(dmp, document(), MEDECIN)  # never registered
        assert hidden.status == ghost.status == FAILURE
        assert hidden.codes == ghost.codes
        assert [m.replace(masked.entry_uuid, "X") for m in hidden.messages] == [
            m.replace(ghost.messages[0].split()[1], "X") for m in ghost.messages
        ]

    def test_author_and_his_structure_may_replace(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        first, second = document(), document()
        dmp.deposit(AUTHOR, first, second)
        assert self._replacement(dmp, first, AUTHOR).status == SUCCESS
        assert self._replacement(dmp, second, COLLEAGUE).status == SUCCESS


# ---- blocked, emergency modes ---------------------------------------------------------------------------


class TestBlocked:
    def test_blocked_professional_neither_reads_nor_writes_in_any_mode(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], blocked=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        refused(dmp.find(MEDECIN), "DMPAccessDenied")
        urgent = dataclasses.replace(MEDECIN, mode=AccessMode.BREAK_GLASS, reason="urgence vitale")
        refused(dmp.find(urgent), "DMPAccessDenied")
        refused(dmp.retrieve(MEDECIN, "1.2.3"), "DMPAccessDenied")
        refused(dmp.register(MEDECIN, dmp_submission(document(author=MEDECIN))), "DMPAccessDenied")
        # the message does not say the patient blocked him
        assert "block" not in dmp.find(MEDECIN).messages[0].lower()

    def test_not_blocked_professional_reads(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], blocked=[KINE])
        submission = dmp.deposit(AUTHOR, document())
        assert dmp.find(MEDECIN).ids == (submission.documents[0].entry_uuid,)


class TestBreakGlass:
    def test_no_basis_and_no_reason_are_refused(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.deposit(AUTHOR, document())
        refused(dmp.find(STRANGER), "DMPAccessDenied")
        assert "consent" in dmp.find(STRANGER).messages[0]
        no_reason = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS)
        answer = dmp.find(no_reason)
        refused(answer, "DMPAccessDenied")
        assert "reason" in answer.messages[0]

    def test_break_glass_refused_by_the_patient(self, dmp: Dmp) -> None:
        dmp.record(break_glass=False)
        dmp.deposit(AUTHOR, document())
        refused(
            dmp.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="coma")),
            "DMPAccessDenied",
        )

    def test_break_glass_with_reason_reads(self, dmp: Dmp) -> None:
        dmp.record()
        submission = dmp.deposit(AUTHOR, document())
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="patient inconscient")
        assert dmp.find(urgent).ids == (submission.documents[0].entry_uuid,)


class TestRegulation:
    def test_regulation_refused_by_the_patient(self, dmp: Dmp) -> None:
        dmp.record(samu=False)
        dmp.deposit(AUTHOR, document())
        regulator = dataclasses.replace(STRANGER, mode=AccessMode.REGULATION)
        refused(dmp.find(regulator), "DMPAccessDenied")
        refused(dmp.retrieve(regulator, "1.2.3"), "DMPAccessDenied")

    def test_regulation_allowed_by_default(self, dmp: Dmp) -> None:
        dmp.record()
        submission = dmp.deposit(AUTHOR, document())
        regulator = dataclasses.replace(STRANGER, mode=AccessMode.REGULATION)
        assert dmp.find(regulator).ids == (submission.documents[0].entry_uuid,)


def test_ins_fixture_is_the_builders_patient() -> None:
    assert DMP_PATIENT.startswith(INS)


# ---- ITI-57 masking changes ------------------------------------------------------------------------------


class TestMaskingUpdate:
    """ITI-57: masking changes by the author, his structure and the administrator doctors; nobody else, and
    administrator doctors change nothing but the masking."""

    def _update(self, dmp: Dmp, by: Identity, original: DocumentEntry, **changes: object) -> Answer:
        new = next_version(original, original.entry_uuid, "NewVersion01", **changes)
        request = update_request(new, patient_id=DMP_PATIENT)
        root = dmp.post(by, envelope(SoapAction.UPDATE, encode_submission(request)))
        return _answer(root, "env:Body/rs:RegistryResponse")

    @staticmethod
    def _masked(doc: DocumentEntry) -> tuple[object, ...]:
        return (*doc.confidentiality_codes, code("MASQUE_PS", DMP_VISIBILITY_OID))

    def test_other_professional_may_not_mask_or_edit(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], administrators=[ADMINISTRATOR])
        original = document()
        dmp.deposit(AUTHOR, original)
        masking = self._update(dmp, MEDECIN, original, confidentiality_codes=self._masked(original))
        refused(masking, "DMPAccessDenied")
        retitled = self._update(dmp, ADMINISTRATOR, original, title=LocalizedText("another title"))
        refused(retitled, "DMPAccessDenied")

    def test_hidden_document_is_an_unknown_logical_id(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        masked = document(masked=True)
        dmp.deposit(AUTHOR, masked)
        unmask = (code("N", "2.16.840.1.113883.5.25"),)
        hidden = self._update(dmp, MEDECIN, masked, confidentiality_codes=unmask)
        unknown_lid = new_uuid()  # never registered
        ghost = self._update(dmp, MEDECIN, dataclasses.replace(masked, entry_uuid=unknown_lid))
        assert hidden.status == ghost.status == FAILURE
        assert hidden.codes == ghost.codes == ("XDSMetadataVersionError",)
        assert hidden.messages[0].replace(masked.entry_uuid, "X") == ghost.messages[0].replace(
            unknown_lid, "X"
        )

    def test_only_the_author_deprecates(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        original = document()
        dmp.deposit(AUTHOR, original)
        request = update_request(associations=[status_update(original.entry_uuid)], patient_id=DMP_PATIENT)

        def deprecate(by: Identity) -> Answer:
            root = dmp.post(by, envelope(SoapAction.UPDATE, encode_submission(request)))
            return _answer(root, "env:Body/rs:RegistryResponse")

        refused(deprecate(MEDECIN), "DMPAccessDenied")
        assert deprecate(AUTHOR).status == SUCCESS

    def test_administrator_masks(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], administrators=[ADMINISTRATOR])
        original = document()
        dmp.deposit(AUTHOR, original)
        answer = self._update(dmp, ADMINISTRATOR, original, confidentiality_codes=self._masked(original))
        assert answer.status == SUCCESS, answer
        assert dmp.find(MEDECIN).ids == ()  # the new version is masked

    def test_author_structure_masks(self, dmp: Dmp) -> None:
        dmp.record()
        original = document()
        dmp.deposit(AUTHOR, original)
        answer = self._update(dmp, COLLEAGUE, original, confidentiality_codes=self._masked(original))
        assert answer.status == SUCCESS, answer


# ---- folders, counts, references ------------------------------------------------------------------------

GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_FOLDERS_FOR_DOCUMENT = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"


class TestFolders:
    def _filed(self, dmp: Dmp, *docs: DocumentEntry) -> str:
        """Register ``docs`` with a folder holding all of them; the folder's entryUUID."""
        folder_id = new_uuid()
        submission = dmp_submission(*docs)
        ss = submission.submission_sets[0].entry_uuid
        links = []
        for doc in docs:
            link = new_uuid()
            links += [
                Association(entry_uuid=link, source=folder_id, target=doc.entry_uuid),
                Association(entry_uuid=new_uuid(), source=ss, target=link),
            ]
        submission = dataclasses.replace(
            submission,
            folders=(folder(folder_id, patient_id=DMP_PATIENT),),
            associations=(*submission.associations, member(ss, folder_id, status=None), *links),
        )
        assert dmp.register(AUTHOR, submission).status == SUCCESS
        return folder_id

    def test_folder_contents_never_show_the_hidden_document(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE, MEDECIN])
        seen, hidden = document(), document(type_code=ANAPATH)
        folder_id = self._filed(dmp, seen, hidden)
        contents = dmp.query(
            KINE, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": f"'{folder_id}'"}, "LeafClass"
        )
        assert contents.status == SUCCESS and seen.entry_uuid.encode() in contents.xml
        assert hidden.entry_uuid.encode() not in contents.xml
        refs = dmp.query(KINE, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": f"'{folder_id}'"})
        assert len(refs.ids) == 3  # the folder, the visible entry and its folder link: no more
        for_hidden = dmp.query(
            KINE, GET_FOLDERS_FOR_DOCUMENT, {"$XDSDocumentEntryEntryUUID": f"'{hidden.entry_uuid}'"}
        )
        assert for_hidden.status == SUCCESS and for_hidden.ids == ()
        # the médecin sees the whole folder
        full = dmp.query(MEDECIN, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": f"'{folder_id}'"})
        assert len(full.ids) == 5
        assert dmp.query(
            MEDECIN, GET_FOLDERS_FOR_DOCUMENT, {"$XDSDocumentEntryEntryUUID": f"'{hidden.entry_uuid}'"}
        ).ids == (folder_id,)

    def test_filing_a_hidden_document_is_answered_as_unknown(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE])
        hidden = document(type_code=ANAPATH)
        dmp.deposit(AUTHOR, hidden)

        def file(target: str) -> Answer:
            folder_id = new_uuid()
            submission = dmp_submission(document(author=KINE))
            ss = submission.submission_sets[0].entry_uuid
            link = Association(entry_uuid="Link01", source=folder_id, target=target)
            submission = dataclasses.replace(
                submission,
                folders=(folder(folder_id, patient_id=DMP_PATIENT),),
                associations=(*submission.associations, member(ss, folder_id, status=None), link,
                              Association(entry_uuid="SsLink01", source=ss, target="Link01")),
            )  # fmt: skip
            return dmp.register(KINE, submission)

        hidden_answer, ghost = file(hidden.entry_uuid), file("urn:uuid:00000000-0000-4000-8000-000000000000")
        assert hidden_answer.status == ghost.status == FAILURE
        assert hidden_answer.codes == ghost.codes == ("XDSRegistryMetadataError",)
        assert hidden_answer.messages[0].replace(hidden.entry_uuid, "X") == ghost.messages[0].replace(
            "urn:uuid:00000000-0000-4000-8000-000000000000", "X"
        )


class TestCounts:
    def test_hidden_documents_never_count_toward_too_many_results(
        self, database: Database, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, profile="dmp-test", query_result_limit=1)
        app, authority = trusting_app(settings, database)
        with TestClient(app) as client:
            dmp = Dmp(client, database, authority, app.state.services)
            dmp.record(authorised=[KINE, MEDECIN])
            seen, hidden = document(), document(type_code=ANAPATH)
            dmp.deposit(AUTHOR, seen, hidden)
            assert dmp.find(KINE).ids == (seen.entry_uuid,)  # one visible: within the limit
            refused(dmp.find(MEDECIN), "XDSTooManyResults")  # two visible


# ---- binding, secret connection, removal, other records ------------------------------------------------


class TestBinding:
    def test_other_patient_is_refused_whether_or_not_he_has_a_dmp(self, dmp: Dmp) -> None:
        """A professional bound to one patient learns nothing about another patient's record."""
        dmp.record(authorised=[MEDECIN])
        other = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"

        def about_other() -> tuple[Answer, Answer]:
            query = {"$XDSDocumentEntryPatientId": f"'{other}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"}
            read = dataclasses.replace(dmp.query(MEDECIN, FIND_DOCUMENTS, query), xml=b"")
            doc = dataclasses.replace(document(author=MEDECIN), patient_id=other, source_patient_id=other)
            ss = dataclasses.replace(dmp_submission().submission_sets[0], patient_id=other)
            write = dmp.register(MEDECIN, dmp_submission(doc, ss=ss))
            return read, write

        without = about_other()
        dmp.record(patient=other, authorised=[MEDECIN])
        with_record = about_other()
        assert without == with_record
        refused(without[0], "DMPAccessDenied")
        refused(without[1], "DMPAccessDenied")

    def test_document_of_another_record_is_unknown_to_iti43(self, dmp: Dmp) -> None:
        other = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
        dmp.record(authorised=[MEDECIN])
        dmp.record(patient=other, authorised=[MEDECIN])
        theirs = dataclasses.replace(document(), patient_id=other, source_patient_id=other)
        ss = dataclasses.replace(dmp_submission().submission_sets[0], patient_id=other)
        assert (
            dmp.register(dataclasses.replace(AUTHOR, patient=other), dmp_submission(theirs, ss=ss)).status
            == SUCCESS
        )
        path = dmp.services.settings.data_dir / "content.bin"
        path.write_bytes(CONTENT)
        dmp.services.blobs.put_file(hashlib.sha1(CONTENT).hexdigest(), path)  # type: ignore[union-attr]
        refused(dmp.retrieve(MEDECIN, theirs.unique_id or ""), "XDSDocumentUniqueIdError")
        by_id = dmp.query(MEDECIN, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": f"('{theirs.unique_id}')"})
        assert by_id.status == SUCCESS and by_id.ids == ()
        # the same professional, bound to that patient, retrieves it
        assert dmp.retrieve(dataclasses.replace(MEDECIN, patient=other), theirs.unique_id or "").ids == (
            theirs.unique_id,
        )


class TestSecretConnection:
    def test_documents_must_be_invisible_to_representatives(self, dmp: Dmp) -> None:
        dmp.record()
        secret = dataclasses.replace(MEDECIN, secret_connection=True)
        refused(dmp.register(secret, dmp_submission(document(author=MEDECIN))), "DMPMaskingConflict")
        invisible = document(author=MEDECIN)
        invisible = dataclasses.replace(
            invisible,
            confidentiality_codes=(
                *invisible.confidentiality_codes,
                code("INVISIBLE_REPRESENTANTS_LEGAUX", DMP_VISIBILITY_OID),
            ),
        )
        assert dmp.register(secret, dmp_submission(invisible)).status == SUCCESS


class TestRemoval:
    def _delete(self, dmp: Dmp, by: Identity, *entry_uuids: str) -> Answer:
        refs = "".join(f'<rim:ObjectRef id="{u}"/>' for u in entry_uuids)
        body = (
            f'<lcm:RemoveObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
            f'xmlns:rim="{NS["rim"]}"><rim:ObjectRefList>{refs}</rim:ObjectRefList></lcm:RemoveObjectsRequest>'
        )
        return _answer(dmp.post(by, envelope(SoapAction.DELETE, body)), "env:Body/rs:RegistryResponse")

    def test_only_the_author_removes_and_hidden_entries_are_unknown(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN, KINE])
        plain, hidden = document(), document(type_code=ANAPATH)
        submission = dmp.deposit(AUTHOR, plain, hidden)
        everything = (submission.submission_sets[0].entry_uuid, plain.entry_uuid, hidden.entry_uuid,
                      *(a.entry_uuid for a in submission.associations))  # fmt: skip
        by_other = self._delete(dmp, MEDECIN, *everything)
        assert by_other.status == FAILURE and set(by_other.codes) == {"DMPAccessDenied"}  # one per entry
        answer = self._delete(dmp, KINE, *everything)
        assert answer.status == FAILURE and "UnresolvedReferenceException" in answer.codes
        assert any(hidden.entry_uuid in m for m in answer.messages)
        assert self._delete(dmp, AUTHOR, *everything).status == SUCCESS


class TestRelatedDocuments:
    def test_hidden_addendum_is_not_related_for_the_kine(self, dmp: Dmp) -> None:
        dmp.record(authorised=[KINE, MEDECIN])
        base = document()
        dmp.deposit(AUTHOR, base)
        addendum = document(type_code=ANAPATH)
        submission = dmp_submission(addendum)
        apnd = Association(
            entry_uuid=new_uuid(),
            association_type=AssociationType.APPEND.value,
            source=addendum.entry_uuid,
            target=base.entry_uuid,
        )
        submission = dataclasses.replace(submission, associations=(*submission.associations, apnd))
        assert dmp.register(AUTHOR, submission).status == SUCCESS
        params = {
            "$XDSDocumentEntryEntryUUID": f"'{base.entry_uuid}'",
            "$AssociationTypes": f"('{AssociationType.APPEND.value}')",
        }
        assert dmp.query(KINE, GET_RELATED, params).ids == ()
        assert set(dmp.query(MEDECIN, GET_RELATED, params).ids) == {
            base.entry_uuid,
            addendum.entry_uuid,
            apnd.entry_uuid,
        }


class TestProvideAndRegister:
    """ITI-41 goes through the same rules as ITI-42 (non-MTOM form: the document in base64)."""

    def _provide(
        self, dmp: Dmp, by: Identity, doc: DocumentEntry, content: bytes = CONTENT, *, mtom: bool = False
    ) -> Answer:
        """Base64 text by default; ``mtom``: the document as a MIME part the xop:Include names."""
        submission = etree.tostring(encode_submission(dmp_submission(doc))).decode()
        cid = f"{uuid.uuid4().hex}@urn:ihe:iti:xds-b:2007"
        include = f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:{cid}"/>'
        body = (
            f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}">{submission}'
            f'<xdsb:Document id="{doc.entry_uuid}">'
            f"{include if mtom else base64.b64encode(content).decode()}</xdsb:Document>"
            "</xdsb:ProvideAndRegisterDocumentSetRequest>"
        )
        message = envelope(SoapAction.PROVIDE_AND_REGISTER, body)
        if not mtom:
            root = dmp.post(by, message, "/xds/repository")
            return _answer(root, "env:Body/rs:RegistryResponse")
        data, content_type = multipart(sign(message, dmp.authority, by), [(cid, "text/plain", content)])
        response = dmp.client.post("/xds/repository", content=data, headers={"Content-Type": content_type})
        content = response.content  # an MTOM request is answered in MTOM: the envelope is the root part
        start = content.index(b"<env:Envelope")
        envelope_xml = content[start : content.index(b"</env:Envelope>", start) + len(b"</env:Envelope>")]
        return _answer(etree.fromstring(envelope_xml), "env:Body/rs:RegistryResponse")

    def test_kine_may_not_provide_the_type_medecin_may(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN, KINE])
        refused(
            self._provide(dmp, KINE, document(type_code=ANAPATH, author=KINE)), "DMPDocumentTypeNotAllowed"
        )
        provided = document(type_code=ANAPATH, author=MEDECIN)
        assert self._provide(dmp, MEDECIN, provided).status == SUCCESS
        assert dmp.retrieve(MEDECIN, provided.unique_id or "").ids == (provided.unique_id,)
        refused(dmp.retrieve(KINE, provided.unique_id or ""), "XDSDocumentUniqueIdError")

    @pytest.mark.parametrize("mtom", [False, True], ids=["base64", "mtom"])
    @pytest.mark.parametrize(
        ("setting", "by", "code"),
        [
            ("no record", AUTHOR, "XDSUnknownPatientId"),
            ("closed", AUTHOR, "XDSUnknownPatientId"),
            ("blocked", AUTHOR, "DMPAccessDenied"),
            ("other patient", dataclasses.replace(AUTHOR, patient=OTHER_INS), "DMPAccessDenied"),
        ],
    )
    def test_a_refused_upload_leaves_the_blob_store_unchanged(
        self, dmp: Dmp, setting: str, by: Identity, code: str, mtom: bool
    ) -> None:
        """The record-level gate runs before the documents are made durable: nothing for gc to collect."""
        if setting == "closed":
            dmp.record(PatientState.CLOSED)
        elif setting != "no record":
            dmp.record(blocked=[AUTHOR] if setting == "blocked" else [])
        blobs = dmp.services.blobs
        assert blobs is not None
        before = sorted(blobs.list())
        content = f"refused upload ({setting})".encode()
        doc = dataclasses.replace(document(), hash=hashlib.sha1(content).hexdigest(), size=str(len(content)))
        refused(self._provide(dmp, by, doc, content, mtom=mtom), code)
        assert sorted(blobs.list()) == before
        assert not blobs.exists(hashlib.sha256(content).hexdigest())  # the key it would have had
        assert list(blobs.staging_dir.iterdir()) == []
