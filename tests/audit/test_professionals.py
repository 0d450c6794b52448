"""A patient finds a professional by name and place (``GET /fhir/Practitioner``) and blocks him through his
Consent: who may search (from the attacker's side first), what a match shows, the bound on the answer, the
trace of each search, and the block's effect on the SOAP face."""

from __future__ import annotations

import base64
from typing import Any

from tests.audit.test_fhir_settings import put
from tests.audit.test_fhir_trail import auditor_token, patient_token, token
from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events, only
from tests.core.test_professionals import sample_lines
from tests.e2e.test_dmp_policy import AUTHOR, Dmp, document, professional, refused
from xds_server.core.professionals import Professional, Site, group, parse_extract
from xds_server.storage.professionals import SqlProfessionalDirectory
from xds_server.wiring.professionals import MAX_MATCHES

#: Hélène LEFÈVRE of the sample, as she signs her requests
LEFEVRE = professional("810100000037")


def load(dmp: Dmp, extra: list[Professional] | None = None) -> None:
    directory = list(group(parse_extract(sample_lines())).values()) + (extra or [])
    with dmp.database.transaction() as connection:
        SqlProfessionalDirectory(connection).replace(directory)


def find(dmp: Dmp, headers: dict[str, str], **params: str) -> tuple[int, dict[str, Any]]:
    response = dmp.client.get("/fhir/Practitioner", params=params, headers=headers)
    return response.status_code, response.json()


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


class TestWhoSearches:
    def test_no_token_is_401(self, dmp: Dmp) -> None:
        load(dmp)
        assert find(dmp, {}, name="martin", **{"address-city": "Lyon"})[0] == 401

    def test_a_professional_or_an_auditor_is_refused(self, dmp: Dmp) -> None:
        dmp.record()
        load(dmp)
        status, body = find(dmp, token(dmp, identity=AUTHOR), name="martin", **{"address-city": "Lyon"})
        assert status == 403 and body["resourceType"] == "OperationOutcome"
        assert find(dmp, auditor_token(dmp), name="martin", **{"address-city": "Lyon"})[0] == 403
        traces = [e.json() for e in events(dmp.database, "ITI-90")]
        assert [t["outcome"] for t in traces] == ["8", "8"]  # both refusals traced

    def test_the_place_is_required(self, dmp: Dmp) -> None:
        dmp.record()
        load(dmp)
        status, body = find(dmp, patient_token(dmp), name="martin")
        assert status == 400 and "postal code" in body["issue"][0]["diagnostics"]
        assert find(dmp, patient_token(dmp), name="martin", **{"address-postalcode": "690"})[0] == 400
        assert find(dmp, patient_token(dmp), **{"name:exact": "MARTIN", "address-city": "Lyon"})[0] == 400


class TestWhatAPatientSees:
    def test_name_profession_and_commune_only(self, dmp: Dmp) -> None:
        dmp.record()
        load(dmp)
        status, bundle = find(dmp, patient_token(dmp), name="lefevre", **{"address-city": "Saint-Étienne"})
        assert status == 200 and bundle["total"] == 1
        (found,) = matches(bundle)
        assert found == {
            "resourceType": "Practitioner",
            "id": "810100000037",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810100000037"}],
            "active": True,
            "name": [{"family": "LEFÈVRE", "given": ["Hélène"]}],
            "qualification": [
                {
                    "code": {
                        "coding": [
                            {
                                "system": "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/"
                                "TRE-G15-ProfessionSante",
                                "code": "10",
                                "display": "Médecin",
                            }
                        ]
                    }
                }
            ],
            "address": [{"use": "work", "city": "SAINT-ETIENNE"}],
        }  # no structure, street, phone or postal code: only what a patient may know

    def test_homonyms_are_told_apart_by_the_place(self, dmp: Dmp) -> None:
        dmp.record()
        load(dmp)
        _, lyon = find(dmp, patient_token(dmp), name="sophie martin", **{"address-city": "lyon"})
        _, priest = find(dmp, patient_token(dmp), name="sophie martin", **{"address-postalcode": "42270"})
        assert [p["id"] for p in matches(lyon)] == ["810100000011"]
        assert [p["id"] for p in matches(priest)] == ["810100000078"]

    def test_the_answer_is_bounded(self, dmp: Dmp) -> None:
        dmp.record()
        many = [
            Professional(f"8999{n:08d}", "DURAND", f"P{n}", "50", "Infirmier", (Site("S", "42000", "X"),))
            for n in range(MAX_MATCHES + 5)
        ]
        load(dmp, many)
        status, bundle = find(dmp, patient_token(dmp), name="durand", **{"address-postalcode": "42000"})
        assert status == 200 and len(matches(bundle)) == MAX_MATCHES and "total" not in bundle
        warning = next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome")
        assert warning["issue"][0]["severity"] == "warning"
        place = {"address-postalcode": "42000"}
        _, few = find(dmp, patient_token(dmp), name="durand", _count="3", **place)
        assert len(matches(few)) == 3
        _, huge = find(dmp, patient_token(dmp), name="durand", _count="500", **place)
        assert len(matches(huge)) == MAX_MATCHES

    def test_each_search_is_traced(self, dmp: Dmp) -> None:
        dmp.record()
        load(dmp)
        find(dmp, patient_token(dmp), name="lefevre", **{"address-city": "Saint-Étienne"})
        trace = only(dmp.database, "ITI-90")
        assert trace["outcome"] == "0" and trace["subtype"][-1]["code"] == "ITI-90"
        query = next(e for e in trace["entity"] if e["role"]["code"] == "24")
        assert "lefevre" in base64.b64decode(query["query"]).decode()

    def test_declared_in_the_capability_statement(self, dmp: Dmp) -> None:
        statement = dmp.client.get("/fhir/metadata").json()
        practitioner = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Practitioner")
        assert [i["code"] for i in practitioner["interaction"]] == ["search-type"]
        names = {p["name"] for p in practitioner["searchParam"]}
        assert names == {"name", "address-city", "address-postalcode"}


class TestBlockTheOneFound:
    def test_found_then_blocked_then_unblocked(self, dmp: Dmp) -> None:
        dmp.record(authorised=[LEFEVRE])
        dmp.deposit(AUTHOR, document())
        assert len(dmp.find(LEFEVRE).ids) == 1
        load(dmp)
        _, bundle = find(dmp, patient_token(dmp), name="hélène", **{"address-postalcode": "42000"})
        (found,) = matches(bundle)
        assert put(dmp, patient_token(dmp), f"blocked-{found['identifier'][0]['value']}", False) == 200
        refused(dmp.find(LEFEVRE), "DMPAccessDenied")
        setting = [e for e in events(dmp.database, "PATIENT-API")][-1].json()
        named = [e["what"]["identifier"]["value"] for e in setting["entity"] if "what" in e]
        assert "Consent/blocked-810100000037" in named
        response = dmp.client.delete(f"/fhir/Consent/blocked-{found['id']}", headers=patient_token(dmp))
        assert response.status_code == 204
        assert len(dmp.find(LEFEVRE).ids) == 1
