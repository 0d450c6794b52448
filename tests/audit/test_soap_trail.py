"""The access trail over SOAP: every transaction, allowed or refused, leaves exactly one AuditEvent (BALP
shape, valid R4), written with the change it traces; a failing trail fails the request (nothing committed,
nothing served); the trail is append-only; the notices are queued with their cause."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from lxml import etree
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.audit.trail import entity_values, events, notices, only, user
from tests.core.builders import DMP_PATIENT, INS, code, dmp_submission
from tests.e2e import test_dmp_policy as policy_e2e
from tests.e2e.test_dmp_policy import (
    APPROVED,
    AUTHOR,
    CONTENT,
    FAILURE,
    FIND_DOCUMENTS,
    MEDECIN,
    NS,
    STRANGER,
    SUCCESS,
    Dmp,
    document,
    envelope,
    refused,
)
from tests.identity_helpers import sign
from tests.query.builders import adhoc
from tests.update.registry import status_update, update_request
from xds_server.core.audit import EVENT_KINDS, AuditRecord, Notice
from xds_server.core.policy import AccessMode
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.soap.router import ROUTES
from xds_server.storage.database import Database
from xds_server.wiring import UnitOfWork

DCM = "http://dicom.nema.org/resources/ontology/DCM"


def subtype(resource: dict[str, object]) -> str:
    subtypes = resource["subtype"]
    assert isinstance(subtypes, list)
    return str(subtypes[-1]["code"])


class TestWrites:
    def test_register_allowed(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        submission = dmp.deposit(AUTHOR, doc)
        event = only(dmp.database, "ITI-42")
        assert (event["type"]["code"], event["action"], event["outcome"]) == ("110107", "C", "0")
        assert subtype(event) == "ITI-42"
        assert entity_values(event, "1") == [INS]  # the patient (Person / Patient)
        assert entity_values(event, "3") == [doc.unique_id]  # the document (Report)
        assert entity_values(event, "20") == [submission.submission_sets[0].unique_id]  # submission set (Job)
        who = user(event)
        assert who["who"]["identifier"] == {
            "system": "urn:oid:1.2.250.1.71.4.2.1",
            "value": AUTHOR.national_id,
        }
        assert who["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
        assert {"system": "urn:oid:1.2.250.1.71.1.2.7", "code": "10"} in [r["coding"][0] for r in who["role"]]
        structure = next(a for a in event["agent"] if a["type"]["coding"][0]["code"] == "PROV")
        assert structure["who"]["identifier"]["value"] == AUTHOR.structure
        client = next(a for a in event["agent"] if a["type"]["coding"][0]["code"] == "110153")
        assert client["who"]["display"] == "xds-server-dev 0.1.0"  # LPS name and version
        assert event["source"]["observer"]["display"] == "xds-server"
        # the assertion's ID is traced, never the assertion
        token = [e for e in event["entity"] if e.get("role", {}).get("code") == "13"]
        assert len(token) == 1 and "Assertion" not in str(token)

    def test_register_refused(self, dmp: Dmp) -> None:
        dmp.record(blocked=[STRANGER])
        answer = dmp.register(STRANGER, dmp_submission(document(author=STRANGER)))
        assert answer.status == FAILURE
        event = only(dmp.database, "ITI-42")
        assert event["outcome"] == "8"
        assert event["outcomeDesc"].startswith(answer.codes[0])
        assert entity_values(event, "1") == [INS]
        assert _registry_rows(dmp.database) == 0
        assert notices(dmp.database) == []

    def test_provide_allowed_and_refused(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN], blocked=[STRANGER])
        provide = policy_e2e.TestProvideAndRegister()._provide
        assert provide(dmp, MEDECIN, document(author=MEDECIN)).status == SUCCESS
        assert provide(dmp, STRANGER, document(author=STRANGER)).status == FAILURE
        traces = events(dmp.database, "ITI-41")
        assert [t.outcome for t in traces] == [0, 8]
        assert all(t.patient_id == DMP_PATIENT for t in traces)

    def test_update_allowed_and_refused(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        original = document()
        dmp.deposit(AUTHOR, original)
        masked = (*original.confidentiality_codes, code("MASQUE_PS", DMP_VISIBILITY_OID))
        update = policy_e2e.TestMaskingUpdate()._update
        refused(update(dmp, MEDECIN, original, confidentiality_codes=masked), "DMPAccessDenied")
        assert update(dmp, AUTHOR, original, confidentiality_codes=masked).status == SUCCESS
        traces = events(dmp.database, "ITI-57")
        assert [t.outcome for t in traces] == [8, 0]
        event = traces[1].json()
        assert (event["type"]["code"], event["action"]) == ("110110", "U")
        labels = [e.get("securityLabel", []) for e in event["entity"] if e.get("role", {}).get("code") == "3"]
        assert {"system": f"urn:oid:{DMP_VISIBILITY_OID}", "code": "MASQUE_PS"} in labels[0]

    def test_delete_allowed_and_refused(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        submission = dmp.deposit(AUTHOR, doc)
        everything = (submission.submission_sets[0].entry_uuid, doc.entry_uuid,
                      *(a.entry_uuid for a in submission.associations))  # fmt: skip
        delete = policy_e2e.TestRemoval()._delete
        assert delete(dmp, MEDECIN, *everything).status == FAILURE
        assert delete(dmp, AUTHOR, *everything).status == SUCCESS
        traces = events(dmp.database, "ITI-62")
        assert [t.outcome for t in traces] == [8, 0]
        assert traces[1].json()["action"] == "D"


class TestReads:
    def test_query_allowed_carries_the_raw_query(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        assert dmp.find(MEDECIN).status == SUCCESS
        event = only(dmp.database, "ITI-18")
        assert (event["type"]["code"], event["action"], event["outcome"]) == ("110112", "E", "0")
        query = next(e for e in event["entity"] if e.get("role", {}).get("code") == "24")
        raw = base64.b64decode(query["query"])
        assert FIND_DOCUMENTS.encode() in raw and b"AdhocQueryRequest" in raw
        assert entity_values(event, "1") == [INS]

    def test_query_refused(self, dmp: Dmp) -> None:
        dmp.record()
        refused(dmp.find(STRANGER), "DMPAccessDenied")
        event = only(dmp.database, "ITI-18")
        assert event["outcome"] == "8" and "DMPAccessDenied" in event["outcomeDesc"]

    def test_retrieve_allowed_and_refused(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        dmp.deposit(AUTHOR, doc)
        assert dmp.retrieve(MEDECIN, doc.unique_id or "").ids == (doc.unique_id,)
        assert dmp.retrieve(STRANGER, doc.unique_id or "").status == FAILURE
        traces = events(dmp.database, "ITI-43")
        assert [t.outcome for t in traces] == [0, 8]
        served = traces[0].json()
        assert (served["type"]["code"], served["action"]) == ("110106", "R")
        # data flows to the client: the client is the Destination, this server the Source
        roles = [a["type"]["coding"][0]["code"] for a in served["agent"][:2]]
        assert roles == ["110152", "110153"]
        assert entity_values(served, "3") == [doc.unique_id]

    def test_multi_patient_query_refused_when_disabled(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        body = f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}"/>'
        dmp.post(MEDECIN, envelope(SoapAction.MULTI_PATIENT_QUERY, body))
        assert dmp.last_status == 400
        assert only(dmp.database, "ITI-51")["outcome"] == "8"

    def test_unauthenticated_request_is_traced(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.post(None, envelope(SoapAction.STORED_QUERY, "<x/>"))
        event = only(dmp.database, "ITI-18")
        assert event["outcome"] == "8"
        assert not any(a.get("requestor") for a in event["agent"])


Breaker = Callable[[], None]


class _FailingSink:
    def append(self, record: AuditRecord) -> None:
        raise OSError("audit store down")

    def accessed_before(self, patient_id: str, agent_id: str) -> bool:
        return True

    def enqueue(self, notice: Notice) -> None:
        raise OSError("audit store down")


@pytest.fixture
def break_trail(dmp: Dmp) -> Iterator[Callable[[], None]]:
    """Calling it gives the server's units of work an audit sink that fails."""
    services = dmp.services
    router = dmp.client.app.state.soap_router  # type: ignore[attr-defined]

    def failing(factory):  # type: ignore[no-untyped-def]
        @contextmanager
        def transaction() -> Iterator[UnitOfWork]:
            with factory() as work:
                yield dataclasses.replace(work, audit=_FailingSink())

        return transaction

    assert services.read_transaction is not None
    broken = dataclasses.replace(
        services,
        transaction=failing(services.transaction),
        read_transaction=failing(services.read_transaction),
    )

    def break_it() -> None:
        router.services = broken

    yield break_it
    router.services = services


