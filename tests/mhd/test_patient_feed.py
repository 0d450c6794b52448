"""ITI-104 Patient Identity Feed FHIR (fhir_api/routes/patient_feed.py): conditional update creates and
updates, a replaced-by link merges (documents move), errors are OperationOutcomes, the DMP lets only
systems feed; GET /fhir/Patient (PDQm) agrees with what the feed wrote."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.core.builders import document, submission, submission_set
from tests.fakes import FixedClock
from tests.mhd.conftest import INS, INS_TEST_AUTHORITY, FhirServer
from xds_server.app import RandomIds
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.usecases.register import register_plan
from xds_server.ebxml.codec import encode_object_xml
from xds_server.identity import dev_authority
from xds_server.storage import tables
from xds_server.storage.registry import SqlRegistryStore

OID = "1.3.6.1.4.1.21367.13.20.1000"
FHIR_JSON = "application/fhir+json"


def patient(value: str, *, system: str = f"urn:oid:{OID}", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": system, "value": value},
            {"system": "http://hospital.example/ipp", "value": "IPP-" + value},
        ],
        "name": [{"family": "Durand", "given": ["Anne", "Marie"]}],
        "gender": "female",
        "birthDate": "1980-02-29",
        **extra,
    }


def put(server: FhirServer, value: str, body: dict[str, Any], *, system: str = f"urn:oid:{OID}", **auth: Any):
    return server.client.put(
        f"/fhir/Patient?identifier={system}|{value}",
        json=body,
        headers={"Content-Type": FHIR_JSON, **(auth.get("headers") or server.auth())},
    )


def system_auth(server: FhirServer) -> dict[str, str]:
    claims = {**dev_authority.token_claims(), "actor": "system", "sub": "HIS-1"}
    return {"Authorization": f"Bearer {dev_authority.mint_token(server.authority, claims)}"}


def issue_codes(response: Any) -> list[str]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return [i["code"] for i in body["issue"]]


class TestCreateAndUpdate:
    def test_create_then_update(self, ihe_server: FhirServer) -> None:
        created = put(ihe_server, "F1", patient("F1"))
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["id"] == f"{OID}-F1"
        assert created.headers["Location"].endswith(f"/fhir/Patient/{OID}-F1")
        assert body["name"] == [{"family": "Durand", "given": ["Anne", "Marie"]}]
        assert (body["gender"], body["birthDate"], body["active"]) == ("female", "1980-02-29", True)
        assert {"use": "secondary", "system": "http://hospital.example/ipp", "value": "IPP-F1"} in body[
            "identifier"
        ]

        updated = put(ihe_server, "F1", patient("F1", name=[{"family": "Martin"}], gender="other"))
        assert updated.status_code == 200, updated.text
        assert updated.json()["name"] == [{"family": "Martin"}] and updated.json()["gender"] == "other"

        # the PDQm search sees what the feed wrote
        found = ihe_server.client.get(f"/fhir/Patient?identifier=urn:oid:{OID}|F1", headers=ihe_server.auth())
        assert found.status_code == 200
        assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [f"{OID}-F1"]
        read = ihe_server.client.get(f"/fhir/Patient/{OID}-F1", headers=ihe_server.auth())
        assert read.status_code == 200 and read.json()["birthDate"] == "1980-02-29"

    def test_the_read_shows_what_the_feed_stored(self, ihe_server: FhirServer) -> None:
        """PDQm read and search answer the Patient exactly as the ITI-104 answer shows it (one mapping)."""
        fed = put(ihe_server, "F3", patient("F3")).json()
        assert fed["name"] == [{"family": "Durand", "given": ["Anne", "Marie"]}]
        read = ihe_server.client.get(f"/fhir/Patient/{OID}-F3", headers=ihe_server.auth()).json()
        assert read == fed
        assert (read["gender"], read["birthDate"]) == ("female", "1980-02-29")
        found = ihe_server.client.get(f"/fhir/Patient?_id={OID}-F3", headers=ihe_server.auth()).json()
        assert [e["resource"] for e in found["entry"]] == [fed]

    def test_the_url_identifier_may_be_a_cross_reference(self, ihe_server: FhirServer) -> None:
        response = put(ihe_server, "IPP-F2", patient("F2"), system="http://hospital.example/ipp")
        assert response.status_code == 201 and response.json()["id"] == f"{OID}-F2"


class TestMerge:
    def _documents(self, server: FhirServer, patient_id: str) -> None:
        sub = submission(document(patient_id=patient_id), ss=submission_set(patient_id=patient_id))
        with server.database.transaction() as connection:
            register_plan(
                sub,
                store=SqlRegistryStore(connection, encode_object_xml),
                profile=IHE_DEFAULT,
                clock=FixedClock(),
                ids=RandomIds(),
            )

    def test_replaced_by_merges_and_documents_move(self, ihe_server: FhirServer) -> None:
        old, new = f"OLD^^^&{OID}&ISO", f"NEW^^^&{OID}&ISO"
        assert put(ihe_server, "OLD", patient("OLD")).status_code == 201
        assert put(ihe_server, "NEW", patient("NEW")).status_code == 201
        self._documents(ihe_server, old)
        link = [{"type": "replaced-by", "other": {"reference": f"Patient?identifier=urn:oid:{OID}|NEW"}}]
        merged = put(ihe_server, "OLD", patient("OLD", active=False, link=link))
        assert merged.status_code == 200, merged.text
        assert merged.json()["active"] is False
        assert merged.json()["link"] == [
            {"type": "replaced-by", "other": {"reference": f"Patient/{OID}-NEW"}}
        ]
        ro = tables.registry_object.c
        with ihe_server.database.transaction(readonly=True) as connection:
            patients = set(
                connection.execute(select(ro.patient_id).where(ro.kind != "Association")).scalars()
            )
        assert patients == {new}
        # the old id answers like an unknown one; it cannot be fed again
        assert ihe_server.client.get(f"/fhir/Patient/{OID}-OLD", headers=ihe_server.auth()).status_code == 404
        assert ihe_server.client.get(f"/fhir/Patient/{OID}-NEW", headers=ihe_server.auth()).status_code == 200
        again = put(ihe_server, "OLD", patient("OLD"))
        assert again.status_code == 409 and issue_codes(again) == ["conflict"]
        assert old != new

    def test_a_merge_needs_active_false_and_another_patient(self, ihe_server: FhirServer) -> None:
        link = [{"type": "replaced-by", "other": {"reference": f"Patient/{OID}-M2"}}]
        active = put(ihe_server, "M1", patient("M1", link=link))
        assert active.status_code == 400
        itself = [{"type": "replaced-by", "other": {"reference": f"Patient/{OID}-M1"}}]
        same = put(ihe_server, "M1", patient("M1", active=False, link=itself))
        assert same.status_code == 400 and "itself" in same.text


class TestErrors:
    @pytest.mark.parametrize(
        "url",
        ["/fhir/Patient", f"/fhir/Patient?identifier=urn:oid:{OID}|E1&name=x", "/fhir/Patient?identifier=E1"],
    )
    def test_bad_search_criteria(self, ihe_server: FhirServer, url: str) -> None:
        response = ihe_server.client.put(
            url, json=patient("E1"), headers={"Content-Type": FHIR_JSON, **ihe_server.auth()}
        )
        assert response.status_code == 400 and issue_codes(response) == ["invalid"]

    def test_url_identifier_not_in_the_patient(self, ihe_server: FhirServer) -> None:
        assert put(ihe_server, "E2", patient("E3")).status_code == 400

    def test_no_identifier_of_the_domain(self, ihe_server: FhirServer) -> None:
        body = patient("E4", system="http://hospital.example/other")
        response = put(ihe_server, "E4", body, system="http://hospital.example/other")
        assert response.status_code == 400 and "affinity domain" in response.text

    def test_not_a_patient(self, ihe_server: FhirServer) -> None:
        response = put(ihe_server, "E5", {"resourceType": "Practitioner"})
        assert response.status_code == 400

    def test_no_token(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.put(
            f"/fhir/Patient?identifier=urn:oid:{OID}|E6",
            json=patient("E6"),
            headers={"Content-Type": FHIR_JSON},
        )
        assert response.status_code == 401


class TestDmp:
    def test_only_a_system_may_feed(self, dmp_server: FhirServer) -> None:
        body = patient(INS, system=f"urn:oid:{INS_TEST_AUTHORITY}")
        professional = put(dmp_server, INS, body, system=f"urn:oid:{INS_TEST_AUTHORITY}")
        assert professional.status_code == 403 and issue_codes(professional) == ["forbidden"]
        patient_self = dmp_server.client.put(
            f"/fhir/Patient?identifier=urn:oid:{INS_TEST_AUTHORITY}|{INS}",
            json=body,
            headers={
                "Content-Type": FHIR_JSON,
                **dmp_server.auth(patient_self=f"{INS}^^^&{INS_TEST_AUTHORITY}&ISO^NH"),
            },
        )
        assert patient_self.status_code == 403
        created = put(
            dmp_server, INS, body, system=f"urn:oid:{INS_TEST_AUTHORITY}", headers=system_auth(dmp_server)
        )
        assert created.status_code == 201, created.text
        assert created.json()["id"] == f"{INS_TEST_AUTHORITY}-{INS}"

    def test_a_wrong_ins_key_is_refused(self, dmp_server: FhirServer) -> None:
        bad = INS[:-2] + "00"
        body = patient(bad, system=f"urn:oid:{INS_TEST_AUTHORITY}")
        response = put(
            dmp_server, bad, body, system=f"urn:oid:{INS_TEST_AUTHORITY}", headers=system_auth(dmp_server)
        )
        assert response.status_code == 400 and "key" in response.text
