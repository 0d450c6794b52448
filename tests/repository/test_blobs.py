"""storage/blobs.py and storage/s3.py: both stores honour the same BlobStore contract (moto's S3 server)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest

from xds_server.core.blobs import BlobConflict, BlobStore
from xds_server.storage.blobs import FileBlobStore, open_blob_store

from .conftest import s3_store


def stage(store: BlobStore, data: bytes) -> tuple[str, Path]:
    fd, name = tempfile.mkstemp(dir=store.staging_dir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return hashlib.sha1(data).hexdigest(), Path(name)


def read_all(store: BlobStore, key: str) -> bytes:
    blob = store.open(key)
    try:
        chunks = []
        while chunk := blob.read(7):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        blob.close()


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_store(endpoint, tmp_path, prefix=f"run-{tmp_path.name}")


class TestBlobStoreContract:
    def test_put_then_read(self, store: BlobStore) -> None:
        data = b"%PDF-1.4 binary \x00\xff" * 1000
        key, path = stage(store, data)
        store.put_file(key, path)
        assert not path.exists()  # consumed
        assert store.exists(key)
        assert read_all(store, key) == data
        info = store.info(key)
        assert info is not None and info.size == len(data)

    def test_listing_shows_blobs_not_staging(self, store: BlobStore) -> None:
        key_a, path_a = stage(store, b"a")
        key_b, path_b = stage(store, b"b")
        store.put_file(key_a, path_a)
        store.put_file(key_b, path_b)
        stage(store, b"left in staging")
        assert sorted(info.key for info in store.list()) == sorted([key_a, key_b])

    def test_put_existing_key_keeps_content_and_refreshes_time(self, store: BlobStore) -> None:
        key, path = stage(store, b"same bytes")
        store.put_file(key, path)
        first = store.info(key)
        assert first is not None
        if isinstance(store, FileBlobStore):
            old = time.time() - 3600
            os.utime(store.path_of(key), (old, old))
            first = store.info(key)
            assert first is not None
        else:
            time.sleep(1.1)  # S3 LastModified has a one-second resolution
        _, again = stage(store, b"same bytes")
        store.put_file(key, again)
        assert not again.exists()
        second = store.info(key)
        assert second is not None and second.modified > first.modified
        assert read_all(store, key) == b"same bytes"

    @pytest.mark.parametrize("other", [b"other bytes", b"same size!", b"longer bytes than before"])
    def test_a_key_hit_with_other_bytes_is_refused_and_never_overwrites(
        self, store: BlobStore, other: bytes
    ) -> None:
        """A SHA-1 collision (simulated: other bytes under the stored key) must not replace a document."""
        key, path = stage(store, b"same size.")
        store.put_file(key, path)
        _, forged = stage(store, other)
        with pytest.raises(BlobConflict):
            store.put_file(key, forged)
        assert read_all(store, key) == b"same size."
        assert not forged.exists()  # consumed all the same: nothing left in staging

    def test_missing_blob(self, store: BlobStore) -> None:
        key = hashlib.sha1(b"never stored").hexdigest()
        assert not store.exists(key)
        assert store.info(key) is None
        with pytest.raises(KeyError):
            store.open(key)

    def test_delete(self, store: BlobStore) -> None:
        key, path = stage(store, b"to delete")
        store.put_file(key, path)
        store.delete(key)
        store.delete(key)  # idempotent
        assert not store.exists(key)

    def test_delete_if_older(self, store: BlobStore) -> None:
        key, path = stage(store, b"judged by age")
        store.put_file(key, path)
        info = store.info(key)
        assert info is not None
        assert store.delete_if_older(key, info.modified) is None  # not older than its own time: kept
        assert store.exists(key)
        removed = store.delete_if_older(key, info.modified + timedelta(seconds=1))
        assert removed is not None and removed.size == len(b"judged by age")
        assert not store.exists(key)
        assert store.delete_if_older(key, info.modified + timedelta(days=1)) is None  # already gone
        assert [p.name for p in store.staging_dir.iterdir()] == []

    @pytest.mark.parametrize("key", ["../etc/passwd", "ABCDEF" * 6 + "ABCD", "abc"])
    def test_keys_are_sha1_hex(self, store: BlobStore, key: str) -> None:
        with pytest.raises(ValueError):
            store.exists(key)


class TestFileStoreLayout:
    def test_content_addressed_fan_out(self, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path)
        key, path = stage(store, b"x")
        store.put_file(key, path)
        assert (tmp_path / key[:2] / key[2:4] / key).read_bytes() == b"x"

    def test_put_from_outside_staging_copies(self, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        outside = tmp_path / "elsewhere.bin"
        outside.write_bytes(b"outside")
        key = hashlib.sha1(b"outside").hexdigest()
        store.put_file(key, outside)
        assert not outside.exists()
        assert read_all(store, key) == b"outside"
        assert os.listdir(store.staging_dir) == []


class TestOpenBlobStore:
    def test_default_is_the_data_dir_folder(self, tmp_path: Path) -> None:
        store = open_blob_store(None, default_dir=tmp_path / "blobs")
        assert isinstance(store, FileBlobStore) and store.root == tmp_path / "blobs"

    @pytest.mark.parametrize("form", ["file:{p}", "file://{p}"])
    def test_file_urls(self, tmp_path: Path, form: str) -> None:
        store = open_blob_store(form.format(p=tmp_path / "x"), default_dir=tmp_path / "unused")
        assert isinstance(store, FileBlobStore) and store.root == tmp_path / "x"

    def test_s3_url(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        from xds_server.storage.s3 import S3BlobStore

        store = open_blob_store("s3://bucket/some/prefix", default_dir=tmp_path)
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == ("bucket", "some/prefix/")

    def test_s3_url_with_the_usual_aws_settings(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
    ) -> None:
        s3_store(s3_endpoint, tmp_path, bucket="from-env")  # creates the bucket
        for name, value in {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        store = open_blob_store("s3://from-env/xds", default_dir=tmp_path / "blobs")
        key, path = stage(store, b"configured from the environment")
        store.put_file(key, path)
        assert read_all(store, key) == b"configured from the environment"
        assert [info.key for info in store.list()] == [key]

    def test_unknown_scheme(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="unsupported"):
            open_blob_store("ftp://x/y", default_dir=tmp_path)
