"""A refused ITI-41 leaves no document behind (issue 14, item 8), without ever removing a blob that another
request stored or refreshed, and never commits metadata whose blob is gone. On the real file store."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.repository.test_core import REPO, entry, submission
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.usecases.provide import IncomingDocument, provide_and_register
from xds_server.storage.blobs import FileBlobStore
from xds_server.storage.gc import sweep_staging


def incoming(blobs: FileBlobStore, doc_id: str, data: bytes) -> IncomingDocument:
    path = blobs.staging_dir / f"{doc_id}-{time.monotonic_ns()}"
    path.write_bytes(data)
    return IncomingDocument(doc_id, path, hashlib.sha1(data).hexdigest(), len(data))


@contextmanager
def refusing() -> Iterator[str]:
    yield "store"


def refuse(*_args: object, **_kwargs: object) -> None:
    raise XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, "unknown patient")


def provide(blobs: FileBlobStore, data: bytes, register: object = refuse) -> object:
    return provide_and_register(
        submission(entry("Doc1")),
        [incoming(blobs, "Doc1", data)],
        blobs=blobs,
        repository_unique_id=REPO,
        transaction=refusing,
        register=register,  # type: ignore[arg-type]
    )


def test_a_refused_upload_leaves_no_blob(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    with pytest.raises(XdsError):
        provide(blobs, b"refused bytes")
    assert list(blobs.list()) == [] and list(blobs.staging_dir.iterdir()) == []


def test_a_blob_stored_before_is_kept(tmp_path: Path) -> None:
    """Another document with the same bytes was stored earlier: its blob survives our refusal."""
    blobs = FileBlobStore(tmp_path)
    key = hashlib.sha256(b"shared").hexdigest()  # the blob key
    blobs.put_file(key, incoming(blobs, "Earlier", b"shared").path)
    with pytest.raises(XdsError):
        provide(blobs, b"shared")
    assert blobs.exists(key)


def test_a_blob_refreshed_by_another_request_in_flight_is_kept(tmp_path: Path) -> None:
    """Our put created the blob; another request with the same bytes refreshed it before our refusal."""
    blobs = FileBlobStore(tmp_path)
    key = hashlib.sha256(b"in flight").hexdigest()  # the blob key

    def other_request_then_refuse(*_args: object, **_kwargs: object) -> None:
        later = time.time() + 1
        os.utime(blobs.path_of(key), (later, later))  # the other request's put_file
        refuse()

    with pytest.raises(XdsError):
        provide(blobs, b"in flight", other_request_then_refuse)
    assert blobs.exists(key)


def test_metadata_is_never_committed_without_its_blob(tmp_path: Path) -> None:
    """A concurrent refused request removed the blob between our put and our commit: we refuse too."""
    blobs = FileBlobStore(tmp_path)
    key = hashlib.sha256(b"taken away").hexdigest()  # the blob key

    def register_while_blob_vanishes(*_args: object, **_kwargs: object) -> tuple[()]:
        blobs.delete(key)
        return ()

    with pytest.raises(XdsError) as refused:
        provide(blobs, b"taken away", register_while_blob_vanishes)
    assert refused.value.issues[0].code is ErrorCode.REPOSITORY_ERROR


def test_startup_sweep_removes_old_staging_files_only(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    old, fresh = blobs.staging_dir / "crashed.part", blobs.staging_dir / "in-flight.part"
    old.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert sweep_staging(blobs) == 1
    assert not old.exists() and fresh.exists()
