"""The cross-protocol half ITI-41 (SOAP) -> ITI-67 -> ITI-68 (FHIR): the documents a source provided over SOAP
are the ones FHIR finds (same set as ITI-18 FindDocuments), with the same codes and codingSchemes, and
ITI-68 serves the same bytes as ITI-43; for one actor, both faces filter alike (dmp-test)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

from lxml import etree

from fhir_api.mapping.codes import coding_scheme
from tests.e2e.test_dmp_policy import (
    ANAPATH,
    APPROVED,
    AUTHOR,
    FIND_DOCUMENTS,
    KINE,
    MEDECIN,
    STRANGER,
    Dmp,
    document,
)
from tests.identity_helpers import sign
from tests.mhd.conftest import FhirServer
from tests.mhd.seed import entries, provide
from tests.mhd.test_dmp_fhir import PATIENT_ID as DMP_PATIENT_ID
from tests.mhd.test_dmp_fhir import auth, dmp  # noqa: F401  (the dmp-test fixture)
from tests.query.builders import adhoc
from tests.repository.messages import RETRIEVE, Doc, envelope, retrieve_request
from xds_server.core.policy import AccessMode

NIST_PATIENT = "SR7^^^&1.2.260&ISO"
NIST_ID = "urn:oid:1.2.260|SR7"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM, "xdsb": "urn:ihe:iti:xds-b:2007"}
SOAP_XML = {"Content-Type": "application/soap+xml"}
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
CLASS_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
TYPE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
FORMAT_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
CONF_SCHEME = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"


def _iti18(server: FhirServer) -> etree._Element:
    query = adhoc(
        FIND_DOCUMENTS,
        {"$XDSDocumentEntryPatientId": f"'{NIST_PATIENT}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"},
        "LeafClass",
    )
    body = etree.fromstring(query) if isinstance(query, str | bytes) else query
    message = sign(envelope("urn:ihe:iti:2007:RegistryStoredQuery", body), server.authority)
    response = server.client.post(
        "/xds/registry", content=message, headers={"Content-Type": "application/soap+xml"}
    )
    return etree.fromstring(response.content)


def _unique_id(extrinsic: etree._Element) -> str:
    found = extrinsic.find(f"rim:ExternalIdentifier[@identificationScheme='{DE_UNIQUE_ID}']", NS)
    assert found is not None
    return found.get("value", "")


def _classifications(extrinsic: etree._Element) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for c in extrinsic.iterfind("rim:Classification", NS):
        scheme = c.get("classificationScheme", "")
        slot = c.find("rim:Slot[@name='codingScheme']/rim:ValueList/rim:Value", NS)
        found.setdefault(scheme, set()).add(
            (c.get("nodeRepresentation", ""), slot.text if slot is not None else "")
        )
    return found


def _codings(concepts: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["code"], coding_scheme(c["system"])) for concept in concepts for c in concept["coding"]}


class TestIti41ThenFhir:
    def test_same_documents_codes_and_bytes(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(NIST_PATIENT)
        docs = [Doc(b"first document"), Doc(b"second document, longer", mime_type="text/xml")]
        provide(ihe_server, docs, NIST_PATIENT)
        # ITI-18 LeafClass: the reference
        leaf = _iti18(ihe_server)
        extrinsics = {
            e.find(
                "rim:ExternalIdentifier[@identificationScheme='urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']",
                NS,
            ).get("value"): e  # type: ignore[union-attr]
            for e in leaf.iter(f"{{{RIM}}}ExtrinsicObject")
        }
        bundle = ihe_server.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": NIST_ID, "status": "current"},
            headers=ihe_server.auth(),
        ).json()
        resources = {r["masterIdentifier"]["value"].removeprefix("urn:oid:"): r for r in entries(bundle)}
        assert set(resources) == set(extrinsics) == {d.unique_id for d in docs}
        for doc in docs:
            resource, extrinsic = resources[doc.unique_id], extrinsics[doc.unique_id]
            assert resource["id"] == extrinsic.get("id", "").removeprefix("urn:uuid:")
            assert (
                resource["content"][0]["attachment"]["contentType"]
                == extrinsic.get("mimeType")
                == doc.mime_type
            )
            codes = _classifications(extrinsic)
            assert _codings(resource["category"]) == codes[CLASS_SCHEME]
            assert _codings([resource["type"]]) == codes[TYPE_SCHEME]
            assert _codings(resource["securityLabel"]) == codes[CONF_SCHEME]
            fmt = resource["content"][0]["format"]
            assert {(fmt["code"], coding_scheme(fmt["system"]))} == codes[FORMAT_SCHEME]
            # ITI-68 gives the bytes ITI-43 gives
            fhir_bytes = ihe_server.client.get(
                resource["content"][0]["attachment"]["url"], headers=ihe_server.auth()
            ).content
            assert fhir_bytes == doc.content
            attachment = resource["content"][0]["attachment"]
            assert base64.b64decode(attachment["hash"]).hex() == hashlib.sha1(doc.content).hexdigest()
            assert attachment["size"] == len(doc.content)
            assert doc.content in _iti43(ihe_server, doc.unique_id)


def _iti43(server: FhirServer, unique_id: str) -> bytes:
    request = retrieve_request(server.settings.repository_unique_id, unique_id)
    message = sign(envelope(RETRIEVE, request), server.authority)
    response = server.client.post(
        "/xds/repository", content=message, headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 200
    return response.content


class TestSameFilteringForTheSameActor:
    def test_iti18_and_iti67_agree_for_each_actor(self, dmp: Dmp) -> None:  # noqa: F811
        dmp.record(authorised=[MEDECIN, KINE, AUTHOR])
        normal = dmp.deposit(AUTHOR, document()).documents[0]
        masked = dmp.deposit(AUTHOR, document(masked=True)).documents[0]
        anapath = dmp.deposit(AUTHOR, document(type_code=ANAPATH)).documents[0]
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="coma")
        seen: dict[str, set[str]] = {}
        for name, actor in (("medecin", MEDECIN), ("kine", KINE), ("author", AUTHOR), ("urgent", urgent)):
            soap = set(dmp.find(actor).ids)
            response = dmp.client.get(
                "/fhir/DocumentReference",
                params={"patient.identifier": DMP_PATIENT_ID, "status": "current"},
                headers=auth(dmp, actor),
            )
            fhir = {f"urn:uuid:{r['id']}" for r in entries(response.json())}
            assert soap == fhir, name
            seen[name] = fhir
        assert masked.entry_uuid not in seen["medecin"] and masked.entry_uuid in seen["author"]
        assert anapath.entry_uuid not in seen["kine"] and normal.entry_uuid in seen["kine"]
        # the refused actor: refused on both faces
        assert dmp.find(STRANGER).codes == ("DMPAccessDenied",)
        response = dmp.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": DMP_PATIENT_ID, "status": "current"},
            headers=auth(dmp, STRANGER),
        )
        assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "DMPAccessDenied"
