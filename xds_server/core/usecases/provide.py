"""ITI-41 Provide and Register Document Set-b: the repository stores the documents, then registers.

Theory of operation (architecture.md "one transaction, end to end"; xds-rules.md §(b)):

1. ``attach_documents`` (core/repository.py) pairs entries and documents, checks hash/size/mimeType and
   sets hash, size and repositoryUniqueId from the measured bytes. Any problem: nothing is stored.
2. Each document is made durable in the blob store under its SHA-256 (``BlobStore.put_file``; the SHA-1
   stays the XDS ``hash``, which collides on purpose-built documents), *before* any
   database transaction is opened: an upload of a large document never holds the registry's write lock.
3. The registry transaction runs the same register use case as ITI-42 (not over HTTP), so every registry
   rule applies; the transaction commits when the ``transaction()`` block ends, rolls back on any error.

A refused request leaves no document behind (issue 14, item 8: ten refused 5 MiB uploads used to grow the
store by 50 MiB). The refusals that need no database (``validate``: the metadata rules of the profile) run
before step 2, so nothing is stored for them. When the registry refuses after step 2, the blobs this request
*created* (absent before its put) are removed before answering, each with ``delete_if_older`` at the time of
our own put: a blob another request stored or refreshed since (the same bytes, in flight) is kept. The one
window left (another process storing the same bytes between our absence check and our put, then committing)
cannot lose a document: before committing, step 3 checks that every blob it names exists, and refuses
(XDSRepositoryError, retryable) otherwise. Committed metadata therefore always names a durable blob, and a
failed request leaves neither metadata nor, in practice, documents (``gc`` collects any that slip through).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from xds_server.core.blobs import BlobConflict, BlobStore, blob_key, sha256_of
from xds_server.core.errors import ErrorCode, XdsError
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
    #: hashed while spooling; None: ``store_documents`` reads the file once more to hash it
    sha256: str | None = None

    def measured(self, sha256: str | None = None) -> ProvidedDocument:
        key = sha256 or self.sha256
        return ProvidedDocument(
            self.document_id, blob_key(self.sha1), self.size, self.media_type, key and blob_key(key)
        )


@dataclass(frozen=True, slots=True)
class Stored:
    """What step 2 did: the completed submission, and the blobs it created (key, its time once stored)."""

    submission: Submission
    created: tuple[tuple[str, datetime], ...] = ()
    keys: tuple[str, ...] = ()


def store_documents(
    submission: Submission,
    documents: Sequence[IncomingDocument],
    *,
    blobs: BlobStore,
    repository_unique_id: str,
    validate: Callable[[Submission], object] | None = None,
) -> Stored:
    """Steps 1 and 2: check and complete the metadata, run ``validate`` on it (raises to refuse), make every
    document durable; the new submission and the blobs created."""
    keys = [blob_key(doc.sha256) if doc.sha256 else sha256_of(doc.path) for doc in documents]
    attached = attach_documents(
        submission,
        [doc.measured(key) for doc, key in zip(documents, keys, strict=True)],
        repository_unique_id=repository_unique_id,
    )
    if validate is not None:
        validate(attached)
    created: list[tuple[str, datetime]] = []
    try:
        for doc, key in zip(documents, keys, strict=True):
            new = not blobs.exists(key)
            try:
                blobs.put_file(key, doc.path)
            except BlobConflict:  # a damaged store (or a SHA-256 collision): never overwrite
                raise XdsError.single(
                    ErrorCode.REPOSITORY_ERROR,
                    f"document {doc.document_id!r} has the SHA-256 of a stored document but other bytes; "
                    "it is refused and the stored document kept",
                    doc.document_id,
                ) from None
            info = blobs.info(key) if new else None
            if info is not None:
                created.append((key, info.modified))
    except BaseException:
        discard(blobs, created)
        raise
    return Stored(attached, tuple(created), tuple(keys))


def discard(blobs: BlobStore, created: Sequence[tuple[str, datetime]]) -> None:
    """Remove the blobs a refused request created, unless stored or refreshed again since (kept then)."""
    for key, stored_at in created:
        with contextlib.suppress(Exception):  # best effort: gc collects what is left
            blobs.delete_if_older(key, stored_at + _AFTER)


#: ``delete_if_older`` removes blobs modified strictly before its cutoff: just after our own write.
_AFTER = timedelta(microseconds=1)


def provide_and_register(
    submission: Submission,
    documents: Sequence[IncomingDocument],
    *,
    blobs: BlobStore,
    repository_unique_id: str,
    transaction: Callable[[], AbstractContextManager[StoreT]],
    register: Callable[..., ResultT],
    validate: Callable[[Submission], object] | None = None,
) -> ResultT:
    """ITI-41: store the documents, then register the completed metadata in one registry transaction.

    ``register(submission, store=...)`` is the ITI-42 use case with profile, clock, ids and
    ``transaction="ITI-41"`` bound by the caller; ``transaction()`` opens the registry transaction.
    ``validate`` (the profile's metadata rules) runs before anything is stored.
    """
    stored = store_documents(
        submission, documents, blobs=blobs, repository_unique_id=repository_unique_id, validate=validate
    )
    try:
        with transaction() as store:
            result = register(stored.submission, store=store)
            missing = [key for key in stored.keys if not blobs.exists(key)]
            if missing:  # removed by a concurrent refused request: never commit metadata without its blob
                raise XdsError.single(
                    ErrorCode.REPOSITORY_ERROR,
                    "a document of the submission could not be kept; send the submission again",
                )
            return result
    except BaseException:
        discard(blobs, stored.created)
        raise


__all__ = ["IncomingDocument", "Stored", "discard", "provide_and_register", "store_documents"]
