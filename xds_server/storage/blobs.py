"""Document stores behind the ``core.blobs.BlobStore`` port, chosen by URL, and the repository's SQL index.

* ``FileBlobStore`` (default, ``file:PATH`` or nothing: ``<data_dir>/blobs``): content-addressed files
  ``<root>/ab/cd/abcd...`` (SHA-256 hex; SHA-1 hex for blobs stored before it, see storage/rekey.py).
  Incoming MIME parts are spooled in ``<root>/.staging`` on the same
  file system, so making one durable is: fsync the file, rename it into place, fsync the directory. A rename
  is atomic, so a reader sees either no blob or the whole blob, never a partial one.
* ``S3BlobStore`` (``s3://bucket/prefix``, in ``storage/s3.py``): one object per blob, uploaded from the
  local staging file (boto3 multipart upload for large files); credentials and endpoint come from the usual
  AWS settings (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
  ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``).
* ``SqlDocumentIndex``: what ITI-43 and ``gc`` ask the registry tables (documents by uniqueId for this
  repository; the set of referenced hashes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from sqlalchemy import ColumnElement, Connection, Table, func, select

from xds_server.core.blobs import (
    BlobConflict,
    BlobInfo,
    BlobStore,
    DocumentIndex,
    ReadableBlob,
    StoredDocument,
)
from xds_server.storage.mailbox import SqlMailbox
from xds_server.storage.tables import deleted_document, document_entry

_KEY = re.compile(r"[0-9a-f]{64}|[0-9a-f]{40}")  # SHA-256; SHA-1 for blobs stored before it
STAGING = ".staging"


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a blob key (lower-case SHA-256, or legacy SHA-1, hex): {key!r}")
    return key


def legacy_key(key: str) -> bool:
    """A blob keyed by its SHA-1 (stored before the SHA-256 key): ``blobs rekey`` moves it."""
    return len(key) == 40


def same_content(stored: Path, incoming: Path, chunk: int = 1024 * 1024) -> bool | None:
    """Whether two files hold the same bytes (sizes first); None when ``stored`` no longer exists."""
    try:
        if stored.stat().st_size != incoming.stat().st_size:
            return False
        with open(stored, "rb") as a, open(incoming, "rb") as b:
            while True:
                left, right = a.read(chunk), b.read(chunk)
                if left != right:
                    return False
                if not left:
                    return True
    except FileNotFoundError:
        return None if not stored.exists() else False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    """Content-addressed documents under one folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._staging = self.root / STAGING
        self._staging.mkdir(parents=True, exist_ok=True)
        self._staging_resolved = self._staging.resolve()

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

    @property
    def staging_dir(self) -> Path:
        return self._staging

    def path_of(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def put_file(self, key: str, path: Path) -> None:
        final = self.path_of(key)
        if final.is_file():
            # A key hit: the same bytes (compared, not assumed: the store may be damaged) keep the stored
            # copy, made young again for gc's grace period; other bytes are refused and never overwrite it.
            same = same_content(final, Path(path))
            if same is False:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                raise BlobConflict(key)
            if same:
                try:
                    os.utime(final)
                except FileNotFoundError:
                    pass  # gc took it away after the comparison: store ours below
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    return
        source = Path(path)
        # a part spooled by this store's staging folder (the common case) needs no resolve() (a syscall
        # per path component)
        if source.parent != self._staging and source.parent.resolve() != self._staging_resolved:
            # Not on our file system (or not ours): copy into staging first so the final step is a rename.
            fd, name = tempfile.mkstemp(prefix="copy-", suffix=".tmp", dir=self._staging)
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
            os.unlink(source)
            source = Path(name)
        with open(source, "rb+") as handle:
            os.fsync(handle.fileno())
        self._make_dirs(final.parent)
        os.replace(source, final)
        _fsync_dir(final.parent)

    def load_bytes(self, key: str, data: bytes) -> None:
        """Bulk loading only (``xds-server bench generate``): store ``data`` under ``key`` without any fsync.
        Atomic (a rename) but not durable until the caller syncs the file system (``os.sync()``)."""
        final = self.path_of(key)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._staging / f"load-{key}-{os.getpid()}"
        temporary.write_bytes(data)
        os.replace(temporary, final)

    def load_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Bulk loading only, as ``load_bytes`` for many documents at the fewest system calls: each file is
        created in place (``O_EXCL``), its folders only when the create says they are missing. A file already
        there with the right size is kept (same key, same bytes); one of another size (left by an
        interrupted load) is replaced atomically. Not durable until the caller syncs the file system."""
        root = str(self.root)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for key, data in items:
            check_key(key)
            path = f"{root}/{key[:2]}/{key[2:4]}/{key}"
            try:
                fd = os.open(path, flags, 0o644)
            except FileNotFoundError:
                os.makedirs(f"{root}/{key[:2]}/{key[2:4]}", exist_ok=True)
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                if os.stat(path).st_size != len(data):
                    temporary = self._staging / f"load-{key}-{os.getpid()}"
                    temporary.write_bytes(data)
                    os.replace(temporary, path)
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)

    def _make_dirs(self, leaf: Path) -> None:
        """Create the fan-out folders of a key; a new folder is durable once its parent is synced."""
        for folder in (leaf.parent, leaf):
            if not folder.is_dir():
                folder.mkdir(exist_ok=True)
                _fsync_dir(folder.parent)

    def open(self, key: str) -> ReadableBlob:
        try:
            handle: IO[bytes] = open(self.path_of(key), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise KeyError(key) from None
        return handle

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def info(self, key: str) -> BlobInfo | None:
        try:
            stat = self.path_of(key).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(key))

    def delete_if_older(self, key: str, cutoff: datetime) -> BlobInfo | None:
        # Move the blob aside first (atomic), then judge the moved file: a put_file that refreshed it before
        # the move is seen in its time (and the blob goes back), one that comes after the move finds no blob
        # and stores it again.
        final = self.path_of(key)
        aside = self._staging / f"gc-{key}-{uuid.uuid4().hex}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return None
        stat = aside.stat()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        if modified >= cutoff:
            with contextlib.suppress(FileExistsError):  # a fresh copy may have got there meanwhile
                os.link(aside, final)
            os.unlink(aside)
            return None
        os.unlink(aside)
        return BlobInfo(key, stat.st_size, modified)

    def list(self) -> Iterator[BlobInfo]:
        for first in sorted(self.root.iterdir()):
            if first.name == STAGING or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for entry in sorted(second.iterdir()):
                    if not _KEY.fullmatch(entry.name):
                        continue
                    try:
                        stat = entry.stat()
                    except FileNotFoundError:
                        continue
                    yield BlobInfo(entry.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def open_blob_store(url: str | None, *, default_dir: Path) -> BlobStore:
    """The blob store a URL names: empty -> ``default_dir``; ``file:PATH``; ``s3://bucket/prefix``."""
    if not url:
        return FileBlobStore(default_dir)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        # file:relative/path, file:/abs/path and file:///abs/path all work
        path = unquote(parsed.path if parsed.netloc in ("", "localhost") else parsed.netloc + parsed.path)
        if url.startswith("file:") and not url.startswith("file:/"):
            path = unquote(url[len("file:") :])
        return FileBlobStore(Path(path))
    if parsed.scheme == "s3":
        from xds_server.storage.s3 import S3BlobStore  # boto3 is only imported when S3 is used

        return S3BlobStore(
            bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), staging_dir=default_dir / STAGING
        )
    raise ValueError(f"unsupported blob store URL {url!r} (file:PATH or s3://bucket/prefix)")