def _registry_rows(database: Database) -> int:
    with database.transaction(readonly=True) as connection:
        return int(connection.execute(text("SELECT count(*) FROM registry_object")).scalar() or 0)


class TestFailClosed:
    def test_write_is_not_committed_without_its_trace(
        self, dmp: Dmp, break_trail: Callable[[], None]
    ) -> None:
        dmp.record(authorised=[MEDECIN])
        break_trail()
        root = dmp.post(AUTHOR, envelope(SoapAction.REGISTER, encode_submission(dmp_submission(document()))))
        assert dmp.last_status == 500  # the refusal itself could not be traced: a Receiver fault
        assert root.find("env:Body/env:Fault", NS) is not None
        assert _registry_rows(dmp.database) == 0
        assert events(dmp.database) == []

    def test_read_is_not_served_without_its_trace(self, dmp: Dmp, break_trail: Breaker) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        dmp.deposit(AUTHOR, doc)
        before = len(events(dmp.database))
        break_trail()
        query = adhoc(
            FIND_DOCUMENTS,
            {"$XDSDocumentEntryPatientId": f"'{DMP_PATIENT}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"},
        )
        root = dmp.post(MEDECIN, envelope(SoapAction.STORED_QUERY, query))
        assert dmp.last_status == 500 and root.find("env:Body/env:Fault", NS) is not None
        assert doc.entry_uuid.encode() not in etree.tostring(root)
        retrieve = (
            f'<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}"><xdsb:DocumentRequest>'
            f"<xdsb:RepositoryUniqueId>{dmp.services.settings.repository_unique_id}</xdsb:RepositoryUniqueId>"
            f"<xdsb:DocumentUniqueId>{doc.unique_id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
            "</xdsb:RetrieveDocumentSetRequest>"
        )
        response = dmp.client.post(
            "/xds/repository",
            content=sign(envelope(SoapAction.RETRIEVE, retrieve), dmp.authority, MEDECIN),
            headers={"Content-Type": "application/soap+xml"},
        )
        assert response.status_code == 500 and CONTENT not in response.content
        assert len(events(dmp.database)) == before


