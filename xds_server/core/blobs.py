"""The document store port (the Repository's side of ITI-41/43), as Protocols.

Theory: blobs are content-addressed. A document's key is the lower-case hex SHA-256 the repository computed
while reading it, stored beside the XDS ``hash`` (the SHA-1 the DocumentEntry carries) in the registry row, so
the row alone says which blob a document is, and the garbage collector can tell referenced blobs from orphans
with one query. Two documents with the same bytes share one blob (a resubmission, ITI TF-3 4.2.3.2.26, stores
nothing new); two documents with one SHA-1 and different bytes (a SHA-1 collision, practical since 2017) get
two blobs. Stores written before the SHA-256 key have blobs keyed by SHA-1 and rows without a SHA-256: those
are read by their SHA-1 until ``xds-server blobs rekey`` moves them (storage/rekey.py).

Durability contract (xds-rules.md §(b), architecture "one transaction"): ``put_file`` returns only once the
blob is durable (file store: fsync + rename + fsync of the directory; S3: the PUT has succeeded). The use case
puts every blob *before* the registry transaction commits, so committed metadata never names a missing blob.
Blobs are never deleted on a failed request (another in-flight request may share the same content); an
orphan is collected later by ``gc`` once it is older than the grace period. ``put_file`` of a key that
already exists refreshes its modification time, so a blob about to be referenced again is never "old".
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


class BlobConflict(Exception):
    """``put_file`` found the key stored with other bytes (a damaged store, or a SHA-256 collision): the
    stored blob is kept, never overwritten, and the request that brought the other bytes is refused."""


class ReadableBlob(Protocol):
    """A stream of a stored document (a file object or an S3 body)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime  # timezone-aware (UTC)


class BlobStore(Protocol):
    @property
    def staging_dir(self) -> Path:
        """Where incoming parts are spooled; ``put_file`` of a file in it needs no copy (file store)."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Make the content of ``path`` durable under ``key`` and consume ``path`` (moved or deleted).

        Idempotent: if ``key`` exists with the same size and bytes its content is kept and its modification
        time refreshed; with other bytes, ``BlobConflict`` (the stored blob is never overwritten).
        """
        ...

    def open(self, key: str) -> ReadableBlob:
        """Stream the blob; raises ``KeyError`` when it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def info(self, key: str) -> BlobInfo | None:
        """Size and modification time of one blob, ``None`` when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob (no error when it is already gone)."""
        ...

    def delete_if_older(self, key: str, cutoff: datetime) -> BlobInfo | None:
        """Remove the blob only if it was last modified before ``cutoff`` (``gc``); what was removed.

        A ``put_file`` of the same key racing with this call either refreshes the blob first (kept) or
        writes it anew afterwards, never leaving a caller of ``put_file`` without its blob.
        """
        ...

    def list(self) -> Iterator[BlobInfo]:
        """Every stored blob (for ``gc``); staging files are not listed."""
        ...


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A DocumentEntry of this repository as ITI-43 needs it: which blob, which media type, whose."""

    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str
    hash: str
    size: int | None
    mime_type: str
    content_sha256: str | None = None  # None: a row stored before the SHA-256 key (read by its SHA-1)

    @property
    def key(self) -> str:
        """The blob that holds the document's bytes."""
        return self.content_sha256 or blob_key(self.hash)


class DocumentIndex(Protocol):
    """The repository's reads of the registry (one open, read-only transaction)."""

    def documents(self, unique_ids: Collection[str], repository_unique_id: str) -> list[StoredDocument]:
        """DocumentEntries (any status) with these uniqueIds held in this repository."""
        ...

    def referenced_hashes(self) -> set[str]:
        """The blob keys every DocumentEntry (and the mailbox) names: the blobs ``gc`` must keep."""
        ...

    def removed(self, entry_uuid: str) -> bool:
        """Whether this DocumentEntry of the repository was removed (ITI-62): ITI-68 answers 410 Gone."""
        ...


def blob_key(hex_digest: str) -> str:
    """A blob key from a digest: lower-case hex (submitters may send upper case). New blobs are keyed by
    their SHA-256; blobs stored before it, by their SHA-1."""
    return hex_digest.strip().lower()


def sha256_of(path: Path, chunk: int = 1024 * 1024) -> str:
    """The lower-case hex SHA-256 of a file (for callers that did not hash while spooling)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            hasher.update(block)
    return hasher.hexdigest()


__all__ = [
    "BlobConflict",
    "BlobInfo",
    "BlobStore",
    "DocumentIndex",
    "ReadableBlob",
    "StoredDocument",
    "blob_key",
    "sha256_of",
]
