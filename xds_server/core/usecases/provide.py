"""ITI-41 Provide and Register Document Set-b: the repository stores the documents, then registers.

Theory of operation (architecture.md "one transaction, end to end"; xds-rules.md §(b)):

1. ``attach_documents`` (core/repository.py) pairs entries and documents, checks hash/size/mimeType and
   sets hash, size and repositoryUniqueId from the measured bytes. Any problem: nothing is stored.
2. Each document is made durable in the blob store under its SHA-1 (``BlobStore.put_file``), *before* any
   database transaction is opened: an upload of a large document never holds the registry's write lock.
3. The registry transaction runs the same register use case as ITI-42 (not over HTTP), so every registry
   rule applies; the transaction commits when the ``transaction()`` block ends, rolls back on any error.

Failure after step 2 leaves blobs without metadata; they are not deleted here (another request may be about
to reference the same content-addressed blob) but collected by ``gc`` after its grace period. Committed
metadata therefore always names a durable blob, and a failed request leaves no metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from xds_server.core.blobs import BlobStore, blob_key
from xds_server.core.metadata import Submission
from xds_server.core.repository import ProvidedDocument, attach_documents

StoreT = TypeVar("StoreT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """A document of the request, already spooled to ``path`` (in the blob store's staging folder)."""

    document_id: str
    path: Path
    sha1: str
    size: int
    media_type: str | None = None

    def measured(self) -> ProvidedDocument:
        return ProvidedDocument(self.document_id, blob_key(self.sha1), self.size, self.media_type)


def store_documents(
    submission: Submission,
    documents: Sequence[IncomingDocument],
    *,
    blobs: BlobStore,
    repository_unique_id: str,
) -> Submission:
    """Steps 1 and 2: check and complete the metadata, make every document durable; the new submission."""
    attached = attach_documents(
        submission, [doc.measured() for doc in documents], repository_unique_id=repository_unique_id
    )
    for doc in documents:
        blobs.put_file(blob_key(doc.sha1), doc.path)
    return attached


def provide_and_register(
    submission: Submission,
    documents: Sequence[IncomingDocument],
    *,
    blobs: BlobStore,
    repository_unique_id: str,
    transaction: Callable[[], AbstractContextManager[StoreT]],
    register: Callable[..., ResultT],
) -> ResultT:
    """ITI-41: store the documents, then register the completed metadata in one registry transaction.

    ``register(submission, store=...)`` is the ITI-42 use case with profile, clock, ids and
    ``transaction="ITI-41"`` bound by the caller; ``transaction()`` opens the registry transaction.
    """
    attached = store_documents(submission, documents, blobs=blobs, repository_unique_id=repository_unique_id)
    with transaction() as store:
        return register(attached, store=store)


__all__ = ["IncomingDocument", "provide_and_register", "store_documents"]
