"""ITI-65 Provide Document Bundle on POST /fhir: the IHE MHD examples of the manifest with their outcome,
atomicity, JSON and XML, and the cross-protocol path ITI-65 -> ITI-18 -> ITI-43 (SOAP)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from fhir_api.formats import Format, serialise
from tests.identity_helpers import sign
from tests.mhd.conftest import IHE_PATIENT, INS, INS_TEST_AUTHORITY, OTHER_INS, FhirServer
from tests.query.builders import NS, adhoc
from tests.repository.messages import RETRIEVE, envelope, retrieve_request
from xds_server.core.ports import PatientState
from xds_server.identity.dev_authority import Identity
from xds_server.storage import tables

DATA = Path(__file__).parent.parent / "data" / "mhd" / "provide"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data


def post(server: FhirServer, bundle: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> Any:
    body = bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode()
    return server.client.post("/fhir", content=body, headers={**server.auth(), **(headers or FHIR_JSON)})


def codes(response: Any) -> list[str]:
    return [i.get("details", {}).get("text", "") for i in response.json().get("issue", ())]


def seed(server: FhirServer, folder_unique_id: str | None = None) -> str:
    """An existing document (and Folder) for the examples that name one; its DocumentReference id."""
    bundle = load("ex-comprehensiveProvideDocumentBundleSimple")
    doc = bundle["entry"][1]["resource"]
    doc["masterIdentifier"]["value"] = "urn:oid:1.2.840.113556.1.8000.2554.53432.348.12973.17740.1"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "urn:oid:1.2.840.113556.1.8000.2554.1"
    if folder_unique_id:
        folder = copy.deepcopy(load("ex-comprehensiveProvideDocumentBundleComplete")["entry"][1])
        folder["resource"]["identifier"][0]["value"] = folder_unique_id
        folder["resource"]["entry"] = [{"item": {"reference": bundle["entry"][1]["fullUrl"]}}]
        bundle["entry"].append(folder)
    answer = post(server, bundle)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["entry"][1]["response"]["location"]).split("/", 1)[1]


def _retarget(bundle: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return json.loads(json.dumps(bundle).replace(old, new))


def existing_target(server: FhirServer, bundle: dict[str, Any]) -> dict[str, Any]:
    target = seed(server)
    bundle = _retarget(
        bundle, "DocumentReference/ex-DocumentReferenceComprehensive", f"DocumentReference/{target}"
    )
    return _retarget(bundle, "DocumentReference/ex-documentreference", f"DocumentReference/{target}")


def existing_folder(server: FhirServer, bundle: dict[str, Any]) -> dict[str, Any]:
    target = seed(server, "urn:oid:1.2.840.113556.1.8000.2554.58783.21864.3474.19410.46353")
    return _retarget(
        bundle, "DocumentReference/ex-DocumentReferenceComprehensive", f"DocumentReference/{target}"
    )


def as_is(_server: FhirServer, bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle


Setup = Callable[[FhirServer, dict[str, Any]], dict[str, Any]]

#: (fixture, setup, expected HTTP status, expected code in the OperationOutcome or None)
EXAMPLES: list[tuple[str, Setup, int, str | None]] = [
    ("ex-minimalProvideDocumentBundleSimple", as_is, 400, "XDSRegistryMetadataError"),
    ("ex-minimalProvideDocumentBundleSimpleContained", as_is, 400, "XDSRegistryMetadataError"),
    ("as-published-ex-comprehensiveProvideDocumentBundleSimple", as_is, 400, "XDSRegistryMetadataError"),
    ("ex-comprehensiveProvideDocumentBundleSimple", as_is, 200, None),
    ("ex-comprehensiveProvideDocumentBundleReplace", existing_target, 422, "XDSNonIdenticalSize"),
    ("fixed-size-ex-comprehensiveProvideDocumentBundleReplace", existing_target, 200, None),
    ("fixed-size-ex-comprehensiveProvideDocumentBundleReplace", as_is, 400, "XDSRegistryMetadataError"),
    ("ex-comprehensiveProvideDocumentBundleMultiple", as_is, 200, None),
    ("ex-comprehensiveProvideDocumentBundleComplete", existing_target, 200, None),
    ("ex-comprehensiveProvideDocumentBundleComplete", as_is, 400, "XDSRegistryMetadataError"),
    ("ex-unContainedComprehensiveProvideDocumentBundleComplete", existing_target, 200, None),
    ("ex-ProvideDocumentBundle-addToFolder", existing_folder, 200, None),
    ("ex-ProvideDocumentBundle-addToFolder", as_is, 422, "UnresolvedReferenceException"),
    ("ex-dummyBundleDocAndBinary", as_is, 422, "XDSRegistryMetadataError"),
    ("ex-comprehensiveProvideDocumentBundleDocument", as_is, 422, "FHIRDocumentNotSupported"),
    ("ex-DocumentReferenceMinimal", as_is, 400, None),
    ("ex-b-binary", as_is, 400, None),
    ("ex-minimalSubmissionSet", as_is, 400, None),
    ("ex-patient", as_is, 400, None),
]


class TestManifestExamples:
    @pytest.mark.parametrize(
        ("name", "setup", "status", "code"),
        EXAMPLES,
        ids=[f"{n}-{s.__name__}" for n, s, _, _ in EXAMPLES],
    )
    def test_example(
        self, ihe_server: FhirServer, name: str, setup: Setup, status: int, code: str | None
    ) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        bundle = setup(ihe_server, load(name))
        response = post(ihe_server, bundle)
        assert response.status_code == status, response.text
        if status == 200:
            answer = response.json()
            assert answer["resourceType"] == "Bundle" and answer["type"] == "transaction-response"
            assert len(answer["entry"]) == len(bundle["entry"])
            for request, result in zip(bundle["entry"], answer["entry"], strict=True):
                kind = request["resource"]["resourceType"]
                expected = "DocumentReference" if kind == "Parameters" else kind
                assert result["response"]["location"].startswith(f"{expected}/"), result
                created = request["request"]["method"] == "POST" and kind != "Patient"
                assert result["response"]["status"] == ("201 Created" if created else "200 OK")
        else:
            assert response.json()["resourceType"] == "OperationOutcome"
            if code is not None:
                assert code in codes(response), response.text


class TestReplace:
    def test_the_replaced_document_is_deprecated(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        bundle = existing_target(ihe_server, load("fixed-size-ex-comprehensiveProvideDocumentBundleReplace"))
        target = bundle["entry"][1]["request"]["url"].split("/", 1)[1]
        response = post(ihe_server, bundle)
        assert response.status_code == 200, response.text
        assert response.json()["entry"][1]["response"]["location"] == f"DocumentReference/{target}"
        status = registry_status(ihe_server, f"urn:uuid:{target}")
        assert status.endswith("Deprecated")

    def test_a_patch_without_its_replacement_is_refused(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        bundle = existing_target(ihe_server, load("fixed-size-ex-comprehensiveProvideDocumentBundleReplace"))
        del bundle["entry"][2]["resource"]["relatesTo"]
        response = post(ihe_server, bundle)
        assert response.status_code == 422
        assert "PartialReplaceContentNotProcessed" in codes(response)


def registry_status(server: FhirServer, entry_uuid: str) -> str:
    o = tables.registry_object.c
    with server.database.transaction(readonly=True) as connection:
        return str(connection.execute(select(o.status).where(o.entry_uuid == entry_uuid)).scalar_one())


def object_count(server: FhirServer) -> int:
    with server.database.transaction(readonly=True) as connection:
        return int(connection.execute(select(func.count()).select_from(tables.registry_object)).scalar_one())


def blob_state(server: FhirServer) -> tuple[list[str], list[str]]:
    blobs = server.client.app.state.services.blobs  # type: ignore[attr-defined]
    return sorted(i.key for i in blobs.list()), sorted(p.name for p in blobs.staging_dir.iterdir())


class TestAtomicity:
    """A bundle failing on its last entry leaves nothing behind: no registry row, no blob, no staged file."""

    @pytest.mark.parametrize("defect", ["hash", "size", "unknown-patient", "binary"])
    def test_failure_on_the_last_entry(self, ihe_server: FhirServer, defect: str) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        bundle = load("ex-comprehensiveProvideDocumentBundleMultiple")
        last_doc = bundle["entry"][3]["resource"]
        if defect == "hash":
            last_doc["content"][0]["attachment"]["hash"] = "Ck1VqNd45QIvq3AZd8XYQLvEhtA="
        elif defect == "size":
            last_doc["content"][0]["attachment"]["size"] = 1
        elif defect == "unknown-patient":
            for entry in bundle["entry"][:4:3]:
                entry["resource"]["subject"] = {
                    "reference": "Patient?identifier=urn:oid:1.3.6.1.4.1.21367.13.20.1000|NOBODY"
                }
            bundle["entry"][0]["resource"]["subject"] = {
                "reference": "Patient?identifier=urn:oid:1.3.6.1.4.1.21367.13.20.1000|NOBODY"
            }
        else:
            bundle["entry"][4]["resource"]["data"] = "not base64!"
        response = post(ihe_server, bundle)
        assert 400 <= response.status_code < 500, response.text
        expected = {
            "hash": "XDSNonIdenticalHash",
            "size": "XDSNonIdenticalSize",
            "unknown-patient": "XDSUnknownPatientId",
            "binary": "",  # FHIR core (Binary.data base64) refuses it first, without an XDS code
        }[defect]
        if defect == "unknown-patient":
            expected = (
                "XDSPatientIdDoesNotMatch" if "XDSPatientIdDoesNotMatch" in codes(response) else expected
            )
        assert expected in codes(response), response.text
        assert object_count(ihe_server) == 0
        assert blob_state(ihe_server) == ([], [])

    def test_registry_failure_rolls_every_row_back(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        assert post(ihe_server, load("ex-comprehensiveProvideDocumentBundleSimple")).status_code == 200
        before, blobs_before = object_count(ihe_server), blob_state(ihe_server)
        again = load(
            "ex-comprehensiveProvideDocumentBundleMultiple"
        )  # its last document: a registered uniqueId
        again["entry"][1]["resource"]["masterIdentifier"]["value"] += "9"  # a new document
        again["entry"][3]["resource"]["masterIdentifier"] = load(
            "ex-comprehensiveProvideDocumentBundleSimple"
        )["entry"][1]["resource"]["masterIdentifier"]
        response = post(ihe_server, again)
        assert response.status_code >= 400, response.text
        assert "XDSNonIdenticalHash" in codes(response) or "XDSNonIdenticalSize" in codes(response)
        assert object_count(ihe_server) == before
        assert blob_state(ihe_server) == blobs_before  # the second document's blob was never stored


class TestFormats:
    def test_xml_request_and_answer(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        xml = serialise(load("ex-comprehensiveProvideDocumentBundleSimple"), Format.XML)
        response = post(
            ihe_server, xml, {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}
        )
        assert response.status_code == 200, response.text
        root = etree.fromstring(response.content)
        fhir = "{http://hl7.org/fhir}"
        assert root.tag == f"{fhir}Bundle"
        assert root.find(f"{fhir}type").get("value") == "transaction-response"  # type: ignore[union-attr]
        assert len(root.findall(f"{fhir}entry")) == 3

    def test_no_bundle_no_json(self, ihe_server: FhirServer) -> None:
        assert post(ihe_server, b"{not json").status_code == 400
        batch = load("ex-comprehensiveProvideDocumentBundleSimple") | {"type": "batch"}
        assert post(ihe_server, batch).status_code == 400

    def test_without_token_401(self, ihe_server: FhirServer) -> None:
        response = ihe_server.client.post("/fhir", content=b"{}", headers=FHIR_JSON)
        assert response.status_code == 401


class TestCrossProtocol:
    """ITI-65 (FHIR) -> ITI-18 -> ITI-43 (SOAP): the same document, bytes, codes and codingSchemes."""

    def test_provided_by_fhir_found_and_retrieved_by_soap(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        response = post(ihe_server, load("ex-comprehensiveProvideDocumentBundleSimple"))
        assert response.status_code == 200
        doc_id = response.json()["entry"][1]["response"]["location"].split("/", 1)[1]
        query = adhoc(
            FIND_DOCUMENTS,
            {
                "$XDSDocumentEntryPatientId": f"'{IHE_PATIENT}'",
                "$XDSDocumentEntryStatus": "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')",
            },
            return_type="LeafClass",
        )
        message = envelope_text(STORED_QUERY, query)
        answer = ihe_server.client.post(
            "/xds/registry",
            content=sign(message, ihe_server.authority, None),  # type: ignore[arg-type]
            headers={"Content-Type": "application/soap+xml"},
        )
        assert answer.status_code == 200, answer.text
        root = etree.fromstring(answer.content)
        entries = root.findall(".//rim:ExtrinsicObject", NS)
        assert [e.get("id") for e in entries] == [f"urn:uuid:{doc_id}"]
        entry = entries[0]
        assert entry.get("mimeType") == "text/plain"
        schemes = {
            c.get("nodeRepresentation"): c.find("rim:Slot/rim:ValueList/rim:Value", NS).text  # type: ignore[union-attr]
            for c in entry.findall("rim:Classification", NS)
            if c.get("nodeRepresentation")
        }
        assert schemes["60591-5"] == "2.16.840.1.113883.6.1"  # LOINC typeCode
        assert schemes["11369-6"] == "2.16.840.1.113883.6.1"  # LOINC classCode
        assert schemes["R"] == "2.16.840.1.113883.5.25"
        assert schemes["82242000"] == "2.16.840.1.113883.6.96"  # SNOMED CT
        assert schemes["urn:ihe:iti:xds-sd:text:2008"] == "1.3.6.1.4.1.19376.1.2.3"
        slots = {
            s.get("name"): s.find("rim:ValueList/rim:Value", NS).text for s in entry.findall("rim:Slot", NS)
        }  # type: ignore[union-attr]
        assert slots["hash"] == "0a4d55a8d778e5022fab701977c5d840bbc486d0"
        assert slots["size"] == "11"
        assert slots["creationTime"] == "20200202045050"
        unique_id = next(
            x.get("value")
            for x in entry.findall("rim:ExternalIdentifier", NS)
            if x.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
        )
        repository = ihe_server.settings.repository_unique_id
        retrieve = envelope(RETRIEVE, retrieve_request(repository, str(unique_id)))
        got = ihe_server.client.post(
            "/xds/repository",
            content=sign(retrieve, ihe_server.authority, None),  # type: ignore[arg-type]
            headers={"Content-Type": "application/soap+xml"},
        )
        assert got.status_code == 200
        assert b"Hello World" in got.content
        assert b"Success" in got.content


def envelope_text(action: str, body: str) -> bytes:
    import uuid

    return (
        f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:wsa="{NS["wsa"]}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "<wsa:To>http://localhost/xds/registry</wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


class TestRoundTrip:
    """What ITI-65 registered reads back on ITI-67 / ITI-68 with the same codes, systems, hash and bytes."""

    def test_read_back(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        sent = load("ex-comprehensiveProvideDocumentBundleSimple")
        response = post(ihe_server, sent)
        assert response.status_code == 200
        locations = [e["response"]["location"] for e in response.json()["entry"]]
        doc = ihe_server.client.get(f"/fhir/{locations[1]}", headers=ihe_server.auth())
        assert doc.status_code == 200, doc.text
        got, original = doc.json(), sent["entry"][1]["resource"]
        for field in ("type", "securityLabel", "masterIdentifier", "status"):
            assert got[field] == original[field] or (
                field == "type" and got[field]["coding"][0]["code"] == "60591-5"
            )
        assert got["category"][0]["coding"][0]["system"] == "http://loinc.org"
        attachment = got["content"][0]["attachment"]
        assert attachment["hash"] == original["content"][0]["attachment"]["hash"]
        assert attachment["size"] == 11
        assert got["context"]["facilityType"]["coding"][0]["system"] == "http://snomed.info/sct"
        assert attachment["url"].endswith(f"/{locations[2]}")
        content = ihe_server.client.get(attachment["url"], headers=ihe_server.auth())
        assert content.status_code == 200
        assert content.content == b"Hello World"
        assert content.headers["content-type"].startswith("text/plain")


PDSM_DATA = Path(__file__).parent.parent / "data" / "pdsm" / "provide"
TEST_CX = f"{INS}^^^&{INS_TEST_AUTHORITY}&ISO^NH"
OTHER_CX = f"{OTHER_INS}^^^&{INS_TEST_AUTHORITY}&ISO^NH"


class TestPdsmExamples:
    @pytest.mark.parametrize(
        "name", ["Bundle-example-td2-iti65-lot-soumission", "Bundle-example-td2-1-remplacement"]
    )
    def test_strict_pdsm_refuses_the_draft_examples(self, dmp_server: FhirServer, name: str) -> None:
        bundle = json.loads((PDSM_DATA / f"{name}.json").read_text(encoding="utf-8"))
        response = post(dmp_server, bundle)
        assert response.status_code == 422, response.text
        text = response.text
        assert "custodian" in text and "identifier (uniqueId)" in text
        assert set(codes(response)) == {"XDSRegistryMetadataError"}
        assert object_count(dmp_server) == 0


def dmp_bundle() -> dict[str, Any]:
    """The IHE Comprehensive example, about the dmp-test patient."""
    bundle = load("ex-comprehensiveProvideDocumentBundleSimple")
    subject = {"reference": f"Patient?identifier=urn:oid:{INS_TEST_AUTHORITY}|{INS}"}
    bundle["entry"][0]["resource"]["subject"] = subject
    bundle["entry"][1]["resource"]["subject"] = subject
    return bundle


class TestDmpPolicy:
    """The DMP write rules through FHIR, from the attacker's side: nothing stored, no blob left."""

    def test_closed_record_refused_like_an_absent_one(self, dmp_server: FhirServer) -> None:
        dmp_server.add_patient(TEST_CX, PatientState.CLOSED)
        auth = dmp_server.auth(Identity(patient=TEST_CX))
        closed = dmp_server.client.post(
            "/fhir", content=json.dumps(dmp_bundle()).encode(), headers={**auth, **FHIR_JSON}
        )
        dmp_server.add_patient(OTHER_CX)
        absent_bundle = json.loads(json.dumps(dmp_bundle()).replace(INS, "299999999999945"))
        absent_cx = TEST_CX.replace(INS, "299999999999945")
        absent = dmp_server.client.post(
            "/fhir",
            content=json.dumps(absent_bundle).encode(),
            headers={**dmp_server.auth(Identity(patient=absent_cx)), **FHIR_JSON},
        )
        assert closed.status_code == absent.status_code == 404, (closed.text, absent.text)
        assert codes(closed) == codes(absent) == ["XDSUnknownPatientId"]
        assert object_count(dmp_server) == 0
        assert blob_state(dmp_server) == ([], [])

    def test_professional_bound_to_another_patient_is_refused(self, dmp_server: FhirServer) -> None:
        dmp_server.add_patient(TEST_CX)
        dmp_server.add_patient(OTHER_CX)
        auth = dmp_server.auth(Identity(patient=OTHER_CX))
        response = dmp_server.client.post(
            "/fhir", content=json.dumps(dmp_bundle()).encode(), headers={**auth, **FHIR_JSON}
        )
        assert response.status_code == 403, response.text
        assert codes(response) == ["DMPAccessDenied"]
        assert object_count(dmp_server) == 0
        assert blob_state(dmp_server) == ([], [])


