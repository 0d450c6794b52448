"""ITI-41 and ITI-43 through the HTTP endpoint, the SOAP router and the database (SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import delete

from xds_server.core.absent import unknown_document
from xds_server.soap import iti41
from xds_server.storage import tables
from xds_server.storage.blobs import FileBlobStore
from xds_server.storage.database import Database

from .conftest import REPOSITORY_ID, RS, XDSB, Repository, make_repository
from .messages import (
    PDF,
    PNR,
    RETRIEVE,
    TESTKIT,
    Doc,
    envelope,
    mtom,
    pnr_message,
    provide_request,
    retrieve_request,
)

CDA = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Compte rendu</title>
<component><nonXMLBody><text>\xc3\xa9t\xc3\xa9</text></nonXMLBody></component></ClinicalDocument>
"""
BINARY = bytes(range(256)) * 64 + b"\r\n--MIMEBoundary_test_012345678 (a boundary prefix only)"
SOAP_XML = "application/soap+xml; charset=UTF-8"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def key(data: bytes) -> str:
    """The blob key: the SHA-256 (the SHA-1 is the XDS hash)."""
    return hashlib.sha256(data).hexdigest()


def retrieve(repository: Repository, *unique_ids: str, repo: str = REPOSITORY_ID):
    body = envelope(RETRIEVE, retrieve_request(repo, *unique_ids))
    return repository.post(body, SOAP_XML)


