"""The server checkpoints the SQLite WAL in a thread of its own, never inside a request's commit."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.storage.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from xds_server.storage.database import SQLITE_FILE_NAME, Database

THREAD = "sqlite-wal-checkpoint"


def _pragma(database: Database, name: str) -> int:
    with database.transaction(readonly=True) as connection:
        return int(connection.execute(text(f"PRAGMA {name}")).scalar_one())


def _write(database: Database, rows: int = 200) -> None:
    with database.transaction() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)"))
        for _ in range(rows):
            connection.execute(text("INSERT INTO filler (body) VALUES (:body)"), {"body": "x" * 2000})


def _wal_frames(path: Path) -> int:
    """Frames in the WAL (read by a passive checkpoint of our own: call it last)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


@pytest.fixture
def backstopped(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / SQLITE_FILE_NAME}", wal_autocheckpoint=BACKSTOP_PAGES)
    yield database
    database.dispose()


class TestRequestConnections:
    def test_the_backstop_replaces_sqlites_default(self, backstopped: Database) -> None:
        assert _pragma(backstopped, "wal_autocheckpoint") == BACKSTOP_PAGES

    def test_other_users_keep_sqlites_default(self, tmp_path: Path) -> None:
        database = Database(f"sqlite:///{tmp_path / SQLITE_FILE_NAME}")
        try:
            assert _pragma(database, "wal_autocheckpoint") == 1000
        finally:
            database.dispose()


class TestWalCheckpointer:
    def test_only_for_a_backstopped_sqlite_file(self, tmp_path: Path, backstopped: Database) -> None:
        assert WalCheckpointer.for_database(backstopped) is not None
        plain = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
        memory = Database("sqlite://", wal_autocheckpoint=BACKSTOP_PAGES)
        postgres = Database("postgresql://nobody@127.0.0.1:1/none", wal_autocheckpoint=BACKSTOP_PAGES)
        for database in (plain, memory, postgres):
            assert WalCheckpointer.for_database(database) is None, database
            database.dispose()

    def test_a_checkpoint_copies_the_wal_back(self, backstopped: Database) -> None:
        _write(backstopped)
        checkpointer = WalCheckpointer.for_database(backstopped)
        assert checkpointer is not None
        result = checkpointer.checkpoint()
        assert result.wal_frames > 0
        assert result.checkpointed == result.wal_frames
        assert not result.busy

    def test_the_thread_keeps_the_wal_checkpointed(self, backstopped: Database, tmp_path: Path) -> None:
        path = tmp_path / SQLITE_FILE_NAME
        _write(backstopped)  # ~400 KB, all in the WAL: the database file itself has not grown
        assert path.stat().st_size < 100_000
        checkpointer = WalCheckpointer(str(path), interval=0.01)
        checkpointer.start()
        try:
            deadline = time.monotonic() + 10
            while path.stat().st_size < 400_000 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            checkpointer.stop()
        assert path.stat().st_size >= 400_000  # copied back into the database file
        assert checkpointer.runs > 0
        assert THREAD not in {thread.name for thread in threading.enumerate()}

    def test_commits_leave_the_checkpoints_to_the_thread(self, backstopped: Database, tmp_path: Path) -> None:
        """Ten commits of ~150 pages: with SQLite's default the seventh checkpoints and the WAL starts over;
        with the backstop every frame is still in the WAL, for the thread to copy back."""
        default = Database(f"sqlite:///{tmp_path / 'default.sqlite3'}")
        try:
            for database in (backstopped, default):
                for _ in range(10):
                    _write(database, rows=300)
            assert _wal_frames(tmp_path / SQLITE_FILE_NAME) > 1_400
            assert _wal_frames(tmp_path / "default.sqlite3") < 1_000
        finally:
            default.dispose()


class TestServer:
    def test_the_server_runs_the_thread_while_it_serves(self, tmp_path: Path) -> None:
        # the embedded database whatever the run's XDS_DATABASE_URL (PostgreSQL has no WAL to checkpoint)
        database_url = f"sqlite:///{tmp_path / SQLITE_FILE_NAME}"
        settings = Settings(data_dir=tmp_path, profile="ihe", database_url=database_url, database_schema=None)
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            assert THREAD in {thread.name for thread in threading.enumerate()}
        assert THREAD not in {thread.name for thread in threading.enumerate()}