# ---- PDSm metadata update (PATCH) ----------------------------------------------------------------

PATCH_JSON = {"Content-Type": "application/json-patch+json"}
MASKING_SYSTEM_TYPO = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
)
ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"


def patch(server: FhirServer, identifier: str, operations: Any, headers: dict[str, str] | None = None) -> Any:
    return server.client.patch(
        "/fhir/DocumentReference",
        params={"identifier": identifier},
        content=json.dumps(operations).encode(),
        headers={**(headers or server.auth()), **PATCH_JSON},
    )


def provided_unique_id(server: FhirServer, bundle: dict[str, Any] | None = None) -> tuple[str, str]:
    bundle = bundle or load("ex-comprehensiveProvideDocumentBundleSimple")
    response = post(server, bundle)
    assert response.status_code == 200, response.text
    doc_id = response.json()["entry"][1]["response"]["location"].split("/", 1)[1]
    return doc_id, "urn:ietf:rfc:3986|" + bundle["entry"][1]["resource"]["masterIdentifier"]["value"]


class TestMetadataUpdate:
    def test_status_superseded_then_current(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        doc_id, identifier = provided_unique_id(ihe_server)
        response = patch(
            ihe_server, identifier, [{"op": "replace", "path": "/status", "value": "superseded"}]
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "superseded"
        assert registry_status(ihe_server, f"urn:uuid:{doc_id}").endswith("Deprecated")
        back = patch(ihe_server, identifier, [{"op": "replace", "path": "/status", "value": "current"}])
        assert back.status_code == 200, back.text
        assert registry_status(ihe_server, f"urn:uuid:{doc_id}").endswith("Approved")

    def test_security_label_and_archive_make_a_new_version(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        doc_id, identifier = provided_unique_id(ihe_server)
        label = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]
        }
        operations = [
            {"op": "replace", "path": "/securityLabel/0", "value": label},
            {"op": "add", "path": "/extension", "value": [{"url": ARCHIVED, "valueBoolean": True}]},
        ]
        response = patch(ihe_server, identifier, operations)
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["id"] != doc_id  # a new metadata version, a new entryUUID
        assert updated["securityLabel"][0]["coding"][0]["code"] == "N"
        assert {"url": ARCHIVED, "valueBoolean": True} in updated["extension"]
        assert registry_status(ihe_server, f"urn:uuid:{doc_id}").endswith("Deprecated")
        read = ihe_server.client.get(f"/fhir/DocumentReference/{updated['id']}", headers=ihe_server.auth())
        assert read.json()["securityLabel"] == updated["securityLabel"]

    def test_anything_else_is_405(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        _doc_id, identifier = provided_unique_id(ihe_server)
        before = object_count(ihe_server)
        for operation in (
            {"op": "replace", "path": "/content/0/attachment/title", "value": "another"},
            {"op": "remove", "path": "/type"},
            {"op": "add", "path": "/description", "value": "x"},
        ):
            response = patch(ihe_server, identifier, [operation])
            assert response.status_code == 405, (operation, response.text)
        assert object_count(ihe_server) == before

    @pytest.mark.parametrize(
        "operations",
        [
            {"op": "replace"},
            [{"op": "jump", "path": "/status"}],
            [{"op": "replace", "path": "/nothing/here", "value": 1}],
            [{"op": "test", "path": "/status", "value": "superseded"}],
            [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
            [{"op": "replace", "path": "/status", "value": 12}],
        ],
    )
    def test_malformed_patch_is_422(self, ihe_server: FhirServer, operations: Any) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        _doc_id, identifier = provided_unique_id(ihe_server)
        before = object_count(ihe_server)
        response = patch(ihe_server, identifier, operations)
        assert response.status_code == 422, response.text
        assert object_count(ihe_server) == before

    def test_other_patch_formats_are_415(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        _doc_id, identifier = provided_unique_id(ihe_server)
        response = ihe_server.client.patch(
            "/fhir/DocumentReference",
            params={"identifier": identifier},
            content=b"{}",
            headers={**ihe_server.auth(), "Content-Type": "application/fhir+json"},
        )
        assert response.status_code == 415

    def test_no_match_404_several_412(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(IHE_PATIENT)
        _doc_id, identifier = provided_unique_id(ihe_server)
        superseded = [{"op": "replace", "path": "/status", "value": "superseded"}]
        assert patch(ihe_server, "urn:ietf:rfc:3986|urn:oid:1.2.3.4.5", superseded).status_code == 404
        again = load(
            "ex-comprehensiveProvideDocumentBundleSimple"
        )  # the same document once more (NIST 12004)
        again["entry"][0]["resource"]["identifier"][0]["value"] = "urn:oid:1.2.840.113556.1.8000.2554.99"
        assert post(ihe_server, again).status_code == 200
        assert patch(ihe_server, identifier, superseded).status_code == 412


# ---- the DMP rules on ITI-65 and on the metadata update --------------------------------------------


def dmp_professional(national_id: str, structure: str = "S-OTHER") -> Identity:
    return Identity(
        national_id=national_id, profession="10", savoir_faire="SM26", structure=structure, patient=TEST_CX
    )


AUTHOR = dmp_professional("810000000001", "S-AUTHOR")
MEDECIN = dmp_professional("810000000002")
ADMINISTRATOR = dmp_professional("810000000004")


def dmp_valid_bundle(author: Identity = AUTHOR, unique: str = "1") -> dict[str, Any]:
    """The IHE Comprehensive example with the DMP's patient, author and value sets (dmp-test profile)."""
    bundle = dmp_bundle()
    ss, doc = bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]
    ss["identifier"][0]["value"] = f"urn:oid:1.2.250.1.999.1.{unique}"
    doc["masterIdentifier"]["value"] = f"urn:oid:1.2.250.1.999.2.{unique}"
    doc["contained"] = [
        {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": f"urn:oid:{INS_TEST_AUTHORITY}", "value": INS}],
        },
        {
            "resourceType": "Practitioner",
            "id": "author",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": author.national_id}],
            "name": [{"family": "DOC", "given": ["Test"]}],
        },
        {
            "resourceType": "Organization",
            "id": "structure",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": author.structure}],
            "name": "Structure",
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role",
            "practitioner": {"reference": "#author"},
            "organization": {"reference": "#structure"},
        },
    ]
    doc["author"] = [{"reference": "#role"}]
    doc["type"] = {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]}
    doc["category"] = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.1", "code": "10"}]}]
    doc["securityLabel"] = [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]}
    ]
    doc["content"][0]["format"] = {
        "system": "urn:oid:1.3.6.1.4.1.19376.1.2.3",
        "code": "urn:ihe:iti:xds-sd:pdf:2008",
    }
    doc["context"]["facilityType"] = {"coding": [{"system": "urn:oid:1.2.250.1.71.4.2.4", "code": "SA01"}]}
    doc["context"]["practiceSetting"] = {
        "coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.9", "code": "AMBULATOIRE"}]
    }
    return bundle


