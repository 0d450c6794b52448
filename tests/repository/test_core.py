"""core/repository.py (ITI-41 attach rules), the provide and retrieve use cases, with in-memory fakes."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xds_server.core.blobs import BlobInfo, ReadableBlob, StoredDocument
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.metadata import DocumentEntry, Submission, SubmissionSet
from xds_server.core.repository import ProvidedDocument, attach_documents
from xds_server.core.usecases.provide import IncomingDocument, provide_and_register
from xds_server.core.usecases.retrieve import DocumentRequest, allow_all, retrieve
from xds_server.core.vocabulary import ResponseStatus

REPO = "1.2.3.4.5"
SHA_A = hashlib.sha1(b"A").hexdigest()
SHA_B = hashlib.sha1(b"BB").hexdigest()
KEY_A = hashlib.sha256(b"A").hexdigest()  # the blob key of b"A"


def entry(entry_id: str, **changes: object) -> DocumentEntry:
    values: dict[str, object] = {
        "entry_uuid": entry_id,
        "mime_type": "text/plain",
        "unique_id": f"1.2.{entry_id}",
    }
    values.update(changes)
    return DocumentEntry(**values)  # type: ignore[arg-type]


def submission(*entries: DocumentEntry) -> Submission:
    return Submission(submission_sets=(SubmissionSet(entry_uuid="SS"),), documents=entries)


def codes(error: pytest.ExceptionInfo[XdsError]) -> list[ErrorCode]:
    return [issue.code for issue in error.value.issues]


class TestAttachDocuments:
    def test_sets_hash_size_and_repository(self) -> None:
        result = attach_documents(
            submission(entry("Doc1"), entry("Doc2", hash=SHA_B.upper(), size="2")),
            [ProvidedDocument("Doc1", SHA_A, 1), ProvidedDocument("Doc2", SHA_B, 2)],
            repository_unique_id=REPO,
        )
        one, two = result.documents
        assert (one.hash, one.size, one.repository_unique_id) == (SHA_A, "1", REPO)
        assert (two.hash, two.size) == (SHA_B, "2")  # upper-case hex accepted, stored lower-case
        assert one.mime_type == "text/plain"

    def test_missing_document(self) -> None:
        with pytest.raises(XdsError) as error:
            attach_documents(
                submission(entry("Doc1"), entry("Doc2")),
                [ProvidedDocument("Doc1", SHA_A, 1)],
                repository_unique_id=REPO,
            )
        assert codes(error) == [ErrorCode.MISSING_DOCUMENT]
        assert error.value.issues[0].location == "Doc2"

    def test_missing_metadata(self) -> None:
        with pytest.raises(XdsError) as error:
            attach_documents(
                submission(entry("Doc1")),
                [ProvidedDocument("Doc1", SHA_A, 1), ProvidedDocument("Stray", SHA_B, 2)],
                repository_unique_id=REPO,
            )
        assert codes(error) == [ErrorCode.MISSING_DOCUMENT_METADATA]

    @pytest.mark.parametrize(
        ("changes", "where"),
        [
            ({"hash": SHA_B}, "hash"),
            ({"size": "2"}, "size"),
            ({"size": "one"}, "size"),
            ({"mime_type": ""}, "mimeType"),
        ],
    )
    def test_metadata_that_disagrees(self, changes: dict[str, str], where: str) -> None:
        with pytest.raises(XdsError) as error:
            attach_documents(
                submission(entry("Doc1", **changes)),
                [ProvidedDocument("Doc1", SHA_A, 1)],
                repository_unique_id=REPO,
            )
        assert codes(error) == [ErrorCode.REPOSITORY_METADATA_ERROR]
        assert error.value.issues[0].location == f"Doc1/{where}"

    def test_two_documents_with_one_id(self) -> None:
        with pytest.raises(XdsError) as error:
            attach_documents(
                submission(entry("Doc1")),
                [ProvidedDocument("Doc1", SHA_A, 1), ProvidedDocument("Doc1", SHA_A, 1)],
                repository_unique_id=REPO,
            )
        assert ErrorCode.REPOSITORY_METADATA_ERROR in codes(error)

    def test_every_problem_reported_at_once(self) -> None:
        with pytest.raises(XdsError) as error:
            attach_documents(
                submission(entry("Doc1", hash=SHA_B, size="9"), entry("Doc2")),
                [ProvidedDocument("Doc1", SHA_A, 1), ProvidedDocument("Doc3", SHA_A, 1)],
                repository_unique_id=REPO,
            )
        assert sorted(codes(error)) == sorted(
            [
                ErrorCode.MISSING_DOCUMENT_METADATA,
                ErrorCode.REPOSITORY_METADATA_ERROR,
                ErrorCode.REPOSITORY_METADATA_ERROR,
                ErrorCode.MISSING_DOCUMENT,
            ]
        )


class FakeBlobs:
    """In-memory BlobStore."""

    def __init__(self, staging: Path) -> None:
        self.data: dict[str, bytes] = {}
        self._staging = staging
        self.puts: list[str] = []

    @property
    def staging_dir(self) -> Path:
        return self._staging

    def put_file(self, key: str, path: Path) -> None:
        self.data[key] = path.read_bytes()
        path.unlink()
        self.puts.append(key)

    def open(self, key: str) -> ReadableBlob:
        import io

        return io.BytesIO(self.data[key])

    def exists(self, key: str) -> bool:
        return key in self.data

    def info(self, key: str) -> BlobInfo | None:
        return BlobInfo(key, len(self.data[key]), datetime.now(UTC)) if key in self.data else None

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def delete_if_older(self, key: str, cutoff: datetime) -> BlobInfo | None:
        raise NotImplementedError("gc is tested on the real stores")

    def list(self) -> Iterator[BlobInfo]:
        for key, value in self.data.items():
            yield BlobInfo(key, len(value), datetime.now(UTC))


class TestProvideAndRegister:
    def incoming(self, tmp_path: Path, doc_id: str, data: bytes) -> IncomingDocument:
        path = tmp_path / f"{doc_id}.tmp"
        path.write_bytes(data)
        return IncomingDocument(doc_id, path, hashlib.sha1(data).hexdigest(), len(data))

    def test_blobs_are_durable_before_the_transaction_opens(self, tmp_path: Path) -> None:
        blobs = FakeBlobs(tmp_path)
        events: list[str] = []

        @contextmanager
        def transaction() -> Iterator[str]:
            events.append(f"begin with blobs {sorted(blobs.data)}")
            yield "store"
            events.append("commit")

        def register(sub: Submission, *, store: str) -> tuple[Issue, ...]:
            events.append(f"register {store} {[d.hash for d in sub.documents]}")
            return ()

        docs = [self.incoming(tmp_path, "Doc1", b"A")]
        provide_and_register(
            submission(entry("Doc1")),
            docs,
            blobs=blobs,
            repository_unique_id=REPO,
            transaction=transaction,
            register=register,
        )
        # the blob is keyed by its SHA-256; the DocumentEntry carries the SHA-1 (the XDS hash) and the key
        assert events == [f"begin with blobs {[KEY_A]}", f"register store {[SHA_A]}", "commit"]

    def test_refused_metadata_stores_nothing(self, tmp_path: Path) -> None:
        blobs = FakeBlobs(tmp_path)

        def transaction() -> Iterator[str]:
            raise AssertionError("no transaction for a refused submission")

        with pytest.raises(XdsError):
            provide_and_register(
                submission(entry("Doc1", hash=SHA_B)),
                [self.incoming(tmp_path, "Doc1", b"A")],
                blobs=blobs,
                repository_unique_id=REPO,
                transaction=transaction,
                register=lambda s, store: (),  # type: ignore[arg-type]
            )
        assert blobs.data == {}


class FakeIndex:
    def __init__(self, *documents: StoredDocument) -> None:
        self.rows = list(documents)

    def documents(self, unique_ids: Collection[str], repository_unique_id: str) -> list[StoredDocument]:
        return [d for d in self.rows if d.unique_id in unique_ids]

    def referenced_hashes(self) -> set[str]:
        return {d.hash for d in self.rows}

    def removed(self, entry_uuid: str) -> bool:
        return False


def stored(unique_id: str, sha1: str, mime: str = "text/plain") -> StoredDocument:
    return StoredDocument(f"urn:uuid:{unique_id}", unique_id, "P^^^&1.2&ISO", "Approved", sha1, 1, mime)


class TestRetrieve:
    def setup_blobs(self, tmp_path: Path) -> FakeBlobs:
        blobs = FakeBlobs(tmp_path)
        blobs.data = {SHA_A: b"A", SHA_B: b"BB"}
        return blobs

    def test_all_found(self, tmp_path: Path) -> None:
        index = FakeIndex(stored("1.1", SHA_A), stored("1.2", SHA_B, "application/pdf"))
        result = retrieve(
            [DocumentRequest(REPO, "1.1"), DocumentRequest(REPO, "1.2")],
            index=index,
            blobs=self.setup_blobs(tmp_path),
            repository_unique_id=REPO,
            authorize=allow_all,
        )
        assert result.status is ResponseStatus.SUCCESS
        assert [(d.key, d.mime_type) for d in result.documents] == [
            (SHA_A, "text/plain"),
            (SHA_B, "application/pdf"),
        ]

    def test_partial(self, tmp_path: Path) -> None:
        result = retrieve(
            [DocumentRequest(REPO, "1.1"), DocumentRequest(REPO, "9.9"), DocumentRequest("7.7.7", "1.1")],
            index=FakeIndex(stored("1.1", SHA_A)),
            blobs=self.setup_blobs(tmp_path),
            repository_unique_id=REPO,
            authorize=allow_all,
        )
        assert result.status is ResponseStatus.PARTIAL_SUCCESS
        assert [i.code for i in result.issues] == [
            ErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
            ErrorCode.UNKNOWN_REPOSITORY_ID,
        ]
        assert "9.9" in result.issues[0].message

    def test_none_found(self, tmp_path: Path) -> None:
        result = retrieve(
            [DocumentRequest(REPO, "9.9")],
            index=FakeIndex(),
            blobs=self.setup_blobs(tmp_path),
            repository_unique_id=REPO,
            authorize=allow_all,
        )
        assert result.status is ResponseStatus.FAILURE

    def test_authorize_hook_refuses_per_document(self, tmp_path: Path) -> None:
        def only_pdf(request: DocumentRequest, document: StoredDocument) -> Issue | None:
            if document.mime_type == "application/pdf":
                return None
            return Issue(ErrorCode.DMP_ACCESS_DENIED, "masked", request.document_unique_id)

        result = retrieve(
            [DocumentRequest(REPO, "1.1"), DocumentRequest(REPO, "1.2")],
            index=FakeIndex(stored("1.1", SHA_A), stored("1.2", SHA_B, "application/pdf")),
            blobs=self.setup_blobs(tmp_path),
            repository_unique_id=REPO,
            authorize=only_pdf,
        )
        assert [d.document.unique_id for d in result.documents] == ["1.2"]
        assert [i.code for i in result.issues] == [ErrorCode.DMP_ACCESS_DENIED]

    def test_missing_blob_is_a_repository_error_for_that_document(self, tmp_path: Path) -> None:
        blobs = self.setup_blobs(tmp_path)
        del blobs.data[SHA_A]
        result = retrieve(
            [DocumentRequest(REPO, "1.1")],
            index=FakeIndex(stored("1.1", SHA_A)),
            blobs=blobs,
            repository_unique_id=REPO,
            authorize=allow_all,
        )
        assert [i.code for i in result.issues] == [ErrorCode.REPOSITORY_ERROR]

    def test_no_request(self, tmp_path: Path) -> None:
        with pytest.raises(XdsError):
            retrieve(
                [],
                index=FakeIndex(),
                blobs=self.setup_blobs(tmp_path),
                repository_unique_id=REPO,
                authorize=allow_all,
            )
