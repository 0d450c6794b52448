"""ITI-43 Retrieve Document Set: the requested documents this repository returns, and errors for the rest.

Theory of operation (ITI TF-2b 3.43.4.2, xds-rules.md §(c)/(d)):

* a DocumentRequest naming another repositoryUniqueId -> XDSUnknownRepositoryId;
* the registry is consulted for every request (``DocumentIndex``): a document whose DocumentEntry is gone
  (deleted by ITI-62) is gone, even if its blob still waits for ``gc``; Approved and Deprecated entries are
  both retrievable. Unknown uniqueId -> XDSDocumentUniqueIdError;
* ``authorize`` is the per-document access hook (the DMP policy plugs in here): it returns ``None`` to allow
  or the Issue to report instead of the document;
* a blob missing from the store (which the provide protocol never allows) is reported as XDSRepositoryError
  for that document rather than failing the whole response half-way through the stream;
* status: Success when every request is answered, PartialSuccess when some are, Failure when none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xds_server.core.absent import unknown_document
from xds_server.core.blobs import BlobStore, DocumentIndex, StoredDocument
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.vocabulary import ResponseStatus


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetrievedDocument:
    request: DocumentRequest
    document: StoredDocument

    @property
    def key(self) -> str:
        return self.document.key

    @property
    def mime_type(self) -> str:
        return self.document.mime_type


@dataclass(frozen=True, slots=True)
class RetrieveResult:
    documents: tuple[RetrievedDocument, ...]
    issues: tuple[Issue, ...]

    @property
    def status(self) -> ResponseStatus:
        if not any(issue.is_error for issue in self.issues):
            return ResponseStatus.SUCCESS
        return ResponseStatus.PARTIAL_SUCCESS if self.documents else ResponseStatus.FAILURE


#: Per-document access decision: ``None`` allows, an Issue refuses (reported in place of the document).
Authorize = Callable[[DocumentRequest, StoredDocument], Issue | None]


def allow_all(_request: DocumentRequest, _document: StoredDocument) -> Issue | None:
    return None


def retrieve(
    requests: Sequence[DocumentRequest],
    *,
    index: DocumentIndex,
    blobs: BlobStore,
    repository_unique_id: str,
    authorize: Authorize,
) -> RetrieveResult:
    """``authorize`` is required: the caller states the per-document decision (``allow_all`` only where no
    access rule applies, the ``ihe`` profile), so a forgotten argument cannot mean "everyone reads all"."""
    if not requests:
        raise XdsError.single(
            ErrorCode.REPOSITORY_ERROR, "RetrieveDocumentSetRequest without DocumentRequest"
        )
    ours = [r for r in requests if r.repository_unique_id.strip() == repository_unique_id]
    stored: dict[str, StoredDocument] = {}
    for row in index.documents({r.document_unique_id.strip() for r in ours}, repository_unique_id):
        stored.setdefault(row.unique_id, row)  # a resubmitted uniqueId has identical bytes (same hash)

    found: list[RetrievedDocument] = []
    issues: list[Issue] = []
    for request in requests:
        unique_id = request.document_unique_id.strip()
        if request.repository_unique_id.strip() != repository_unique_id:
            issues.append(
                Issue(
                    ErrorCode.UNKNOWN_REPOSITORY_ID,
                    f"repositoryUniqueId {request.repository_unique_id!r} is not this repository "
                    f"({repository_unique_id})",
                    unique_id,
                )
            )
            continue
        doc = stored.get(unique_id)
        if doc is None or not doc.hash:
            issues.append(unknown_document(unique_id))
            continue
        refusal = authorize(request, doc)
        if refusal is not None:
            issues.append(refusal)
            continue
        if not blobs.exists(doc.key):
            issues.append(
                Issue(
                    ErrorCode.REPOSITORY_ERROR,
                    f"the content of document {unique_id!r} is not available",
                    unique_id,
                )
            )
            continue
        found.append(RetrievedDocument(request, doc))
    return RetrieveResult(tuple(found), tuple(issues))


__all__ = [
    "Authorize",
    "DocumentRequest",
    "RetrieveResult",
    "RetrievedDocument",
    "allow_all",
    "retrieve",
]