def dmp_record(server: FhirServer, **settings: Any) -> None:
    from xds_server.storage.records import SqlRecordStore

    server.add_patient(TEST_CX)
    with server.database.transaction() as connection:
        records = SqlRecordStore(connection)
        for who in settings.get("authorised", ()):
            records.authorize(TEST_CX, who.national_id)
        for who in settings.get("blocked", ()):
            records.block(TEST_CX, who.national_id)
        for who in settings.get("administrators", ()):
            records.set_settings(TEST_CX, administrator=who.national_id)


def masked_with(system: str) -> list[dict[str, Any]]:
    return [
        {
            "op": "add",
            "path": "/securityLabel/-",
            "value": {"coding": [{"system": system, "code": "MASQUE_PS"}]},
        }
    ]


MASKING_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
)


class TestDmpWrites:
    def test_author_deposits_with_dmp_value_sets(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server)
        response = post_as(dmp_server, AUTHOR, dmp_valid_bundle())
        assert response.status_code == 200, response.text

    def test_blocked_professional_is_refused(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, blocked=[AUTHOR])
        response = post_as(dmp_server, AUTHOR, dmp_valid_bundle())
        assert response.status_code == 403, response.text
        assert object_count(dmp_server) == 0
        assert blob_state(dmp_server) == ([], [])

    def test_value_set_binding_applies(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server)
        bundle = dmp_valid_bundle()
        bundle["entry"][1]["resource"]["type"] = {
            "coding": [{"system": "http://loinc.org", "code": "99999-9"}]
        }
        response = post_as(dmp_server, AUTHOR, bundle)
        assert response.status_code == 400, response.text
        assert "XDSRegistryMetadataError" in codes(response)
        assert object_count(dmp_server) == 0


