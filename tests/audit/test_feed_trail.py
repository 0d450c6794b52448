"""The patient identity feeds are traced (BALP patient identity patterns): ITI-8 over HL7 v2 (create,
update, merge, refusal) and ITI-104 over FHIR (create, merge, refusal), each applied message in the very
transaction of its change (a trace that cannot be written: nothing applied, no AA / no 2xx)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.test_fhir_trail import OTHER_PATIENT, token
from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events, only
from tests.core.builders import DMP_PATIENT, INS, NIR_OID
from tests.e2e.test_dmp_policy import MEDECIN, OTHER_INS, Dmp
from tests.feed.messages import adt, msa
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.storage.audit import SqlAuditStore
from xds_server.storage.patients import SqlPatientDirectory

OTHER_NIR = f"{OTHER_INS}^^^&{NIR_OID}&ISO^NH"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"


def feed(dmp: Dmp, message: bytes) -> str:
    """The ACK code the server's ITI-8 service answers."""
    answer: bytes = dmp.client.app.state.feed.handle(message, "192.0.2.7")  # type: ignore[attr-defined]
    return msa(answer)[1]


def patients(resource: dict[str, Any]) -> dict[str, str | None]:
    """{patient id value: lifecycle code} of the Patient entities of an AuditEvent."""
    return {
        e["what"]["identifier"]["value"]: e.get("lifecycle", {}).get("code")
        for e in resource.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    }


def known(dmp: Dmp, patient: str) -> PatientState | None:
    with dmp.database.transaction(readonly=True) as connection:
        return SqlPatientDirectory(connection).get(patient)


def system_token(dmp: Dmp) -> dict[str, str]:
    claims = {**dev_authority.token_claims(), "actor": "system", "sub": "HIS-1"}
    return {"Authorization": f"Bearer {dev_authority.mint_token(dmp.authority, claims)}"}


def fhir_patient(value: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": f"urn:oid:{NIR_OID}", "value": value}],
        "name": [{"family": "Durand", "given": ["Anne"]}],
        "gender": "female",
        "birthDate": "1955-08-14",
        **extra,
    }


