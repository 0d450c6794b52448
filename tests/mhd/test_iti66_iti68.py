"""ITI-66 Find Document Lists + List read, and ITI-68 Retrieve Document (Binary read), ihe profile."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import pytest

from tests.core import builders
from tests.core.builders import OTHER_PATIENT, PATIENT, code
from tests.mhd.conftest import FhirServer
from tests.mhd.seed import content_of, entries, ids, new_uuid, register, remove
from xds_server.core.metadata import Author
from xds_server.core.vocabulary import AssociationType

PATIENT_ID = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-1"
OTHER_ID = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-2"
S1 = "1.3.6.1.4.1.21367.100.1"
MIB = 1024 * 1024


@dataclass
class Lists:
    server: FhirServer
    names: dict[str, str]
    unique_ids: dict[str, str]

    def labels(self, **params: str) -> set[str]:
        query = {"patient.identifier": PATIENT_ID, "status": "current", **params}
        response = self.server.client.get("/fhir/List", params=query, headers=self.server.auth())
        assert response.status_code == 200, response.text
        back = {v: k for k, v in self.names.items()}
        return {back.get(i, i) for i in ids(response.json())}


@pytest.fixture
def lists(ihe_server: FhirServer) -> Lists:
    ihe_server.add_patient(PATIENT)
    ihe_server.add_patient(OTHER_PATIENT)
    doc = builders.document(new_uuid())
    folder = builders.folder(new_uuid(), codes=(code("Referrals", S1),))
    ss1 = builders.submission_set(
        new_uuid(),
        submission_time="20200101100000",
        source_id="1.2.3.1",
        content_type_code=code("CT1", S1),
        authors=(Author(person="^Martin^Paul"),),
    )
    register(
        ihe_server,
        doc,
        ss=ss1,
        folders=(folder,),
        associations=builders.filed(folder.entry_uuid, doc.entry_uuid, new_uuid(), ss1.entry_uuid),
    )
    ss2 = builders.submission_set(new_uuid(), submission_time="20210101100000", source_id="1.2.3.2")
    register(ihe_server, builders.document(new_uuid()), ss=ss2)
    ss3 = builders.submission_set(new_uuid(), patient_id=OTHER_PATIENT)
    register(
        ihe_server,
        builders.document(new_uuid(), patient_id=OTHER_PATIENT, source_patient_id=OTHER_PATIENT),
        ss=ss3,
    )
    objects = {"ss1": ss1, "ss2": ss2, "ss3": ss3, "folder": folder, "doc": doc}
    return Lists(
        ihe_server,
        {k: v.entry_uuid.removeprefix("urn:uuid:") for k, v in objects.items()},
        {k: v.unique_id or "" for k, v in objects.items()},
    )


class TestFindDocumentLists:
    def test_code_selects_the_query(self, lists: Lists) -> None:
        assert lists.labels(code="submissionset") == {"ss1", "ss2"}
        assert lists.labels(code="https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|folder") == {
            "folder"
        }
        assert lists.labels(code="submissionset,folder") == {"ss1", "ss2", "folder"}

    def test_missing_code_patient_or_status_is_400(self, lists: Lists) -> None:
        client, auth = lists.server.client, lists.server.auth()
        for params in (
            {"patient.identifier": PATIENT_ID, "status": "current"},
            {"code": "folder", "status": "current"},
            {"code": "folder", "patient.identifier": PATIENT_ID},
            {"code": "bogus", "patient.identifier": PATIENT_ID, "status": "current"},
        ):
            response = client.get("/fhir/List", params=params, headers=auth)
            assert response.status_code == 400, params

    def test_date(self, lists: Lists) -> None:
        assert lists.labels(code="submissionset", date="ge2021") == {"ss2"}
        assert lists.labels(code="submissionset", date="lt2021") == {"ss1"}

    def test_source_id_designation_type_author(self, lists: Lists) -> None:
        assert lists.labels(code="submissionset", sourceId="urn:oid:1.2.3.2") == {"ss2"}
        assert lists.labels(code="submissionset", designationType=f"urn:oid:{S1}|CT1") == {"ss1"}
        assert lists.labels(code="submissionset", designationType="CT1") == {"ss1"}
        assert lists.labels(code="folder", designationType="Referrals") == {"folder"}
        assert lists.labels(code="folder", designationType="Other") == set()
        assert lists.labels(code="submissionset", **{"source.family": "Martin"}) == {"ss1"}

    def test_identifier_and_id(self, lists: Lists) -> None:
        assert lists.labels(code="submissionset", identifier=f"urn:oid:{lists.unique_ids['ss2']}") == {"ss2"}
        assert lists.labels(code="submissionset", _id=lists.names["ss1"]) == {"ss1"}
        assert lists.labels(code="submissionset", _id=lists.names["ss3"]) == set()  # another patient's

    def test_members_and_shape(self, lists: Lists) -> None:
        response = lists.server.client.get(
            "/fhir/List",
            params={"patient.identifier": PATIENT_ID, "status": "current", "code": "submissionset,folder"},
            headers=lists.server.auth(),
        )
        found = {r["id"]: r for r in entries(response.json())}
        ss1 = found[lists.names["ss1"]]
        items = {e["item"]["reference"] for e in ss1["entry"]}
        assert f"DocumentReference/{lists.names['doc']}" in items
        assert f"List/{lists.names['folder']}" in items
        folder = found[lists.names["folder"]]
        assert folder["entry"] == [{"item": {"reference": f"DocumentReference/{lists.names['doc']}"}}]
        assert folder["code"]["coding"][0]["code"] == "folder"
        assert "date" in folder  # lastUpdateTime

    def test_read(self, lists: Lists) -> None:
        for label in ("ss1", "folder"):
            response = lists.server.client.get(
                f"/fhir/List/{lists.names[label]}", headers=lists.server.auth()
            )
            assert response.status_code == 200
            assert response.json()["id"] == lists.names[label]

    def test_read_unknown_is_404(self, lists: Lists) -> None:
        for unknown in ("11111111-2222-3333-4444-555555555555", lists.names["doc"]):
            response = lists.server.client.get(f"/fhir/List/{unknown}", headers=lists.server.auth())
            assert response.status_code == 404


class TestRetrieveDocument:
    def _document(self, server: FhirServer, **changes: Any) -> tuple[str, bytes, dict[str, Any]]:
        server.add_patient(PATIENT)
        doc = builders.document(new_uuid(), mime_type="application/pdf", **changes)
        register(server, doc)
        response = server.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": PATIENT_ID, "status": "current,superseded"},
            headers=server.auth(),
        )
        resource = next(
            r for r in entries(response.json()) if r["id"] == doc.entry_uuid.removeprefix("urn:uuid:")
        )
        return resource["content"][0]["attachment"]["url"], content_of(doc), resource

    def test_bytes_and_mime_type(self, ihe_server: FhirServer) -> None:
        url, content, resource = self._document(ihe_server)
        assert url.startswith("http://testserver/fhir/Binary/")
        response = ihe_server.client.get(url, headers=ihe_server.auth())
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/pdf")
        assert response.content == content
        attachment = resource["content"][0]["attachment"]
        import base64

        assert base64.b64decode(attachment["hash"]) == hashlib.sha1(content).digest()
        assert attachment["size"] == len(content)

    def test_accept(self, ihe_server: FhirServer) -> None:
        url, _, _ = self._document(ihe_server)
        for accept, status in (
            ("application/pdf", 200),
            ("*/*", 200),
            ("application/*;q=0.5", 200),
            ("text/html, application/pdf;q=0.1", 200),
            ("text/html", 406),
            ("application/pdf;q=0", 406),
        ):
            response = ihe_server.client.get(url, headers={**ihe_server.auth(), "Accept": accept})
            assert response.status_code == status, accept
        assert response.json()["resourceType"] == "OperationOutcome"

    def test_unknown_is_404(self, ihe_server: FhirServer) -> None:
        for unknown in ("11111111-2222-3333-4444-555555555555", "junk"):
            response = ihe_server.client.get(f"/fhir/Binary/{unknown}", headers=ihe_server.auth())
            assert response.status_code == 404
            assert response.json()["resourceType"] == "OperationOutcome"

    def test_superseded_document_is_still_served(self, ihe_server: FhirServer) -> None:
        url, content, resource = self._document(ihe_server)
        replacement = builders.document(new_uuid())
        target = f"urn:uuid:{resource['id']}"
        register(
            ihe_server,
            replacement,
            associations=(
                builders.association(
                    replacement.entry_uuid, target, AssociationType.REPLACE.value, new_uuid()
                ),
            ),
        )
        response = ihe_server.client.get(url, headers=ihe_server.auth())
        assert response.status_code == 200
        assert response.content == content

    def test_content_not_in_this_repository_is_410(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(PATIENT)
        doc = builders.document(new_uuid())
        register(ihe_server, doc)
        # the blob goes away (an operator's mistake, a restore without blobs): the entry is still there
        blobs = ihe_server.client.app.state.services.blobs  # type: ignore[attr-defined]
        blobs.delete(hashlib.sha1(content_of(doc)).hexdigest())
        uuid = doc.entry_uuid.removeprefix("urn:uuid:")
        response = ihe_server.client.get(f"/fhir/Binary/{uuid}", headers=ihe_server.auth())
        assert response.status_code == 410
        assert response.json()["resourceType"] == "OperationOutcome"

    def test_removed_document_is_410(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(PATIENT)
        doc = builders.document(new_uuid())
        submission = register(ihe_server, doc)
        uuid = doc.entry_uuid.removeprefix("urn:uuid:")
        assert ihe_server.client.get(f"/fhir/Binary/{uuid}", headers=ihe_server.auth()).status_code == 200
        remove(ihe_server, submission)
        response = ihe_server.client.get(f"/fhir/Binary/{uuid}", headers=ihe_server.auth())
        assert response.status_code == 410
        assert response.json()["issue"][0]["code"] == "not-found"
        # its metadata is gone: read answers 404
        read = ihe_server.client.get(f"/fhir/DocumentReference/{uuid}", headers=ihe_server.auth())
        assert read.status_code == 404

    def test_no_token_is_401(self, ihe_server: FhirServer) -> None:
        url, _, _ = self._document(ihe_server)
        assert ihe_server.client.get(url).status_code == 401

    def test_a_large_document_is_read_a_mebibyte_at_a_time(
        self, ihe_server: FhirServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # each read is a hop to a worker thread: in 64 KiB reads a 1 GiB document was served at a third of
        # a plain file-to-socket copy (bench/retrieve.py), in MiB reads as fast as ITI-43's MTOM parts
        ihe_server.add_patient(PATIENT)
        doc = builders.document(new_uuid(), mime_type="application/octet-stream")
        content = os.urandom(5 * MIB // 2)
        register(ihe_server, doc, contents={doc.entry_uuid: content})
        blobs = ihe_server.client.app.state.services.blobs  # type: ignore[attr-defined]
        reads: list[int] = []
        opened = blobs.open

        def counting_open(key: str) -> Any:
            handle = opened(key)
            read = handle.read

            def counting_read(size: int = -1) -> bytes:
                data: bytes = read(size)
                reads.append(len(data))
                return data

            handle.read = counting_read
            return handle

        monkeypatch.setattr(blobs, "open", counting_open)
        uuid = doc.entry_uuid.removeprefix("urn:uuid:")
        response = ihe_server.client.get(f"/fhir/Binary/{uuid}", headers=ihe_server.auth())
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(content))
        assert response.content == content
        assert reads == [MIB, MIB, MIB // 2, 0]


class TestCapabilityStatement:
    def test_lists_the_responder(self, ihe_server: FhirServer) -> None:
        statement = ihe_server.client.get("/fhir/metadata").json()
        assert (
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder"
            in statement["instantiates"]
        )
        resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
        for name, interactions in (
            ("DocumentReference", ["read", "patch", "search-type"]),  # patch: the PDSm metadata update
            ("List", ["read", "search-type"]),
            ("Binary", ["read"]),
        ):
            assert [i["code"] for i in resources[name]["interaction"]] == interactions, name
        document_params = {p["name"] for p in resources["DocumentReference"]["searchParam"]}
        assert document_params >= {
            "patient", "patient.identifier", "status", "creation", "date", "author.given", "author.family",
            "category", "type", "setting", "facility", "event", "security-label", "format", "period",
            "related", "identifier", "_id", "_lastUpdated", "isArchived", "period-start", "period-end",
        }  # fmt: skip
        list_params = {p["name"] for p in resources["List"]["searchParam"]}
        assert list_params >= {
            "code", "patient", "patient.identifier", "status", "date", "source.given", "source.family",
            "designationType", "sourceId", "identifier", "_id",
        }  # fmt: skip
        creation = next(p for p in resources["DocumentReference"]["searchParam"] if p["name"] == "creation")
        assert (
            creation["definition"]
            == "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation"
        )