def post_as(server: FhirServer, who: Identity, bundle: dict[str, Any]) -> Any:
    return server.client.post(
        "/fhir", content=json.dumps(bundle).encode(), headers={**server.auth(who), **FHIR_JSON}
    )


class TestDmpMasking:
    """Masking through PATCH, from the attacker's side."""

    def _deposit(self, server: FhirServer) -> str:
        bundle = dmp_valid_bundle()
        assert post_as(server, AUTHOR, bundle).status_code == 200
        return "urn:ietf:rfc:3986|" + bundle["entry"][1]["resource"]["masterIdentifier"]["value"]

    def test_author_masks_and_unmasks_both_spellings(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN])
        identifier = self._deposit(dmp_server)
        masked = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM_TYPO), dmp_server.auth(AUTHOR))
        assert masked.status_code == 200, masked.text
        labels = [c["code"] for label in masked.json()["securityLabel"] for c in label["coding"]]
        assert labels == ["N", "MASQUE_PS"]
        # the medecin no longer finds it: ITI-67 through the same scope
        search = dmp_server.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": f"urn:oid:{INS_TEST_AUTHORITY}|{INS}", "status": "current"},
            headers=dmp_server.auth(MEDECIN),
        )
        assert search.status_code == 200 and search.json().get("total", 0) == 0, search.text
        unmasked = patch(
            dmp_server, identifier, [{"op": "remove", "path": "/securityLabel/1"}], dmp_server.auth(AUTHOR)
        )
        assert unmasked.status_code == 200, unmasked.text
        assert len(unmasked.json()["securityLabel"]) == 1
        again = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(AUTHOR))
        assert again.status_code == 200, again.text

    def test_someone_else_cannot_unmask_nor_learn_it_exists(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN])
        identifier = self._deposit(dmp_server)
        assert (
            patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(AUTHOR)).status_code
            == 200
        )
        before = object_count(dmp_server)
        unmask = patch(
            dmp_server, identifier, [{"op": "remove", "path": "/securityLabel/1"}], dmp_server.auth(MEDECIN)
        )
        ghost = patch(
            dmp_server,
            "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.2.404",
            [{"op": "remove", "path": "/securityLabel/1"}],
            dmp_server.auth(MEDECIN),
        )
        assert unmask.status_code == ghost.status_code == 404, unmask.text
        assert (
            unmask.json()["issue"][0]["diagnostics"].split("identifier=")[0]
            == ghost.json()["issue"][0]["diagnostics"].split("identifier=")[0]
        )
        assert object_count(dmp_server) == before

    def test_other_professional_may_not_mask(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN])
        identifier = self._deposit(dmp_server)
        response = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(MEDECIN))
        assert response.status_code == 403, response.text
        assert codes(response) == ["DMPAccessDenied"]

    def test_a_professional_of_another_patient_gets_404(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server)
        identifier = self._deposit(dmp_server)
        dmp_server.add_patient(OTHER_CX)
        stranger = Identity(
            national_id="810000000005", profession="10", savoir_faire="SM26", patient=OTHER_CX
        )
        response = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(stranger))
        assert response.status_code == 404, response.text

    def test_administrator_masks(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN], administrators=[ADMINISTRATOR])
        identifier = self._deposit(dmp_server)
        response = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(ADMINISTRATOR))
        assert response.status_code == 200, response.text