def put(dmp: Dmp, value: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    response = dmp.client.put(
        f"/fhir/Patient?identifier=urn:oid:{NIR_OID}|{value}",
        json=body,
        headers={"Content-Type": "application/fhir+json", **headers},
    )
    return response.status_code


@pytest.fixture
def broken_trail(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: SqlAuditStore, record: object) -> None:
        raise RuntimeError("the audit store is down")

    monkeypatch.setattr(SqlAuditStore, "append", refuse)


class TestIti8:
    def test_a_creation(self, dmp: Dmp) -> None:
        assert feed(dmp, adt("A01", DMP_PATIENT)) == "AA"
        trace = only(dmp.database, "ITI-8")
        assert (trace["outcome"], trace["action"]) == ("0", "C")
        assert trace["type"]["code"] == "110110" and trace["subtype"][-1]["code"] == "ITI-8"
        assert patients(trace) == {INS: "1"}
        source = trace["agent"][0]
        assert source["who"]["display"] == "HIS|HOSP" and source["network"]["address"] == "192.0.2.7"
        assert source["type"]["coding"][0]["code"] == "110153"  # Source Role ID: the identity source
        lifecycle = next(e for e in trace["entity"] if e["role"]["code"] == "1")["lifecycle"]
        assert lifecycle["system"] == LIFECYCLE

    def test_an_update(self, dmp: Dmp) -> None:
        dmp.record()
        assert feed(dmp, adt("A08", DMP_PATIENT, name="DURAND^ANNE")) == "AA"
        trace = only(dmp.database, "ITI-8")
        assert (trace["outcome"], trace["action"], patients(trace)) == ("0", "U", {INS: "3"})

    def test_a_merge_names_the_patient_merged_away(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.record(patient=OTHER_PATIENT)
        assert feed(dmp, adt("A40", DMP_PATIENT, mrg=OTHER_NIR)) == "AA"
        trace = only(dmp.database, "ITI-8")
        assert (trace["outcome"], trace["action"]) == ("0", "U")
        assert patients(trace) == {INS: "3", OTHER_INS: "14"}  # amended; logically deleted
        assert known(dmp, OTHER_PATIENT) is None

    def test_a_refusal_is_traced_and_changes_nothing(self, dmp: Dmp) -> None:
        dmp.record()
        assert feed(dmp, adt("A40", DMP_PATIENT, mrg=DMP_PATIENT)) == "AE"  # a merge into itself
        trace = only(dmp.database, "ITI-8")
        assert (trace["outcome"], trace["action"]) == ("8", "U") and "A40" in trace["outcomeDesc"]
        assert INS in patients(trace)
        assert known(dmp, DMP_PATIENT) is PatientState.ACTIVATED

    def test_an_unreadable_message_is_traced_without_a_patient(self, dmp: Dmp) -> None:
        assert feed(dmp, b"MSH|^~\\&|HIS|HOSP|XDS|DMP|x||ADT^A01|C1|P|2.5\rPID|||\r") in ("AE", "AR")
        trace = only(dmp.database, "ITI-8")
        assert trace["outcome"] == "8" and patients(trace) == {}

    def test_no_trace_no_change_and_no_aa(self, dmp: Dmp, broken_trail: None) -> None:
        assert feed(dmp, adt("A01", DMP_PATIENT)) == "AR"
        assert known(dmp, DMP_PATIENT) is None
        assert events(dmp.database) == []


class TestIti104:
    def test_a_creation_then_a_merge(self, dmp: Dmp) -> None:
        assert put(dmp, INS, fhir_patient(INS), system_token(dmp)) == 201
        created = only(dmp.database, "ITI-104")
        assert (created["outcome"], created["action"], patients(created)) == ("0", "C", {INS: "1"})
        assert put(dmp, OTHER_INS, fhir_patient(OTHER_INS), system_token(dmp)) == 201
        merge = fhir_patient(
            OTHER_INS,
            active=False,
            link=[
                {"type": "replaced-by", "other": {"reference": f"Patient?identifier=urn:oid:{NIR_OID}|{INS}"}}
            ],
        )
        assert put(dmp, OTHER_INS, merge, system_token(dmp)) == 200
        merged = events(dmp.database, "ITI-104")[-1].json()
        assert (merged["outcome"], merged["action"]) == ("0", "U")
        assert patients(merged) == {INS: "3", OTHER_INS: "14"}

    def test_refusals_are_traced(self, dmp: Dmp) -> None:
        assert put(dmp, INS, fhir_patient(INS), token(dmp, identity=MEDECIN)) == 403  # a professional
        assert put(dmp, INS, fhir_patient(INS), system_token(dmp)) == 201
        assert put(dmp, OTHER_INS, fhir_patient(OTHER_INS), system_token(dmp)) == 201
        merge = fhir_patient(
            OTHER_INS,
            active=False,
            link=[{"type": "replaced-by", "other": {"reference": f"Patient/{NIR_OID}-{INS}"}}],
        )
        assert put(dmp, OTHER_INS, merge, system_token(dmp)) == 200
        assert put(dmp, OTHER_INS, fhir_patient(OTHER_INS), system_token(dmp)) == 409  # merged away
        outcomes = [(e.outcome, e.patient_id) for e in events(dmp.database, "ITI-104")]
        assert [o for o, _ in outcomes] == [8, 0, 0, 0, 8]
        assert outcomes[-1][1] == OTHER_PATIENT  # the refused update names the id it was about

    def test_no_trace_no_change(self, dmp: Dmp, broken_trail: None) -> None:
        response = dmp.client.put(
            f"/fhir/Patient?identifier=urn:oid:{NIR_OID}|{INS}",
            json=fhir_patient(INS),
            headers={"Content-Type": "application/fhir+json", **system_token(dmp)},
        )
        assert response.status_code == 500 and response.json()["resourceType"] == "OperationOutcome"
        assert known(dmp, DMP_PATIENT) is None