def retrieved(answer) -> dict[str, tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    """{uniqueId: (mimeType, bytes)} of an ITI-43 MTOM answer."""
    assert answer.content_type.startswith("multipart/related"), answer.body[:500]
    out = {}
    with answer.multipart() as message:
        root = etree.fromstring(message.root)
        for response in root.iter(f"{{{XDSB}}}DocumentResponse"):
            include = response.find(f"{{{XDSB}}}Document/{{http://www.w3.org/2004/08/xop/include}}Include")
            assert include is not None
            part = message.resolve(include.get("href", ""))
            out[response.findtext(f"{{{XDSB}}}DocumentUniqueId")] = (
                response.findtext(f"{{{XDSB}}}mimeType"),
                part.path.read_bytes(),
            )
            assert response.findtext(f"{{{XDSB}}}RepositoryUniqueId") == REPOSITORY_ID
        assert message.unreferenced() == []
    return out


class TestRoundTrip:
    def test_text_cda_and_pdf_in_one_submission(self, repository: Repository) -> None:
        pdf = PDF.read_bytes()
        docs = [
            Doc(b"This is my document.\r\n", "text/plain"),
            Doc(CDA, "text/xml"),
            Doc(pdf, "application/pdf"),
            Doc(BINARY, "application/octet-stream"),
        ]
        answer = repository.post(*pnr_message(docs))
        assert (answer.status, answer.error_codes) == ("Success", [])
        assert answer.content_type.startswith("multipart/related")  # answered in the request's packaging

        stored = {row[0]: row[1:] for row in repository.stored_documents()}
        for doc in docs:
            assert stored[doc.unique_id] == (
                sha1(doc.content),
                len(doc.content),
                REPOSITORY_ID,
                doc.mime_type,
            )
        assert repository.blob_keys() == sorted(key(d.content) for d in docs)
        assert repository.staging_files() == []

        back = retrieved(retrieve(repository, *(d.unique_id for d in docs)))
        assert back == {d.unique_id: (d.mime_type, d.content) for d in docs}

    def test_retrieve_one_of_several(self, repository: Repository) -> None:
        docs = [Doc(b"one"), Doc(b"two")]
        assert repository.post(*pnr_message(docs)).status == "Success"
        answer = retrieve(repository, docs[1].unique_id)
        assert answer.status == "Success"
        assert retrieved(answer) == {docs[1].unique_id: ("text/plain", b"two")}

    def test_inline_base64_without_mtom(self, repository: Repository) -> None:
        doc = Doc(CDA, "text/xml", form="inline")
        answer = repository.post(envelope(PNR, provide_request([doc])), SOAP_XML)
        assert answer.status == "Success", answer.body
        assert answer.content_type.startswith("application/soap+xml")
        assert retrieved(retrieve(repository, doc.unique_id)) == {doc.unique_id: ("text/xml", CDA)}

    def test_submitted_hash_in_upper_case_and_size_are_accepted(self, repository: Repository) -> None:
        doc = Doc(b"checked", hash=sha1(b"checked").upper(), size="7")
        assert repository.post(*pnr_message([doc])).status == "Success"
        assert repository.stored_documents()[0][1] == sha1(b"checked")

    def test_same_content_twice_shares_one_blob(self, repository: Repository) -> None:
        assert repository.post(*pnr_message([Doc(b"same")])).status == "Success"
        assert repository.post(*pnr_message([Doc(b"same")])).status == "Success"
        assert repository.blob_keys() == [key(b"same")]
        assert len(repository.stored_documents()) == 2


class TestS3Store:
    def test_round_trip_and_refusal_through_s3(self, s3_repository: Repository) -> None:
        pdf = Doc(PDF.read_bytes(), "application/pdf")
        assert s3_repository.post(*pnr_message([pdf, Doc(CDA, "text/xml")])).status == "Success"
        assert retrieved(retrieve(s3_repository, pdf.unique_id)) == {
            pdf.unique_id: ("application/pdf", pdf.content)
        }
        blobs = s3_repository.blob_keys()
        assert key(pdf.content) in blobs
        answer = s3_repository.post(*pnr_message([Doc(b"bad", hash=sha1(b"other"))]))
        assert answer.error_codes == ["XDSRepositoryMetadataError"]
        assert s3_repository.blob_keys() == blobs
        assert s3_repository.staging_files() == []


class TestNistRawBodies:
    """The NIST PnrXop bodies as sent by the toolkit (bare LF, URL-encoded cid, inline base64 in MTOM)."""

    def post_nist(self, repository: Repository, name: str) -> str:
        body = (TESTKIT / "PnrXop" / name / "body.txt").read_bytes()
        content_type = (
            'multipart/related; boundary="MIMEBoundary_95b57d7287e4fa4b528a8f050c41f8ad829c20332f23b48d"; '
            'type="application/xop+xml"; start-info="application/soap+xml"; action="' + PNR + '"'
        )
        return repository.post(body, content_type).status

    def test_xop_encoded_url_and_no_xop(self, repository: Repository) -> None:
        # The three bodies share their uniqueIds: the same document (same hash and size) may be resubmitted.
        assert self.post_nist(repository, "Xop") == "Success"
        assert self.post_nist(repository, "encodedURL") == "Success"
        rows = repository.stored_documents()
        assert {row[1] for row in rows} == {sha1(b"This is my document.\n\nIt is great!\n\n")}

    def test_no_xop_inline_base64_inside_mtom(self, repository: Repository) -> None:
        assert self.post_nist(repository, "NoXop") == "Success"
        assert repository.stored_documents()[0][1] == sha1(b"This is my document.\r\n\r\nIt is great!\r\n")


class TestProvideErrors:
    def assert_nothing_stored(self, repository: Repository) -> None:
        assert repository.object_count() == 0
        assert repository.stored_documents() == []
        assert repository.staging_files() == []

    def test_entry_without_document(self, repository: Repository) -> None:
        answer = repository.post(*pnr_message([Doc(b"x")], extra_entries=1))
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSMissingDocument"])
        self.assert_nothing_stored(repository)
        assert repository.blob_keys() == []

    def test_document_without_entry(self, repository: Repository) -> None:
        doc = Doc(b"x")
        request = provide_request([doc])
        stray = etree.SubElement(request, f"{{{XDSB}}}Document", id="Stray")
        etree.SubElement(stray, "{http://www.w3.org/2004/08/xop/include}Include", href="cid:stray@x")
        body, content_type = mtom(
            envelope(PNR, request), [(doc.content_id, "text/plain", b"x"), ("stray@x", "text/plain", b"y")]
        )
        answer = repository.post(body, content_type)
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSMissingDocumentMetadata"])
        self.assert_nothing_stored(repository)

    def test_hash_mismatch_leaves_store_and_registry_unchanged(self, repository: Repository) -> None:
        assert repository.post(*pnr_message([Doc(b"before")])).status == "Success"
        objects, blobs = repository.object_count(), repository.blob_keys()
        answer = repository.post(*pnr_message([Doc(b"after", hash=sha1(b"other"))]))
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSRepositoryMetadataError"])
        assert repository.object_count() == objects
        assert repository.blob_keys() == blobs
        assert repository.staging_files() == []

    def test_size_mismatch(self, repository: Repository) -> None:
        answer = repository.post(*pnr_message([Doc(b"four", size="5")]))
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSRepositoryMetadataError"])
        self.assert_nothing_stored(repository)

    def test_registry_errors_are_relayed_and_no_metadata_stays(self, repository: Repository) -> None:
        answer = repository.post(*pnr_message([Doc(b"whose?")], patient="UNKNOWN^^^&1.2.3.4&ISO"))
        assert answer.status == "Failure"
        assert "XDSUnknownPatientId" in answer.error_codes
        assert repository.object_count() == 0
        # The blob was made durable before the registry refused; it is removed before the answer.
        assert repository.blob_keys() == []

    def test_unexpected_error_is_one_repository_error(
        self, repository: Repository, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk on fire: secret detail")

        monkeypatch.setattr(iti41, "provide_and_register", crash)
        answer = repository.post(*pnr_message([Doc(b"crash")]))
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSRepositoryError"])
        assert b"secret" not in answer.body
        self.assert_nothing_stored(repository)

    def test_http_and_file_hrefs_are_refused(self, repository: Repository) -> None:
        for href in ("http://evil.example/doc", "file:///etc/passwd"):
            doc = Doc(b"x")
            request = provide_request([doc])
            include = request.find(f"{{{XDSB}}}Document/{{http://www.w3.org/2004/08/xop/include}}Include")
            assert include is not None
            include.set("href", href)
            answer = repository.post(*mtom(envelope(PNR, request), [(doc.content_id, "text/plain", b"x")]))
            assert answer.status == "Failure"
            assert "XDSRepositoryMetadataError" in answer.error_codes
            assert href in " ".join(e.get("codeContext", "") for e in answer.registry_response().iter())
        self.assert_nothing_stored(repository)

    def test_unreferenced_part_is_refused(self, repository: Repository) -> None:
        doc = Doc(b"x")
        body, content_type = mtom(
            envelope(PNR, provide_request([doc])),
            [(doc.content_id, "text/plain", b"x"), ("extra@x", "text/plain", b"unreferenced")],
        )
        answer = repository.post(body, content_type)
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSRepositoryMetadataError"])
        self.assert_nothing_stored(repository)

    def test_duplicate_part_is_a_fault(self, repository: Repository) -> None:
        doc = Doc(b"x")
        body, content_type = mtom(
            envelope(PNR, provide_request([doc])),
            [(doc.content_id, "text/plain", b"x"), (doc.content_id, "text/plain", b"x")],
        )
        answer = repository.post(body, content_type)
        assert answer.status_code == 400
        assert "duplicate" in answer.fault_reason()
        self.assert_nothing_stored(repository)

    def test_request_cut_mid_stream(self, repository: Repository) -> None:
        body, content_type = pnr_message([Doc(PDF.read_bytes(), "application/pdf")])
        answer = repository.post(body[: len(body) - 3000], content_type)
        assert answer.status_code == 400
        assert "truncated" in answer.fault_reason()
        self.assert_nothing_stored(repository)
        assert repository.blob_keys() == []

    def test_too_many_parts_is_a_clear_fault(self, repository: Repository) -> None:
        docs = [Doc(f"doc {i}".encode()) for i in range(25)]  # the fixture allows 20 parts
        answer = repository.post(*pnr_message(docs))
        assert answer.status_code == 400
        assert "more than 20 MIME parts" in answer.fault_reason()
        self.assert_nothing_stored(repository)


class TestRequestSizeLimit:
    def test_streamed_request_over_the_limit_is_a_clear_fault(
        self, database: Database, tmp_path: Path
    ) -> None:
        body, content_type = pnr_message([Doc(PDF.read_bytes(), "application/pdf")])

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        blobs = FileBlobStore(tmp_path / "blobs")
        for repository in make_repository(database, tmp_path, blobs, max_request_bytes=20_000):
            answer = repository.post(chunked(), content_type)
            assert answer.status_code == 400
            assert "larger than 20000 bytes" in answer.fault_reason()
            assert repository.object_count() == 0
            assert repository.staging_files() == []


class TestRetrieveErrors:
    def test_unknown_document(self, repository: Repository) -> None:
        answer = retrieve(repository, "1.2.3.999")
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSDocumentUniqueIdError"])
        # the very RegistryError the DMP rules give for a hidden document (wiring.access)
        (error,) = answer.registry_response().iter(f"{{{RS}}}RegistryError")
        expected = unknown_document("1.2.3.999")
        assert (error.get("codeContext"), error.get("location")) == (expected.message, expected.location)

    def test_unknown_repository(self, repository: Repository) -> None:
        doc = Doc(b"x")
        assert repository.post(*pnr_message([doc])).status == "Success"
        answer = retrieve(repository, doc.unique_id, repo="1.2.3.4.5.6.7")
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSUnknownRepositoryId"])

    def test_partial_success(self, repository: Repository) -> None:
        doc = Doc(PDF.read_bytes(), "application/pdf")
        assert repository.post(*pnr_message([doc])).status == "Success"
        answer = retrieve(repository, doc.unique_id, "1.2.3.999")
        assert (answer.status, answer.error_codes) == ("PartialSuccess", ["XDSDocumentUniqueIdError"])
        assert retrieved(answer) == {doc.unique_id: ("application/pdf", doc.content)}

    def test_a_document_whose_metadata_is_gone_is_gone(self, repository: Repository) -> None:
        doc = Doc(b"soon deleted")
        assert repository.post(*pnr_message([doc])).status == "Success"
        with repository.database.transaction() as connection:
            connection.execute(delete(tables.registry_object))  # cascades to the per-kind tables
        assert repository.blob_keys() == [key(b"soon deleted")]  # still there, waiting for gc
        answer = retrieve(repository, doc.unique_id)
        assert (answer.status, answer.error_codes) == ("Failure", ["XDSDocumentUniqueIdError"])

    def test_request_without_document_request(self, repository: Repository) -> None:
        answer = repository.post(envelope(RETRIEVE, retrieve_request(REPOSITORY_ID)), SOAP_XML)
        assert answer.status == "Failure"


def test_pdf_fixture_is_the_testkit_copy() -> None:
    assert PDF.is_file() and Path(PDF).read_bytes().startswith(b"%PDF")
