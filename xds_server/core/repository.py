"""Document Repository rules of ITI-41 (ITI TF-2b 3.41.4.1.3, xds-rules.md §(b) "Repository side").

Theory of operation. A Provide and Register request pairs the DocumentEntries of a SubmitObjectsRequest with
``xdsb:Document`` elements by id (``Document/@id`` = ``ExtrinsicObject/@id``, symbolic or ``urn:uuid:``).
The repository, not the submitter, is the authority on the bytes: it computed SHA-1 and size while reading
them, and it writes those values (and its own repositoryUniqueId) on the entry before the registry sees it.

* every DocumentEntry has exactly one document, else XDSMissingDocument;
* every document has a DocumentEntry, else XDSMissingDocumentMetadata (11983); two documents with one id
  are refused too (XDSRepositoryMetadataError: the pairing would be ambiguous);
* a hash or size the submitter sent must equal the computed one, else XDSRepositoryMetadataError
  (11981, 12369); hashes compare case-insensitively (11981/submit_uppercase_hash succeeds);
* mimeType is required (the repository returns it on retrieve, 12360), else XDSRepositoryMetadataError.

All problems of a request are reported together; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from xds_server.core.errors import ErrorCode, Issue, raise_if_errors
from xds_server.core.metadata import Submission


@dataclass(frozen=True, slots=True)
class ProvidedDocument:
    """What the repository measured of one ``xdsb:Document``: its id and the SHA-1/size of its bytes."""

    document_id: str
    sha1: str  # lower-case hex
    size: int
    media_type: str | None = None  # the MIME part's Content-Type (informative; mimeType comes from metadata)
    sha256: str | None = None  # lower-case hex: the blob key


def attach_documents(
    submission: Submission, documents: Sequence[ProvidedDocument], *, repository_unique_id: str
) -> Submission:
    """The submission with hash, size and repositoryUniqueId set on every DocumentEntry (or ``XdsError``)."""
    issues: list[Issue] = []
    counts = Counter(doc.document_id for doc in documents)
    for doc_id, count in counts.items():
        if count > 1:
            issues.append(
                Issue(
                    ErrorCode.REPOSITORY_METADATA_ERROR,
                    f"{count} Document elements carry the id {doc_id!r}",
                    doc_id,
                )
            )
    by_id = {doc.document_id: doc for doc in documents}
    entry_ids = {entry.entry_uuid for entry in submission.documents}
    for provided in documents:
        if provided.document_id not in entry_ids:
            issues.append(
                Issue(
                    ErrorCode.MISSING_DOCUMENT_METADATA,
                    f"Document {provided.document_id!r} has no DocumentEntry (ExtrinsicObject) with that id",
                    provided.document_id,
                )
            )

    attached = []
    for entry in submission.documents:
        doc = by_id.get(entry.entry_uuid)
        if doc is None:
            issues.append(
                Issue(
                    ErrorCode.MISSING_DOCUMENT,
                    f"DocumentEntry {entry.entry_uuid!r} has no Document in the request",
                    entry.entry_uuid,
                )
            )
            continue
        if not entry.mime_type.strip():
            issues.append(
                Issue(
                    ErrorCode.REPOSITORY_METADATA_ERROR,
                    f"DocumentEntry {entry.entry_uuid!r} has no mimeType",
                    f"{entry.entry_uuid}/mimeType",
                )
            )
        if entry.hash is not None and entry.hash.strip().lower() != doc.sha1:
            issues.append(
                Issue(
                    ErrorCode.REPOSITORY_METADATA_ERROR,
                    f"hash {entry.hash!r} in the metadata differs from the document's SHA-1 {doc.sha1}",
                    f"{entry.entry_uuid}/hash",
                )
            )
        if entry.size is not None and _as_int(entry.size) != doc.size:
            issues.append(
                Issue(
                    ErrorCode.REPOSITORY_METADATA_ERROR,
                    f"size {entry.size!r} in the metadata differs from the document's size {doc.size}",
                    f"{entry.entry_uuid}/size",
                )
            )
        attached.append(
            dataclasses.replace(
                entry,
                hash=doc.sha1,
                size=str(doc.size),
                repository_unique_id=repository_unique_id,
                content_sha256=doc.sha256,
            )
        )
    raise_if_errors(issues)
    return dataclasses.replace(submission, documents=tuple(attached))


def _as_int(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isdigit() else None


__all__ = ["ProvidedDocument", "attach_documents"]