class TestCapability:
    def test_metadata_lists_the_transaction_and_the_patch(self, ihe_server: FhirServer) -> None:
        statement = ihe_server.client.get("/fhir/metadata").json()
        rest = statement["rest"][0]
        assert {"code": "transaction"} in [{"code": i["code"]} for i in rest.get("interaction", ())]
        document = next(r for r in rest["resource"] if r["type"] == "DocumentReference")
        assert "patch" in [i["code"] for i in document["interaction"]]
        assert (
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient"
            in statement["instantiates"]
        )


class TestPdsmAdapted:
    """The same PDSM4DMP examples made PDSm- and DMP-valid (README): accepted on dmp-test, replacement too."""

    def _load(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((PDSM_DATA / f"adapted-{name}.json").read_text(encoding="utf-8"))
        return data

    def test_submission_then_replacement(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server)
        author = dmp_professional("899700218896", "S-AUTHOR")
        first = post_as(dmp_server, author, self._load("Bundle-example-td2-iti65-lot-soumission"))
        assert first.status_code == 200, first.text
        original = first.json()["entry"][1]["response"]["location"].split("/", 1)[1]
        replacement = _retarget(
            self._load("Bundle-example-td2-1-remplacement"),
            "DocumentReference/doc-x-id",
            f"DocumentReference/{original}",
        )
        second = post_as(dmp_server, author, replacement)
        assert second.status_code == 200, second.text
        assert [e["response"]["status"] for e in second.json()["entry"]] == [
            "201 Created",
            "201 Created",
            "200 OK",
            "201 Created",
        ]
        assert registry_status(dmp_server, f"urn:uuid:{original}").endswith("Deprecated")


class TestPatientMasking:
    """The patient hides a document from professionals and shows it again (PDSm PATCH with his own token);
    he cannot touch what professionals set, nor another patient's documents."""

    def _deposit(self, server: FhirServer) -> str:
        bundle = dmp_valid_bundle()
        assert post_as(server, AUTHOR, bundle).status_code == 200
        return "urn:ietf:rfc:3986|" + bundle["entry"][1]["resource"]["masterIdentifier"]["value"]

    def _medecin_finds(self, server: FhirServer) -> int:
        search = server.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": f"urn:oid:{INS_TEST_AUTHORITY}|{INS}", "status": "current"},
            headers=server.auth(MEDECIN),
        )
        assert search.status_code == 200, search.text
        return int(search.json().get("total", 0))

    def test_patient_masks_and_unmasks(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN])
        identifier = self._deposit(dmp_server)
        patient = dmp_server.auth(patient_self=TEST_CX)
        assert self._medecin_finds(dmp_server) == 1
        masked = patch(dmp_server, identifier, masked_with(MASKING_SYSTEM), patient)
        assert masked.status_code == 200, masked.text
        assert self._medecin_finds(dmp_server) == 0
        unmasked = patch(dmp_server, identifier, [{"op": "remove", "path": "/securityLabel/1"}], patient)
        assert unmasked.status_code == 200, unmasked.text
        assert self._medecin_finds(dmp_server) == 1

    def test_patient_cannot_change_other_labels(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server, authorised=[MEDECIN])
        identifier = self._deposit(dmp_server)
        patient = dmp_server.auth(patient_self=TEST_CX)
        before = object_count(dmp_server)
        restricted = [
            {
                "op": "replace",
                "path": "/securityLabel/0",
                "value": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                    ]
                },
            }
        ]
        response = patch(dmp_server, identifier, restricted, patient)
        assert response.status_code == 403, response.text
        status = patch(
            dmp_server, identifier, [{"op": "replace", "path": "/status", "value": "superseded"}], patient
        )
        assert status.status_code == 403, status.text
        assert object_count(dmp_server) == before

    def test_another_patient_gets_404(self, dmp_server: FhirServer) -> None:
        dmp_record(dmp_server)
        identifier = self._deposit(dmp_server)
        dmp_server.add_patient(OTHER_CX)
        response = patch(
            dmp_server, identifier, masked_with(MASKING_SYSTEM), dmp_server.auth(patient_self=OTHER_CX)
        )
        assert response.status_code == 404, response.text
