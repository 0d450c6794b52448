"""storage/gc.py: orphans past the grace period go, referenced or young blobs stay (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.storage.builders import document, stub_xml
from xds_server.core.blobs import StoredDocument
from xds_server.storage.blobs import FileBlobStore, SqlDocumentIndex, document_index_factory
from xds_server.storage.database import Database
from xds_server.storage.gc import collect_garbage
from xds_server.storage.registry import SqlRegistryStore

REPO = "1.2.3.4"
DAY = 24 * 3600


def put(store: FileBlobStore, data: bytes, *, age_seconds: float = 0) -> str:
    fd, name = tempfile.mkstemp(dir=store.staging_dir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    key = hashlib.sha1(data).hexdigest()
    store.put_file(key, Path(name))
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(store.path_of(key), (then, then))
    return key


def register(database: Database, key: str, size: int, **changes: object) -> None:
    with database.transaction() as connection:
        SqlRegistryStore(connection, stub_xml).add_objects(
            [document(hash=key, size=str(size), repository_unique_id=REPO, **changes)]
        )


class TestCollectGarbage:
    def test_only_old_unreferenced_blobs_are_removed(self, database: Database, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        referenced_old = put(store, b"referenced", age_seconds=3 * DAY)
        orphan_old = put(store, b"orphan", age_seconds=3 * DAY)
        orphan_young = put(store, b"in flight")  # written by a request that has not committed yet
        register(database, referenced_old, 10)

        report = collect_garbage(store, document_index_factory(database.transaction), grace=timedelta(days=1))

        assert report.removed == (orphan_old,)
        assert report.removed_bytes == len(b"orphan")
        assert (report.examined, report.referenced, report.too_young) == (3, 1, 1)
        assert store.exists(referenced_old) and store.exists(orphan_young)
        assert not store.exists(orphan_old)
        assert "removed 1 unreferenced" in report.summary()

    def test_upper_case_hash_in_metadata_still_protects(self, database: Database, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        key = put(store, b"registered by ITI-42 in upper case", age_seconds=3 * DAY)
        register(database, key.upper(), 10)
        report = collect_garbage(
            store, document_index_factory(database.transaction), grace=timedelta(hours=1)
        )
        assert report.removed == ()
        assert store.exists(key)

    def test_deprecated_entries_still_reference(self, database: Database, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        key = put(store, b"old version", age_seconds=3 * DAY)
        register(database, key, 11, status="urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated")
        assert collect_garbage(store, document_index_factory(database.transaction)).removed == ()

    def test_dry_run_removes_nothing(self, database: Database, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        orphan = put(store, b"orphan", age_seconds=3 * DAY)
        report = collect_garbage(store, document_index_factory(database.transaction), dry_run=True)
        assert report.removed == (orphan,)
        assert store.exists(orphan)

    def test_a_blob_made_young_again_is_kept(self, database: Database, tmp_path: Path) -> None:
        """A request that re-puts an old orphan (same content) refreshes it before it references it."""
        store = FileBlobStore(tmp_path / "blobs")
        key = put(store, b"resubmitted", age_seconds=3 * DAY)
        real_index = document_index_factory(database.transaction)

        def index_after_a_request_reput_the_blob():  # type: ignore[no-untyped-def]
            put(store, b"resubmitted")  # happens between gc's listing and its reference check
            return real_index()

        report = collect_garbage(store, index_after_a_request_reput_the_blob, grace=timedelta(days=1))
        assert report.removed == ()
        assert store.exists(key)

    def test_stale_staging_files_are_removed(self, database: Database, tmp_path: Path) -> None:
        store = FileBlobStore(tmp_path / "blobs")
        stale = store.staging_dir / "part-crashed.tmp"
        stale.write_bytes(b"half a document")
        then = time.time() - 3 * DAY
        os.utime(stale, (then, then))
        fresh = store.staging_dir / "part-writing.tmp"
        fresh.write_bytes(b"being written")
        report = collect_garbage(store, document_index_factory(database.transaction))
        assert report.staging_removed == 1
        assert not stale.exists() and fresh.exists()


class TestSqlDocumentIndex:
    def test_documents_of_this_repository_only(self, database: Database) -> None:
        key = hashlib.sha1(b"x").hexdigest()
        entry = document(hash=key.upper(), size="1", repository_unique_id=REPO, mime_type="application/pdf")
        other = document(hash=key, size="1", repository_unique_id="9.9.9")
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([entry, other])
        with database.transaction(readonly=True) as connection:
            index = SqlDocumentIndex(connection)
            found = index.documents({entry.unique_id or "", other.unique_id or ""}, REPO)
            assert found == [
                StoredDocument(
                    entry_uuid=entry.entry_uuid,
                    unique_id=entry.unique_id or "",
                    patient_id=entry.patient_id or "",
                    status=entry.status or "",
                    hash=key,
                    size=1,
                    mime_type="application/pdf",
                )
            ]
            assert index.documents(set(), REPO) == []
            assert index.referenced_hashes() == {key}

    def test_grace_cannot_be_negative(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            collect_garbage(FileBlobStore(tmp_path), lambda: None, grace=timedelta(seconds=-1))  # type: ignore[arg-type,return-value]
        assert datetime.now(UTC)


class TestGcCommand:
    def test_cli_collects_orphans_of_the_configured_store(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import typer
        from typer.testing import CliRunner

        from xds_server.gc import gc_command
        from xds_server.storage.database import sqlite_url_for
        from xds_server.storage.migrate import upgrade

        data = tmp_path / "data"
        database = Database(sqlite_url_for(data))
        upgrade(database)
        store = FileBlobStore(data / "blobs")
        orphan = put(store, b"orphan", age_seconds=3 * DAY)
        kept = put(store, b"kept", age_seconds=3 * DAY)
        register(database, kept, 4)
        database.dispose()
        for name in ("XDS_DATABASE_URL", "XDS_BLOB_STORE", "XDS_DATABASE_SCHEMA"):
            monkeypatch.delenv(name, raising=False)

        app = typer.Typer()
        app.command("gc")(gc_command)
        app.command("noop")(lambda: None)  # a group, so "gc" is a sub-command as in cli.py
        runner = CliRunner()
        dry = runner.invoke(app, ["gc", "--data-dir", str(data), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would remove 1 unreferenced" in dry.output and store.exists(orphan)
        result = runner.invoke(app, ["gc", "--data-dir", str(data), "--grace-hours", "1"])
        assert result.exit_code == 0, result.output
        assert "removed 1 unreferenced" in result.output
        assert not store.exists(orphan) and store.exists(kept)