class SqlDocumentIndex:
    """The repository's reads of the registry tables, on one open connection (``DocumentIndex`` port)."""

    def __init__(self, connection: Connection, *, deleted_retention: timedelta = timedelta(0)) -> None:
        self.connection = connection
        #: ITI-62: the blob of a removed DocumentEntry stays referenced this long after its removal
        self.deleted_retention = deleted_retention

    def documents(self, unique_ids: Collection[str], repository_unique_id: str) -> list[StoredDocument]:
        if not unique_ids:
            return []
        rows = self.connection.execute(
            select(
                document_entry.c.entry_uuid,
                document_entry.c.unique_id,
                document_entry.c.patient_id,
                document_entry.c.status,
                document_entry.c.hash,
                document_entry.c.size,
                document_entry.c.mime_type,
                document_entry.c.content_sha256,
            )
            .where(document_entry.c.unique_id.in_(list(unique_ids)))
            .where(document_entry.c.repository_unique_id == repository_unique_id)
            .order_by(document_entry.c.entry_uuid)
        )
        return [
            StoredDocument(
                entry_uuid=row.entry_uuid,
                unique_id=row.unique_id,
                patient_id=row.patient_id,
                status=row.status,
                hash=(row.hash or "").lower(),
                size=row.size,
                mime_type=row.mime_type,
                content_sha256=row.content_sha256,
            )
            for row in rows
        ]

    def removed(self, entry_uuid: str) -> bool:
        found = self.connection.execute(
            select(deleted_document.c.entry_uuid).where(deleted_document.c.entry_uuid == entry_uuid).limit(1)
        ).first()
        return found is not None

    def referenced_hashes(self) -> set[str]:
        """Every blob key a DocumentEntry names (whatever its repository or status): its SHA-256, or its hash
        for a row not rekeyed yet; never collect those."""
        result = self.connection.execution_options(yield_per=10_000).execute(
            select(_blob_key(document_entry)).where(document_entry.c.hash.is_not(None)).distinct()
        )
        referenced = {value for (value,) in result}
        # the patient mailbox's raw messages, attachments and outgoing mail live in the same store
        referenced.update(SqlMailbox(self.connection).referenced_blobs())
        if self.deleted_retention > timedelta(0):
            since = datetime.now(UTC) - self.deleted_retention
            retained = self.connection.execute(
                select(_blob_key(deleted_document)).where(deleted_document.c.deleted_at >= since).distinct()
            )
            referenced.update(value for (value,) in retained)
        return referenced


def _blob_key(table: Table) -> ColumnElement[str]:
    """The blob key of a row: its SHA-256, else (a row stored before it) its lower-case SHA-1."""
    return func.coalesce(table.c.content_sha256, func.lower(table.c.hash))


def document_index_factory(
    transaction: Callable[..., AbstractContextManager[Connection]],
    *,
    deleted_retention: timedelta = timedelta(0),
) -> Callable[[], AbstractContextManager[DocumentIndex]]:
    """``Database.transaction`` -> a factory of read-only ``SqlDocumentIndex`` (for ITI-43 and gc; gc passes
    the retention of removed documents' blobs)."""

    @contextmanager
    def open_index() -> Iterator[DocumentIndex]:
        with transaction(readonly=True) as connection:
            yield SqlDocumentIndex(connection, deleted_retention=deleted_retention)

    return open_index


__all__ = [
    "STAGING",
    "FileBlobStore",
    "SqlDocumentIndex",
    "check_key",
    "document_index_factory",
    "legacy_key",
    "open_blob_store",
]
