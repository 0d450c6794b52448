"""Two documents with one SHA-1 (issue 14, item 9), from the attacker's side, through ITI-41 and ITI-43.

The SHAttered prefixes (tests/data/sha1-collision, origin in its README) collide under SHA-1, and any
identical suffix keeps the collision: two different PDFs with one SHA-1. With blobs keyed by SHA-1, the first
one stored blocked the second (refused, XDSRepositoryError) or, without the byte comparison, got it served in
its place. Keyed by SHA-256, both are stored, each retrieves its own bytes, and each DocumentEntry carries the
SHA-1 of the bytes it retrieves (the XDS hash, the same for both). On the file store and on S3; and on a store
written before the SHA-256 key (the first document still under its SHA-1), before and after ``blobs rekey``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.repository.conftest import (  # noqa: F401 - s3_endpoint is a fixture
    STORE_KINDS,
    Repository,
    make_repository,
    s3_endpoint,
    store_of_kind,
)
from tests.repository.messages import Doc, pnr_message
from tests.repository.test_transactions import retrieve, retrieved
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.rekey import rekey_blobs

DATA = Path(__file__).resolve().parents[1] / "data" / "sha1-collision"
SUFFIX = b"\n% a report, the same tail in both\n%%EOF\n"


def colliding_pdfs() -> tuple[bytes, bytes]:
    first, second = (
        bytes.fromhex((DATA / f"shattered-{n}.prefix.hex").read_text().strip()) + SUFFIX for n in (1, 2)
    )
    return first, second


FIRST, SECOND = colliding_pdfs()
SHA1 = hashlib.sha1(FIRST).hexdigest()


def test_the_two_documents_collide() -> None:
    """The premise: different bytes, one size, one SHA-1, two SHA-256."""
    assert FIRST != SECOND and len(FIRST) == len(SECOND) == 320 + len(SUFFIX)
    assert hashlib.sha1(SECOND).hexdigest() == SHA1
    assert hashlib.sha256(FIRST).digest() != hashlib.sha256(SECOND).digest()


@pytest.fixture(params=STORE_KINDS)
def repository(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> Iterator[Repository]:
    yield from make_repository(database, tmp_path, store_of_kind(request, tmp_path))


def provide(repository: Repository, content: bytes) -> Doc:
    doc = Doc(content, "application/pdf")
    answer = repository.post(*pnr_message([doc]))
    assert (answer.status, answer.error_codes) == ("Success", []), answer.body[:2000]
    return doc


def registered_hashes(repository: Repository) -> dict[str, str]:
    return {unique_id: digest for unique_id, digest, *_ in repository.stored_documents()}


class TestSha1Collision:
    def test_both_are_stored_and_each_retrieves_its_own_bytes(self, repository: Repository) -> None:
        first = provide(repository, FIRST)
        second = provide(repository, SECOND)  # refused with XDSRepositoryError while blobs were SHA-1 keyed
        back = retrieved(retrieve(repository, first.unique_id, second.unique_id))
        assert back == {
            first.unique_id: ("application/pdf", FIRST),
            second.unique_id: ("application/pdf", SECOND),
        }
        # the XDS hash is the SHA-1 of the bytes each retrieves: the same value for both
        assert registered_hashes(repository) == {first.unique_id: SHA1, second.unique_id: SHA1}
        assert repository.blob_keys() == sorted(hashlib.sha256(c).hexdigest() for c in (FIRST, SECOND))

    def test_in_one_submission_and_in_either_order(self, repository: Repository) -> None:
        docs = [Doc(SECOND, "application/pdf"), Doc(FIRST, "application/pdf")]
        answer = repository.post(*pnr_message(docs))
        assert (answer.status, answer.error_codes) == ("Success", [])
        back = retrieved(retrieve(repository, *(d.unique_id for d in docs)))
        assert back == {d.unique_id: ("application/pdf", d.content) for d in docs}

    def test_the_same_bytes_again_share_the_blob(self, repository: Repository) -> None:
        provide(repository, FIRST)
        provide(repository, SECOND)
        again = provide(repository, SECOND)
        assert len(repository.blob_keys()) == 2
        back = retrieved(retrieve(repository, again.unique_id))
        assert back == {again.unique_id: ("application/pdf", SECOND)}


def make_legacy(repository: Repository, database: Database) -> None:
    """Turn the store into one written before the SHA-256 key: every blob under its SHA-1, rows unkeyed."""
    blobs = repository.blobs
    for info in list(blobs.list()):
        source = blobs.open(info.key)
        try:
            content = source.read()
        finally:
            source.close()
        staged = blobs.staging_dir / f"legacy-{info.key}"
        staged.write_bytes(content)
        blobs.put_file(hashlib.sha1(content).hexdigest(), staged)
        blobs.delete(info.key)
    with database.transaction() as connection:
        connection.execute(update(tables.document_entry).values(content_sha256=None))


def unkeyed(database: Database) -> int:
    d = tables.document_entry.c
    with database.transaction(readonly=True) as connection:
        return len(connection.execute(select(d.entry_uuid).where(d.content_sha256.is_(None))).all())


class TestStoreWrittenBeforeTheSha256Key:
    def test_a_collision_arriving_before_and_after_rekey(
        self, repository: Repository, database: Database
    ) -> None:
        first = provide(repository, FIRST)
        make_legacy(repository, database)
        assert repository.blob_keys() == [SHA1]
        # read by its SHA-1 while not rekeyed; the colliding document goes to its own SHA-256 blob
        second = provide(repository, SECOND)
        expected = {
            first.unique_id: ("application/pdf", FIRST),
            second.unique_id: ("application/pdf", SECOND),
        }
        assert retrieved(retrieve(repository, first.unique_id, second.unique_id)) == expected

        report = rekey_blobs(repository.blobs, database.transaction)
        assert (report.examined, report.moved, report.rows, report.damaged) == (1, 1, 1, [])
        assert unkeyed(database) == 0
        assert repository.blob_keys() == sorted(hashlib.sha256(c).hexdigest() for c in (FIRST, SECOND))
        assert retrieved(retrieve(repository, first.unique_id, second.unique_id)) == expected
        assert registered_hashes(repository) == {first.unique_id: SHA1, second.unique_id: SHA1}


def test_the_test_data_keeps_its_origin() -> None:
    assert "shattered.io" in (DATA / "README.md").read_text()
