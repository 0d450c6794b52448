"""ITI-62 blob retention: the document of a removed DocumentEntry is no longer retrievable, but its blob stays
referenced for ``deleted_blob_retention_days`` after the removal; then ``gc`` collects it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from tests.core.builders import HASH, document, submission
from tests.update.registry import Registry
from xds_server.storage import tables
from xds_server.storage.blobs import FileBlobStore, document_index_factory
from xds_server.storage.gc import collect_garbage

RETENTION = timedelta(days=30)


def removed_document(registry: Registry) -> None:
    plan = registry.register(submission(document()))
    registry.delete(list(dict(plan.id_map).values()))


def blob_store(tmp_path: Path) -> FileBlobStore:
    store = FileBlobStore(tmp_path / "blobs")
    source = tmp_path / "document.txt"
    source.write_bytes(b"x")
    store.put_file(HASH, source)
    return store


def gc(registry: Registry, store: FileBlobStore, retention: timedelta) -> tuple[str, ...]:
    index = document_index_factory(registry.database.transaction, deleted_retention=retention)
    later = datetime.now(UTC) + timedelta(hours=1)  # the blob is past the grace period
    return collect_garbage(store, index, grace=timedelta(0), now=later).removed


class TestRetention:
    def test_removal_is_remembered(self, registry: Registry) -> None:
        removed_document(registry)
        with registry.database.transaction(readonly=True) as connection:
            rows = connection.execute(select(tables.deleted_document.c.hash)).scalars().all()
        assert rows == [HASH]

    def test_blob_kept_within_retention(self, registry: Registry, tmp_path: Path) -> None:
        removed_document(registry)
        store = blob_store(tmp_path)
        assert gc(registry, store, RETENTION) == ()
        assert store.exists(HASH)

    def test_blob_collected_after_retention(self, registry: Registry, tmp_path: Path) -> None:
        removed_document(registry)
        with registry.database.transaction() as connection:
            connection.execute(
                update(tables.deleted_document).values(
                    deleted_at=datetime.now(UTC) - RETENTION - timedelta(days=1)
                )
            )
        store = blob_store(tmp_path)
        assert gc(registry, store, RETENTION) == (HASH,)
        assert not store.exists(HASH)

    def test_no_retention(self, registry: Registry, tmp_path: Path) -> None:
        removed_document(registry)
        assert gc(registry, blob_store(tmp_path), timedelta(0)) == (HASH,)
