"""``xds-server blobs rekey``: move blobs stored under their SHA-1 to their SHA-256 key (issue 14, item 9).

Stores written before the SHA-256 key hold blobs named by the SHA-1 the DocumentEntry carries, and rows
without ``content_sha256``; they are read by their SHA-1 until moved. Moving one blob, in this order:

1. read it into a staging file, hashing as it goes: its SHA-1 must be its key (a damaged blob is reported
   and left alone), its SHA-256 is the new key;
2. ``put_file`` under the SHA-256: durable before anything names it; a key hit compares size and bytes and
   never overwrites (the same bytes already moved: nothing to do; other bytes: reported, left alone);
3. one transaction points every row that reads this blob at the new key: the DocumentEntries and removed
   documents with this hash and no SHA-256 yet, and the mailbox's references;
4. only then the SHA-1 copy is removed.

Killed anywhere, nothing is lost: before step 3 every row still reads the SHA-1 blob, which exists; after
it, the SHA-256 blob, which step 2 made durable first. Running it again resumes: a blob still under its SHA-1
goes through the same steps, step 2 hits the copy it already made, step 3 finds the rows it already moved.
Why a command and not the migration: a migration knows nothing of the blob store (files or S3 and its
credentials), runs in one transaction and cannot resume; this runs blob by blob, each step idempotent.

It may run while the server serves: new documents are stored under their SHA-256 already. A retrieve that
read a row just before step 3 and opens the SHA-1 blob just after step 4 answers XDSRepositoryError for that
document once; run it when the server is quiet to avoid even that.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, func, select, update

from xds_server.core.blobs import BlobConflict, BlobStore
from xds_server.storage.blobs import legacy_key
from xds_server.storage.tables import (
    deleted_document,
    document_entry,
    mail_attachment,
    mail_message,
    mail_outbox,
)

_CHUNK = 1024 * 1024


@dataclass(slots=True)
class RekeyReport:
    examined: int = 0
    moved: int = 0
    rows: int = 0
    damaged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        problems = ""
        if self.damaged:
            problems += f"; {len(self.damaged)} left alone, their bytes do not match their SHA-1 key: "
            problems += " ".join(self.damaged[:10])
        if self.conflicts:
            problems += f"; {len(self.conflicts)} left alone, their SHA-256 key holds other bytes: "
            problems += " ".join(self.conflicts[:10])
        return (
            f"{self.examined} blobs keyed by SHA-1 examined, {self.moved} moved to their SHA-256 key, "
            f"{self.rows} rows pointed at the new key{problems}"
        )


def rekey_blobs(
    blobs: BlobStore,
    transaction: Callable[[], AbstractContextManager[Connection]],
    *,
    on_blob: Callable[[str], None] | None = None,
) -> RekeyReport:
    """Move every SHA-1-keyed blob to its SHA-256 key (module docstring); what was done.
    ``transaction()`` opens a read-write transaction; ``on_blob`` is told each key once it is done."""
    report = RekeyReport()
    legacy = [info.key for info in blobs.list() if legacy_key(info.key)]
    for key in legacy:
        report.examined += 1
        moved = _move(blobs, transaction, key, report)
        if moved and on_blob is not None:
            on_blob(key)
    return report


def _move(
    blobs: BlobStore,
    transaction: Callable[[], AbstractContextManager[Connection]],
    key: str,
    report: RekeyReport,
) -> bool:
    staged = _stage(blobs, key)
    if staged is None:
        return False  # gone meanwhile (gc, or another rekey)
    path, sha1, sha256 = staged
    if sha1 != key:
        os.unlink(path)
        report.damaged.append(key)
        return False
    try:
        blobs.put_file(sha256, path)  # consumes path
    except BlobConflict:
        report.conflicts.append(key)
        return False
    with transaction() as connection:
        report.rows += point_rows_at(connection, key, sha256)
    blobs.delete(key)
    report.moved += 1
    return True


def _stage(blobs: BlobStore, key: str) -> tuple[Path, str, str] | None:
    """Copy the blob into the staging folder, hashing it; (path, SHA-1, SHA-256), None when it is gone."""
    try:
        source = blobs.open(key)
    except KeyError:
        return None
    blobs.staging_dir.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=blobs.staging_dir, prefix="rekey-", suffix=".tmp")
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    try:
        with os.fdopen(descriptor, "wb") as out:
            while block := source.read(_CHUNK):
                sha1.update(block)
                sha256.update(block)
                out.write(block)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    finally:
        source.close()
    return Path(name), sha1.hexdigest(), sha256.hexdigest()


def point_rows_at(connection: Connection, sha1: str, sha256: str) -> int:
    """Every row reading the blob ``sha1`` reads ``sha256`` instead; how many rows changed. Rows that have
    a SHA-256 already keep it (a document stored under its SHA-256 with the same SHA-1 and other bytes is
    another blob: never re-pointed)."""
    changed = 0
    spellings = [sha1, sha1.upper()]  # the index on hash serves both; ITI-41 stores lower case
    for table in (document_entry, deleted_document):
        changed += connection.execute(
            update(table)
            .where(table.c.hash.in_(spellings), table.c.content_sha256.is_(None))
            .values(content_sha256=sha256)
        ).rowcount
    for table, column in ((mail_message, "raw_key"), (mail_attachment, "blob_key"), (mail_outbox, "raw_key")):
        changed += connection.execute(
            update(table).where(table.c[column] == sha1).values({column: sha256})
        ).rowcount
    return changed


def unkeyed_documents(connection: Connection, repository_unique_id: str) -> int:
    """DocumentEntries of this repository still read by their SHA-1 (``blobs rekey`` moves their blobs)."""
    return int(
        connection.execute(
            select(func.count())
            .select_from(document_entry)
            .where(
                document_entry.c.repository_unique_id == repository_unique_id,
                document_entry.c.hash.is_not(None),
                document_entry.c.content_sha256.is_(None),
            )
        ).scalar_one()
    )


__all__ = ["RekeyReport", "point_rows_at", "rekey_blobs", "unkeyed_documents"]
