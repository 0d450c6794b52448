"""The patient opposes his record over FHIR (``PUT /fhir/Consent/opposition``, provision deny) and withdraws
the opposition: what it does end to end (dmp-rules.md §(a) READ 2 and WRITE 2: an opposed record does not
exist for professionals, in any mode, over SOAP and FHIR), who may do it, and its trace."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.audit.test_fhir_settings import consent
from tests.audit.test_fhir_trail import INS_SYSTEM, OTHER_PATIENT, entries, patient_token, search, token
from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS, dmp_submission, member
from tests.e2e.test_dmp_policy import (
    AUTHOR,
    MEDECIN,
    OTHER_INS,
    STRANGER,
    Dmp,
    document,
    new_uuid,
    refused,
)
from xds_server.core.metadata import Submission
from xds_server.core.policy import AccessMode
from xds_server.core.ports import PatientState
from xds_server.storage.patients import SqlPatientDirectory

DOCUMENTS = "/fhir/DocumentReference"


def oppose(dmp: Dmp, headers: dict[str, str], deny: bool = True, patient: str = INS) -> int:
    body = consent("opposition", not deny, patient)
    return dmp.client.put("/fhir/Consent/opposition", json=body, headers=headers).status_code


def mhd_search(dmp: Dmp, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    params = {"patient.identifier": f"{INS_SYSTEM}|{INS}", "status": "current"}
    response = dmp.client.get(DOCUMENTS, params=params, headers=headers)
    return response.status_code, response.json()


def state(dmp: Dmp, patient: str = DMP_PATIENT) -> PatientState | None:
    with dmp.database.transaction(readonly=True) as connection:
        return SqlPatientDirectory(connection).get(patient)


class TestWhoOpposes:
    def test_a_professional_cannot(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        assert oppose(dmp, token(dmp, identity=MEDECIN)) == 403
        assert state(dmp) is PatientState.ACTIVATED

    def test_another_patient_cannot(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.record(patient=OTHER_PATIENT)
        assert oppose(dmp, patient_token(dmp), patient=OTHER_INS) == 404
        assert (
            dmp.client.delete(
                "/fhir/Consent/opposition",
                params={"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}"},
                headers=patient_token(dmp),
            ).status_code
            == 404
        )
        assert state(dmp, OTHER_PATIENT) is PatientState.ACTIVATED

    def test_no_token_is_401(self, dmp: Dmp) -> None:
        dmp.record()
        assert oppose(dmp, {}) == 401


class TestOpposedRecord:
    def test_no_professional_reads_it_over_soap_or_fhir(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        submission = dmp.deposit(AUTHOR, document())
        unique_id = submission.documents[0].unique_id
        assert len(dmp.find(MEDECIN).ids) == 1
        assert len(entries_of(mhd_search(dmp, token(dmp, identity=MEDECIN))[1])) == 1

        assert oppose(dmp, patient_token(dmp)) == 200
        assert state(dmp) is PatientState.OPPOSED
        # ITI-18 and ITI-43: the record does not exist, whoever asks (the author too), in any mode
        refused(dmp.find(MEDECIN), "XDSUnknownPatientId")
        refused(dmp.find(AUTHOR), "XDSUnknownPatientId")
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="coma")
        refused(dmp.find(urgent), "XDSUnknownPatientId")
        regulation = dataclasses.replace(STRANGER, mode=AccessMode.REGULATION)
        refused(dmp.find(regulation), "XDSUnknownPatientId")
        assert dmp.retrieve(MEDECIN, unique_id).ids == ()
        # ITI-67: the same answer as for an unknown patient
        status, body = mhd_search(dmp, token(dmp, identity=MEDECIN))
        assert status == 404 and body["issue"][0]["code"] == "not-found"
        unknown = dataclasses.replace(MEDECIN, patient=OTHER_PATIENT)
        params = {"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}", "status": "current"}
        never = dmp.client.get(DOCUMENTS, params=params, headers=token(dmp, identity=unknown))
        assert (never.status_code, never.json()["issue"][0]["diagnostics"]) == (
            status,
            body["issue"][0]["diagnostics"],
        )  # opposed and absent answer alike
        # no deposit either (a submission the same author could make before)
        refused(dmp.register(AUTHOR, fresh_submission()), "XDSUnknownPatientId")

    def test_withdrawn_the_record_comes_back_as_it_was(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        assert oppose(dmp, patient_token(dmp)) == 200
        listed = dmp.client.get("/fhir/Consent", headers=patient_token(dmp)).json()
        opposition = next(e["resource"] for e in listed["entry"] if e["resource"]["id"] == "opposition")
        assert opposition["provision"] == {"type": "deny"}
        response = dmp.client.delete("/fhir/Consent/opposition", headers=patient_token(dmp))
        assert response.status_code == 204
        assert state(dmp) is PatientState.ACTIVATED
        assert len(dmp.find(MEDECIN).ids) == 1  # the consent and the documents were kept

    def test_the_patient_keeps_his_trail(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        dmp.find(MEDECIN)
        oppose(dmp, patient_token(dmp))
        status, bundle = search(dmp, patient_token(dmp))
        assert status == 200 and len(entries(bundle)) == 2  # the deposit and the consultation

    def test_opposing_and_withdrawing_are_traced(self, dmp: Dmp) -> None:
        dmp.record()
        oppose(dmp, patient_token(dmp))
        oppose(dmp, token(dmp, identity=MEDECIN))  # refused
        oppose(dmp, patient_token(dmp), deny=False)
        traces = events(dmp.database, "PATIENT-API")
        assert [t.outcome for t in traces] == [0, 8, 0]
        described = [
            [e.get("description") for e in t.json()["entity"] if _names(e, "Consent/opposition")]
            for t in traces
        ]
        assert described == [["opposed"], [], ["withdrawn"]]


def fresh_submission() -> Submission:
    doc = document()
    submission = dmp_submission(doc)
    ss = dataclasses.replace(submission.submission_sets[0], entry_uuid=new_uuid())
    association = member(ss.entry_uuid, doc.entry_uuid, entry_uuid=new_uuid())
    return dataclasses.replace(submission, submission_sets=(ss,), associations=(association,))


def _names(entity: dict[str, Any], value: str) -> bool:
    return bool(entity.get("what", {}).get("identifier", {}).get("value") == value)


def entries_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "DocumentReference"]
