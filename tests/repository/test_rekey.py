"""``blobs rekey`` (storage/rekey.py): a store written before the SHA-256 key is moved blob by blob, killed
anywhere it loses nothing (every document stays retrievable), and run again it finishes the job. On the file
store and on S3 (moto), on the session's database. Also: a DocumentEntry written without its SHA-256 (an
ITI-57 new version, a resubmitted uniqueId) takes the blob key of its earlier rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.attacks.test_blob_collision import make_legacy, unkeyed
from tests.core.builders import document
from xds_server.ebxml.codec import encode_object_xml
from xds_server.storage import rekey, tables
from xds_server.storage.database import Database
from xds_server.storage.registry import SqlRegistryStore
from xds_server.storage.rekey import rekey_blobs

from .conftest import STORE_KINDS, Repository, make_repository, store_of_kind
from .messages import Doc, pnr_message
from .test_transactions import retrieve, retrieved

CONTENTS = [b"first report", b"second report", b"a third one", b"first report"]  # the last shares a blob


@pytest.fixture(params=STORE_KINDS)
def repository(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> Iterator[Repository]:
    yield from make_repository(database, tmp_path, store_of_kind(request, tmp_path))


@pytest.fixture
def legacy(repository: Repository, database: Database) -> list[Doc]:
    """Four documents (three blobs) stored, then turned into a store written before the SHA-256 key."""
    docs = [Doc(content) for content in CONTENTS]
    assert repository.post(*pnr_message(docs)).status == "Success"
    make_legacy(repository, database)
    assert repository.blob_keys() == sorted({hashlib.sha1(c).hexdigest() for c in CONTENTS})
    return docs


def all_retrievable(repository: Repository, docs: list[Doc]) -> bool:
    back = retrieved(retrieve(repository, *(d.unique_id for d in docs)))
    return back == {d.unique_id: ("text/plain", d.content) for d in docs}


def sha256_keys() -> list[str]:
    return sorted({hashlib.sha256(c).hexdigest() for c in CONTENTS})


class TestRekey:
    def test_every_blob_and_row_moves_and_a_second_run_has_nothing_to_do(
        self, repository: Repository, database: Database, legacy: list[Doc]
    ) -> None:
        assert all_retrievable(repository, legacy)  # read by their SHA-1 before
        report = rekey_blobs(repository.blobs, database.transaction)
        assert (report.examined, report.moved, report.rows) == (3, 3, 4)
        assert (report.damaged, report.conflicts) == ([], [])
        assert repository.blob_keys() == sha256_keys() and unkeyed(database) == 0
        assert all_retrievable(repository, legacy)
        assert repository.staging_files() == []
        again = rekey_blobs(repository.blobs, database.transaction)
        assert (again.examined, again.moved, again.rows) == (0, 0, 0)

    def test_killed_after_the_copy_before_the_rows(
        self, repository: Repository, database: Database, legacy: list[Doc], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = []
        point = rekey.point_rows_at

        def dies_on_the_second(connection, sha1, sha256):  # type: ignore[no-untyped-def]
            calls.append(sha1)
            if len(calls) == 2:
                raise KeyboardInterrupt  # the process is stopped between the copy and the rows
            return point(connection, sha1, sha256)

        monkeypatch.setattr(rekey, "point_rows_at", dies_on_the_second)
        with pytest.raises(KeyboardInterrupt):
            rekey_blobs(repository.blobs, database.transaction)
        assert all_retrievable(repository, legacy)
        monkeypatch.setattr(rekey, "point_rows_at", point)
        report = rekey_blobs(repository.blobs, database.transaction)
        assert (report.examined, report.moved, report.damaged, report.conflicts) == (2, 2, [], [])
        assert repository.blob_keys() == sha256_keys() and unkeyed(database) == 0
        assert all_retrievable(repository, legacy)

    def test_killed_after_the_rows_before_the_old_copy_is_removed(
        self, repository: Repository, database: Database, legacy: list[Doc], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def dies(key: str) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(repository.blobs, "delete", dies)
        with pytest.raises(KeyboardInterrupt):
            rekey_blobs(repository.blobs, database.transaction)
        monkeypatch.undo()
        assert all_retrievable(repository, legacy)
        assert len(repository.blob_keys()) == 4  # one moved, its SHA-1 copy still there
        report = rekey_blobs(repository.blobs, database.transaction)
        assert (report.examined, report.moved, report.damaged) == (3, 3, [])
        assert repository.blob_keys() == sha256_keys() and unkeyed(database) == 0
        assert all_retrievable(repository, legacy)

    def test_a_blob_whose_bytes_do_not_match_its_key_is_left_alone(
        self, repository: Repository, database: Database, legacy: list[Doc]
    ) -> None:
        damaged = hashlib.sha1(b"a third one").hexdigest()
        staged = repository.blobs.staging_dir / "damage"
        staged.write_bytes(b"a third one")
        repository.blobs.delete(damaged)
        staged.write_bytes(b"a third 0ne")  # the store's copy went bad
        repository.blobs.put_file(damaged, staged)
        report = rekey_blobs(repository.blobs, database.transaction)
        assert (report.moved, report.damaged) == (2, [damaged])
        assert damaged in repository.blob_keys() and unkeyed(database) == 1
        assert "do not match their SHA-1 key" in report.summary()


class TestRowsWithoutTheirSha256:
    def test_a_new_version_takes_the_key_of_the_version_before(self, database: Database) -> None:
        key = hashlib.sha256(b"bytes").hexdigest()
        first = document(
            "urn:uuid:0c0b0a09-0000-4000-8000-000000000001", hash="ab" * 20, size="5", content_sha256=key
        )
        update = document(
            "urn:uuid:0c0b0a09-0000-4000-8000-000000000002",
            hash="AB" * 20,
            size="5",
            logical_id=first.entry_uuid,
            version="2",
            unique_id=first.unique_id,
        )
        other = document("urn:uuid:0c0b0a09-0000-4000-8000-000000000003", hash="cd" * 20, size="5")
        with database.transaction() as connection:
            store = SqlRegistryStore(connection, encode_object_xml)
            store.add_objects([first])
            store.add_objects([update, other])
        d = tables.document_entry.c
        with database.transaction(readonly=True) as connection:
            rows = dict(connection.execute(select(d.entry_uuid, d.content_sha256)).all())
        assert rows == {first.entry_uuid: key, update.entry_uuid: key, other.entry_uuid: None}
