"""WAL checkpoints of the embedded SQLite registry, off the request path.

Theory of operation. In WAL mode a commit appends pages to ``registry.sqlite3-wal``; a *checkpoint* copies
them back into the database file and syncs it. By default SQLite runs one inside the commit that takes the
WAL past 1 000 pages (4 MiB), so one request in a few hundred pays it: random writes into the database file
and its fsync, 10 to 40 ms on a registry of millions of entries, all of it in that request's answer time
(a FindDocuments writes its trace, so reads pay it too). Here the server turns that off on its connections
and a thread of its own checkpoints every ``interval`` instead:

* ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own: it copies what no reader still needs and
  never waits for, nor blocks, a reader or a writer. The sqlite3 module releases the GIL while it runs.
* Durability does not change: a commit is durable once its WAL frames are synced (``synchronous=FULL``),
  before any checkpoint.
* A backstop stays on the request connections (``BACKSTOP_PAGES``): if the thread stops or falls far
  behind, the committing connection checkpoints again as SQLite does by default, only later, so the WAL
  never grows without bound.
* Several server processes on one file (``serve --workers``) each run one; two checkpoints never run at
  once (SQLite's checkpoint lock), the loser just returns and tries again at its next turn.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from dataclasses import dataclass

from xds_server.storage.database import Database

__all__ = ["BACKSTOP_PAGES", "CheckpointResult", "WalCheckpointer"]

log = logging.getLogger(__name__)

#: ``wal_autocheckpoint`` of the request connections while a checkpointer runs: 16 384 pages (64 MiB with
#: 4 KiB pages), the WAL size at which a commit checkpoints by itself because the thread did not.
BACKSTOP_PAGES = 16_384

#: Seconds between two checkpoints. A second of WAL at 200 submissions/s is ~1 000 pages, what SQLite
#: checkpoints at by default. Every 0.1 s cost ITI-41 10 % more CPU (ten database fsyncs a second) for no
#: better read tail (bench/pnr.py and FindDocuments at 1 M entries, A/B in one run).
DEFAULT_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """The row of ``PRAGMA wal_checkpoint``: whether it was blocked, WAL frames, frames copied back."""

    busy: bool
    wal_frames: int
    checkpointed: int


class WalCheckpointer:
    """A daemon thread running PASSIVE checkpoints of one SQLite file (see the module docstring)."""

    def __init__(self, path: str, *, interval: float = DEFAULT_INTERVAL) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None
        self.runs = 0  # checkpoints run (tests and logs)

    @classmethod
    def for_database(cls, database: Database) -> WalCheckpointer | None:
        """The checkpointer of a SQLite file opened with the backstop (``Database(wal_autocheckpoint=...)``);
        None for PostgreSQL, an in-memory database, or one left to SQLite's own checkpoints."""
        path = database.sqlite_file
        if path is None or database.wal_autocheckpoint is None:
            return None
        return cls(path)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its connection."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def checkpoint(self) -> CheckpointResult:
        """One PASSIVE checkpoint now (the thread's step; callable on its own from the same thread only)."""
        if self._connection is None:
            # autocommit: a checkpoint cannot run inside a transaction
            self._connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        busy, frames, done = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return CheckpointResult(bool(busy), int(frames), int(done))

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                try:
                    result = self.checkpoint()
                except sqlite3.Error as exc:  # a locked or vanished file: the backstop covers us meanwhile
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                    continue
                if result.wal_frames - result.checkpointed > BACKSTOP_PAGES // 2:
                    log.warning(
                        "WAL of %s holds %d frames not yet checkpointed (a long reader?)",
                        self._path,
                        result.wal_frames - result.checkpointed,
                    )
        finally:
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
