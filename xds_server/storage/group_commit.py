"""Group commit: the write transactions of concurrent requests share one database transaction and one
durable commit (one WAL fsync on SQLite, one commit flush on PostgreSQL), each inside its own SAVEPOINT.

Theory of operation. A durable commit costs a disk flush, and on SQLite writers are serialised anyway
(``BEGIN IMMEDIATE``). So the writers of one process take turns on one connection:

1. A request's ``transaction()`` waits for the connection (one user at a time), opens the batch's
   transaction if none is open (``BEGIN IMMEDIATE`` / ``BEGIN``), then a SAVEPOINT, and runs its block.
2. The block ends normally: RELEASE SAVEPOINT, the request joins the batch. It raised: ROLLBACK TO SAVEPOINT
   and the exception goes to that request only. What the other members wrote is untouched, as if the failed
   request had never run (a later member sees exactly the earlier members' writes, as with serial
   transactions).
3. The request then hands the connection to the next waiting writer, which works in the same transaction.
   The last one (nobody waiting, or the batch holds ``max_batch`` members) COMMITs for everybody.
4. No member's ``transaction()`` returns before the commit of its batch has succeeded: an acknowledged
   submission is durable. If the COMMIT fails, or the connection breaks, every member of that batch gets
   the error (nothing of the batch was written) and none was acknowledged.

With one client there is nothing to wait for: each request commits its own batch at once, at the latency of
a plain transaction. Under load, batches grow by themselves while a commit flushes: the waiters queue up
behind it and share the next one. Within one process no two writers ever contend for a lock.

PostgreSQL: the same, at READ COMMITTED. The row and advisory locks a member takes (storage/registry.py
``lock_patient`` and ``lock``) are held until the batch commits, and are released early if its savepoint
rolls back; so a patient merge (feed) waits for the batches that wrote that patient, as it waits for any
writer. Two
processes (or app nodes) each run their own batches; a deadlock between two batches (possible only when
both touch the same objects in opposite orders) is detected by PostgreSQL, which fails one member with
XDSRegistryBusy, and the client retries.

A request must not open a second write transaction inside its block (it would wait for itself): that raises
``RuntimeError`` at once instead.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, RootTransaction

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.storage.database import Database
from xds_server.storage.errors import translate_db_errors

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 64

# One member at a time uses the batch connection, so one savepoint name serves them all. Emitted as plain
# SQL: SQLAlchemy's begin_nested() compiles a new SAVEPOINT/RELEASE statement for every member (about a
# tenth of a submission's transaction overhead); the statements are the same on SQLite and PostgreSQL.
_SAVEPOINT = "SAVEPOINT xds_member"
_RELEASE = "RELEASE SAVEPOINT xds_member"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT xds_member"


@dataclass(eq=False)
class _Batch:
    connection: Connection
    transaction: RootTransaction
    members: int = 0
    broken: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    error: XdsError | None = None


class _WriterLock:
    """Several server processes on one SQLite file (``serve --workers``): the batch leaders of all of them
    take turns on an advisory file lock (``flock`` on ``<database>.writer-lock``) before ``BEGIN IMMEDIATE``.
    Without it the waiting process sits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ...
    ms between tries and so wakes long after the other batch committed (a p99 of 430 ms with two workers);
    the lock is polled every millisecond or two. After ``busy_timeout`` the leader goes on to BEGIN
    IMMEDIATE anyway, which then waits or fails as it would without the lock (never a hang). Other writers
    (command-line tools, the feed) do not take it: SQLite's own lock still serialises them."""

    def __init__(self, path: str, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None  # open while held (closing it is what releases the lock)

    @classmethod
    def for_database(cls, database: Database) -> _WriterLock | None:
        url = database.engine.url
        if not database.is_sqlite or url.database in (None, "", ":memory:"):
            return None
        return cls(f"{url.database}.writer-lock", database.sqlite_busy_timeout_ms / 1000)

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._timeout
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    return  # SQLite's busy timeout decides from here
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
            else:
                self._fd = fd
                return

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the flock


class GroupCommit:
    """Write transactions on ``database`` committed in groups (see the module docstring)."""

    def __init__(self, database: Database, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.database = database
        self.max_batch = max_batch
        self._state = threading.Condition()
        self._busy = False  # a request (or a commit) is using the batch connection
        self._waiting = 0  # requests waiting to use it
        self._batch: _Batch | None = None
        self._inside = threading.local()
        self._writer_lock = _WriterLock.for_database(database)
        #: batches committed and members acknowledged (for the benchmarks and tests)
        self.batches = 0
        self.members = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for the batch connection (they will join the current batch)."""
        with self._state:
            return self._waiting

    @property
    def busy(self) -> bool:
        """A request or a commit is using the batch connection."""
        with self._state:
            return self._busy

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction for the caller: a savepoint in the current batch, durable when the block
        has ended and this returns. Database errors leave as ``XdsError``."""
        if getattr(self._inside, "active", False):
            raise RuntimeError("a write transaction is already open in this thread")
        self._acquire()
        self._inside.active = True
        try:
            batch = self._current_batch()
        except BaseException:
            self._inside.active = False
            self._release()
            raise
        try:
            yield from self._member(batch)
        finally:
            self._inside.active = False

    def _member(self, batch: _Batch) -> Iterator[Connection]:
        try:
            with translate_db_errors():
                batch.connection.exec_driver_sql(_SAVEPOINT)
        except BaseException:
            batch.broken = True
            self._finish(batch)
            raise
        try:
            with translate_db_errors():
                yield batch.connection
        except BaseException:
            self._rollback_savepoint(batch)
            self._finish(batch)
            raise
        try:
            with translate_db_errors():
                batch.connection.exec_driver_sql(_RELEASE)
        except BaseException:
            self._rollback_savepoint(batch)
            self._finish(batch)
            raise
        batch.members += 1
        self._finish(batch)
        batch.done.wait()
        if batch.error is not None:
            raise XdsError(batch.error.issues) from batch.error

    # -- the connection, one user at a time ------------------------------------------------------------

    def _acquire(self) -> None:
        with self._state:
            self._waiting += 1
            while self._busy:
                self._state.wait()
            self._waiting -= 1
            self._busy = True

    def _release(self) -> None:
        with self._state:
            self._busy = False
            self._state.notify()

    def _current_batch(self) -> _Batch:
        if self._batch is None:
            if self._writer_lock is not None:
                self._writer_lock.acquire()
            try:
                with translate_db_errors():
                    connection = self.database.engine.connect()
                    try:
                        transaction = connection.begin()
                    except BaseException:
                        connection.close()
                        raise
            except BaseException:
                if self._writer_lock is not None:
                    self._writer_lock.release()
                raise
            self._batch = _Batch(connection, transaction)
        return self._batch

    @staticmethod
    def _abandon(batch: _Batch) -> None:
        """After a failed COMMIT: roll back what is left, or drop the connection if even that fails."""
        try:
            if batch.transaction.is_active:
                batch.transaction.rollback()
            else:
                batch.connection.exec_driver_sql("ROLLBACK")
        except Exception:
            batch.connection.invalidate()

    def _rollback_savepoint(self, batch: _Batch) -> None:
        try:
            with translate_db_errors():
                batch.connection.exec_driver_sql(_ROLLBACK_TO)
                batch.connection.exec_driver_sql(_RELEASE)
        except Exception:
            log.exception("rolling back a savepoint failed: the whole batch is abandoned")
            batch.broken = True

    def _finish(self, batch: _Batch) -> None:
        """Called by the connection's user when its block is over: commit the batch if nobody else is
        about to join it, else hand the connection to the next writer."""
        with self._state:
            hand_over = self._waiting > 0 and batch.members < self.max_batch and not batch.broken
        if hand_over:
            self._release()
            return
        self._batch = None
        try:
            self._close(batch)
        finally:
            self._release()

    def _close(self, batch: _Batch) -> None:
        try:
            with translate_db_errors():
                if batch.broken or batch.members == 0:
                    batch.transaction.rollback()
                else:
                    batch.transaction.commit()
        except Exception as error:
            log.exception("group commit failed: %d request(s) of the batch fail", batch.members)
            batch.error = (
                error
                if isinstance(error, XdsError)
                else XdsError.single(ErrorCode.REGISTRY_ERROR, "the registry could not commit")
            )
            self._abandon(batch)
        finally:
            if batch.broken and batch.members and batch.error is None:
                batch.error = XdsError.single(
                    ErrorCode.REGISTRY_ERROR, "the registry abandoned this transaction; nothing was written"
                )
            try:
                batch.connection.close()
            except Exception:
                log.exception("closing the batch connection failed")
            if self._writer_lock is not None:
                self._writer_lock.release()
            if batch.error is None:
                self.batches += 1
                self.members += batch.members
            batch.done.set()
