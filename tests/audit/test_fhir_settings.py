"""The patient's record settings over FHIR (Consent, Patient PATCH): only the patient (or a minor's
representative) changes them, each change is traced, and each one changes what the SOAP face allows."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.audit.test_fhir_trail import (
    INS_SYSTEM,
    OTHER_PATIENT,
    auditor_token,
    patient_token,
    token,
)
from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS
from tests.e2e.test_dmp_policy import (
    APPROVED,
    AUTHOR,
    FIND_DOCUMENTS,
    MEDECIN,
    OTHER_INS,
    STRANGER,
    SUCCESS,
    Dmp,
    document,
    refused,
)
from xds_server.core.policy import AccessMode
from xds_server.storage.audit import contact_email

HL7 = "http://terminology.hl7.org/CodeSystem"
POLICY = "urn:xds-server:dmp-record-setting"


def consent(consent_id: str, permit: bool, patient: str = INS) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {"coding": [{"system": f"{HL7}/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": INS_SYSTEM, "value": patient}},
        "policyRule": {"coding": [{"system": POLICY, "code": consent_id.split("-")[0]}]},
        "provision": {"type": "permit" if permit else "deny"},
    }  # fmt: skip


def put(dmp: Dmp, headers: dict[str, str], consent_id: str, permit: bool, patient: str = INS) -> int:
    response = dmp.client.put(
        f"/fhir/Consent/{consent_id}", json=consent(consent_id, permit, patient), headers=headers
    )
    return response.status_code


class TestWhoChangesSettings:
    def test_a_professional_cannot(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        assert put(dmp, token(dmp, identity=MEDECIN), f"blocked-{STRANGER.national_id}", False) == 403
        assert dmp.client.get("/fhir/Consent", headers=token(dmp, identity=MEDECIN)).status_code == 403
        assert put(dmp, auditor_token(dmp), "samu", False) == 403

    def test_a_patient_cannot_touch_another_record(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.record(patient=OTHER_PATIENT, authorised=[MEDECIN])
        assert put(dmp, patient_token(dmp), f"authorised-{MEDECIN.national_id}", True, OTHER_INS) == 404
        response = dmp.client.delete(
            f"/fhir/Consent/authorised-{MEDECIN.national_id}",
            params={"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}"},
            headers=patient_token(dmp),
        )
        assert response.status_code == 404
        listed = dmp.client.get(
            "/fhir/Consent",
            params={"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}"},
            headers=patient_token(dmp),
        ).json()
        assert listed.get("entry") is None
        other = {
            "$XDSDocumentEntryPatientId": f"'{OTHER_PATIENT}'",
            "$XDSDocumentEntryStatus": f"('{APPROVED}')",
        }
        still = dmp.query(dataclasses.replace(MEDECIN, patient=OTHER_PATIENT), FIND_DOCUMENTS, other)
        assert still.status == SUCCESS  # his consent for MEDECIN is untouched

    def test_no_token_is_401(self, dmp: Dmp) -> None:
        assert dmp.client.put("/fhir/Consent/samu", json=consent("samu", False)).status_code == 401


class TestSettingsChangeThePolicy:
    def test_block_then_unblock(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        assert put(dmp, patient_token(dmp), f"blocked-{MEDECIN.national_id}", False) == 200
        refused(dmp.find(MEDECIN), "DMPAccessDenied")
        response = dmp.client.delete(
            f"/fhir/Consent/blocked-{MEDECIN.national_id}", headers=patient_token(dmp)
        )
        assert response.status_code == 204
        assert len(dmp.find(MEDECIN).ids) == 1

    def test_authorise_then_revoke(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.deposit(AUTHOR, document())
        refused(dmp.find(STRANGER), "DMPAccessDenied")
        assert put(dmp, patient_token(dmp), f"authorised-{STRANGER.national_id}", True) == 200
        assert len(dmp.find(STRANGER).ids) == 1
        listed = dmp.client.get("/fhir/Consent", headers=patient_token(dmp)).json()
        assert f"authorised-{STRANGER.national_id}" in {e["resource"]["id"] for e in listed["entry"]}
        revoked = dmp.client.delete(
            f"/fhir/Consent/authorised-{STRANGER.national_id}", headers=patient_token(dmp)
        )
        assert revoked.status_code == 204
        refused(dmp.find(STRANGER), "DMPAccessDenied")

    def test_refuse_break_glass(self, dmp: Dmp) -> None:
        dmp.record()
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="coma")
        assert dmp.find(urgent).status == SUCCESS
        assert put(dmp, patient_token(dmp), "break-glass", False) == 200
        assert dmp.find(urgent).status != SUCCESS
        assert put(dmp, patient_token(dmp), "break-glass", True) == 200
        assert dmp.find(urgent).status == SUCCESS

    def test_contact_email_and_closing_the_record(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        patch = [
            {"op": "replace", "path": "/telecom", "value": [{"system": "email", "value": "me@example.org"}]}
        ]
        url = f"/fhir/Patient/1.2.250.1.213.1.4.8-{INS}"
        headers = {**patient_token(dmp), "Content-Type": "application/json-patch+json"}
        response = dmp.client.patch(url, json=patch, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["telecom"] == [{"system": "email", "value": "me@example.org"}]
        with dmp.database.transaction(readonly=True) as connection:
            assert contact_email(connection, DMP_PATIENT) == "me@example.org"
        other = dmp.client.patch(
            url, json=[{"op": "replace", "path": "/birthDate", "value": "2000-01-01"}], headers=headers
        )
        assert other.status_code == 405
        closed = dmp.client.patch(
            url, json=[{"op": "replace", "path": "/active", "value": False}], headers=headers
        )
        assert closed.status_code == 200 and closed.json()["active"] is False
        refused(dmp.find(MEDECIN), "XDSUnknownPatientId")

    def test_each_change_is_traced(self, dmp: Dmp) -> None:
        dmp.record()
        put(dmp, patient_token(dmp), "samu", False)
        put(dmp, token(dmp, identity=MEDECIN), "samu", True)  # refused
        traces = events(dmp.database, "PATIENT-API")
        assert [t.outcome for t in traces] == [0, 8]
        assert traces[0].patient_id == DMP_PATIENT
