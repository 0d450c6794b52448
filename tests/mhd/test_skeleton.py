"""The FHIR face's frame: /metadata, bearer tokens, formats, OperationOutcome errors, Patient reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt
from lxml import etree

from tests.mhd.conftest import IHE_PATIENT, INS, INS_TEST_AUTHORITY, OTHER_INS, FhirServer
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity

FHIR_NS = "{http://hl7.org/fhir}"
TEST_CX = f"{INS}^^^&{INS_TEST_AUTHORITY}&ISO^NH"
OTHER_CX = f"{OTHER_INS}^^^&{INS_TEST_AUTHORITY}&ISO^NH"
IHE_SEARCH = "/fhir/Patient?identifier=urn:oid:1.3.6.1.4.1.21367.13.20.1000|IHEBLUE-2742"


class TestCapabilityStatement:
    def test_public_and_built_from_the_mounted_routes(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get("/fhir/metadata")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+json")
        statement = response.json()
        assert statement["resourceType"] == "CapabilityStatement"
        assert statement["fhirVersion"] == "4.0.1"
        assert statement["kind"] == "instance"
        patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
        # read and search (PDQm), conditional update (ITI-104 patient identity feed), patch (the patient's
        # contact e-mail and record state: fhir_api/routes/record_settings.py)
        assert [i["code"] for i in patient["interaction"]] == ["read", "update", "patch", "search-type"]
        assert patient.get("conditionalUpdate") is True
        assert {p["name"] for p in patient["searchParam"]} == {"identifier", "_id"}
        # nothing is claimed that is not mounted
        served = {r.path for r in ihe_server.client.app.state.fhir_face.routes}  # type: ignore[attr-defined]
        for resource in statement["rest"][0]["resource"]:
            assert any(path.startswith(f"/{resource['type']}") for path in served)

    def test_xml_on_request(self, ihe_server: FhirServer) -> None:
        for kwargs in ({"params": {"_format": "xml"}}, {"headers": {"Accept": "application/fhir+xml"}}):
            response = ihe_server.client.get("/fhir/metadata", **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/fhir+xml")
            root = etree.fromstring(response.content)
            assert root.tag == f"{FHIR_NS}CapabilityStatement"
            assert root.find(f"{FHIR_NS}fhirVersion").get("value") == "4.0.1"  # type: ignore[union-attr]

    def test_unknown_format_is_406(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get("/fhir/metadata", params={"_format": "text/csv"})
        assert response.status_code == 406
        assert response.json()["resourceType"] == "OperationOutcome"


class TestAuthentication:
    def test_no_token_is_401_with_challenge(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get(IHE_SEARCH)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "login"

    def test_other_scheme_and_garbage_are_401(self, ihe_server: FhirServer) -> None:
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt"):
            response = ihe_server.client.get(IHE_SEARCH, headers={"Authorization": header})
            assert response.status_code == 401, header
            assert response.headers["www-authenticate"].startswith("Bearer")

    def test_a_token_signed_with_another_key_is_401(self, ihe_server: FhirServer) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        forged = jwt.encode(dev_authority.token_claims(), pem, algorithm="RS256")
        response = ihe_server.client.get(IHE_SEARCH, headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    def test_expired_token_is_401(self, ihe_server: FhirServer) -> None:
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
        claims = dev_authority.token_claims(now=two_hours_ago, ttl=timedelta(minutes=5))
        token = dev_authority.mint_token(ihe_server.authority, claims)
        response = ihe_server.client.get(IHE_SEARCH, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


class TestErrors:
    def test_unknown_path_is_404_outcome(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get("/fhir/Nothing/here", headers=ihe_server.auth())
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"

    def test_wrong_method_is_405_outcome(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.delete("/fhir/Patient/1.2.3-4", headers=ihe_server.auth())
        assert response.status_code == 405
        assert response.json()["issue"][0]["code"] == "not-supported"

    def test_errors_follow_the_requested_format(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get("/fhir/Patient/1.2.3-nobody?_format=xml", headers=ihe_server.auth())
        assert response.status_code == 404
        assert etree.fromstring(response.content).tag == f"{FHIR_NS}OperationOutcome"

    def test_search_post_needs_a_form_body(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.post(
            "/fhir/Patient/_search",
            content=b"{}",
            headers={**ihe_server.auth(), "Content-Type": "application/json"},
        )
        assert response.status_code == 415


class TestPatientIhe:
    def test_read_and_search_by_identifier(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        response = ihe_server.client.get(IHE_SEARCH, headers=ihe_server.auth())
        assert response.status_code == 200
        bundle = response.json()
        assert bundle["type"] == "searchset" and bundle["total"] == 1
        patient = bundle["entry"][0]["resource"]
        assert patient["identifier"][0] == {
            "use": "official",
            "system": "urn:oid:1.3.6.1.4.1.21367.13.20.1000",
            "value": "IHEBLUE-2742",
        }
        assert bundle["entry"][0]["fullUrl"].endswith(f"/fhir/Patient/{patient['id']}")
        read = ihe_server.client.get(f"/fhir/Patient/{patient['id']}", headers=ihe_server.auth())
        assert read.status_code == 200 and read.json() == patient
        posted = ihe_server.client.post(
            "/fhir/Patient/_search",
            data={"identifier": "urn:oid:1.3.6.1.4.1.21367.13.20.1000|IHEBLUE-2742"},
            headers=ihe_server.auth(),
        )
        assert posted.json()["total"] == 1

    def test_unknown_parameters_warn_or_fail_strict(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        lenient = ihe_server.client.get(IHE_SEARCH + "&family=Smith", headers=ihe_server.auth()).json()
        assert lenient["total"] == 1
        assert lenient["entry"][-1]["search"]["mode"] == "outcome"
        strict = ihe_server.client.get(
            IHE_SEARCH + "&family=Smith", headers={**ihe_server.auth(), "Prefer": "handling=strict"}
        )
        assert strict.status_code == 400

    def test_search_without_criteria_is_refused(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.get("/fhir/Patient", headers=ihe_server.auth())
        assert response.status_code == 400


class TestPatientDmp:
    """A professional sees the directory entry of the patient his token is bound to, nothing else."""

    def test_bound_patient_in_every_spelling(self, dmp_server: FhirServer) -> None:
        dmp_server.add_patient(TEST_CX)
        auth = dmp_server.auth(Identity(patient=TEST_CX))
        for system in (f"urn:oid:{INS_TEST_AUTHORITY}",):
            bundle = dmp_server.client.get(f"/fhir/Patient?identifier={system}|{INS}", headers=auth).json()
            assert bundle["total"] == 1, bundle
            assert bundle["entry"][0]["resource"]["id"] == f"{INS_TEST_AUTHORITY}-{INS}"

    def test_another_patient_answers_like_an_unknown_one(self, dmp_server: FhirServer) -> None:
        dmp_server.add_patient(TEST_CX)
        dmp_server.add_patient(OTHER_CX)
        auth = dmp_server.auth(Identity(patient=TEST_CX))
        known = dmp_server.client.get(
            f"/fhir/Patient?identifier=urn:oid:{INS_TEST_AUTHORITY}|{OTHER_INS}", headers=auth
        ).json()
        unknown = dmp_server.client.get(
            f"/fhir/Patient?identifier=urn:oid:{INS_TEST_AUTHORITY}|299999999999914", headers=auth
        ).json()
        assert known["total"] == unknown["total"] == 0
        read_known = dmp_server.client.get(f"/fhir/Patient/{INS_TEST_AUTHORITY}-{OTHER_INS}", headers=auth)
        read_unknown = dmp_server.client.get(
            f"/fhir/Patient/{INS_TEST_AUTHORITY}-299999999999914", headers=auth
        )
        assert read_known.status_code == read_unknown.status_code == 404
        assert read_known.json()["issue"][0]["code"] == read_unknown.json()["issue"][0]["code"]

    def test_closed_record_is_hidden_from_professionals_not_from_the_patient(
        self, dmp_server: FhirServer
    ) -> None:
        dmp_server.add_patient(TEST_CX, PatientState.CLOSED)
        search = f"/fhir/Patient?identifier=urn:oid:{INS_TEST_AUTHORITY}|{INS}"
        assert (
            dmp_server.client.get(search, headers=dmp_server.auth(Identity(patient=TEST_CX))).json()["total"]
            == 0
        )
        own = dmp_server.client.get(search, headers=dmp_server.auth(patient_self=TEST_CX)).json()
        assert own["total"] == 1
        assert own["entry"][0]["resource"]["active"] is False

    def test_a_patient_sees_only_himself(self, dmp_server: FhirServer) -> None:
        dmp_server.add_patient(TEST_CX)
        dmp_server.add_patient(OTHER_CX)
        auth = dmp_server.auth(patient_self=TEST_CX)
        other = dmp_server.client.get(f"/fhir/Patient/{INS_TEST_AUTHORITY}-{OTHER_INS}", headers=auth)
        assert other.status_code == 404