class TestAppendOnly:
    def test_the_database_refuses_to_change_or_delete_a_trace(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.find(MEDECIN)
        for statement in ("UPDATE audit_event SET outcome = 0", "DELETE FROM audit_event"):
            with pytest.raises(DBAPIError, match="append-only"), dmp.database.engine.begin() as connection:
                connection.execute(text(statement))
        assert len(events(dmp.database)) == 1


class TestNotices:
    def test_first_access_once_then_none(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.find(MEDECIN)
        dmp.find(MEDECIN)
        first = [n for n in notices(dmp.database) if n["kind"] == "first_access"]
        assert [n["facts"]["professional"] for n in first] == [MEDECIN.national_id]
        assert first[0]["state"] == "pending" and first[0]["patient_id"] == DMP_PATIENT

    def test_refused_access_is_no_first_access(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.find(STRANGER)
        assert notices(dmp.database) == []

    def test_every_break_glass_access_with_its_reason(self, dmp: Dmp) -> None:
        dmp.record()
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="patient inconscient")
        dmp.find(urgent)
        dmp.find(urgent)
        emergency = [n for n in notices(dmp.database) if n["kind"] == "emergency_access"]
        assert [(n["facts"]["mode"], n["facts"]["reason"]) for n in emergency] == [
            ("break_glass", "patient inconscient")
        ] * 2
        event = events(dmp.database, "ITI-18")[0].json()
        purpose = user(event)["purposeOfUse"][0]
        assert purpose["coding"][0]["code"] == "ETREAT" and purpose["text"] == "patient inconscient"

    def test_new_documents_except_those_hidden_from_the_patient(self, dmp: Dmp) -> None:
        dmp.record()
        shown = document()
        hidden = document()
        hidden = dataclasses.replace(
            hidden,
            confidentiality_codes=(
                *hidden.confidentiality_codes,
                code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID),
            ),
        )
        dmp.deposit(AUTHOR, shown, hidden)
        announced = [n["facts"]["document"] for n in notices(dmp.database) if n["kind"] == "new_document"]
        assert announced == [shown.unique_id]

    def test_a_rolled_back_change_queues_nothing(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        request = update_request(associations=[status_update("urn:uuid:" + "0" * 32)], patient_id=DMP_PATIENT)
        dmp.post(MEDECIN, envelope(SoapAction.UPDATE, encode_submission(request)))
        assert events(dmp.database, "ITI-57")[0].outcome != 0
        assert notices(dmp.database) == []


def test_every_soap_route_names_its_transaction() -> None:
    """A route without a known transaction would not be traced (only test frames leave it out)."""
    assert all(route.transaction in EVENT_KINDS for route in ROUTES.values())
    assert {route.transaction for route in ROUTES.values()} == {
        "ITI-41", "ITI-42", "ITI-43", "ITI-18", "ITI-51", "ITI-57", "ITI-62",
    }  # fmt: skip
