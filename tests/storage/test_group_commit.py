"""Group commit (storage/group_commit.py): concurrent write transactions share one commit, each in its own
savepoint; one member's failure never touches the others; nobody returns before the batch is durable.

The batches are made deterministic by holding the first member inside its block until the others are queued
behind it (``GroupCommit.waiting``), so every test knows which requests share a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, event, exc

from xds_server.core.errors import XdsError
from xds_server.core.ports import PatientState
from xds_server.storage.database import Database
from xds_server.storage.group_commit import GroupCommit
from xds_server.storage.patients import SqlPatientDirectory


def _known(database: Database) -> set[str]:
    with database.transaction(readonly=True) as connection:
        return {patient for patient, _ in SqlPatientDirectory(connection).list()}


def _add(connection: Connection, patient: str) -> None:
    SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED, None)


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the other requests never queued")
        time.sleep(0.001)


class _Requests:
    """Run ``bodies`` as concurrent write transactions; the first holds the connection until all the others
    wait for it, so they all join its batch."""

    def __init__(self, group: GroupCommit, bodies: list[Callable[[Connection], None]]) -> None:
        self.group = group
        self.bodies = bodies
        self.outcomes: list[str | BaseException] = ["pending"] * len(bodies)

    def _run(self, index: int) -> None:
        try:
            with self.group.transaction() as connection:
                if index == 0:
                    _wait_for(lambda: self.group.waiting == len(self.bodies) - 1)
                self.bodies[index](connection)
            self.outcomes[index] = "ok"
        except BaseException as error:
            self.outcomes[index] = error

    def run(self) -> list[str | BaseException]:
        first = threading.Thread(target=self._run, args=(0,))
        first.start()
        _wait_for(lambda: self.group.busy)
        others = [threading.Thread(target=self._run, args=(i,)) for i in range(1, len(self.bodies))]
        for thread in others:
            thread.start()
        for thread in [first, *others]:
            thread.join(30)
        return self.outcomes


def _adding(patient: str) -> Callable[[Connection], None]:
    return lambda connection: _add(connection, patient)


def _failing(patient: str) -> Callable[[Connection], None]:
    def body(connection: Connection) -> None:
        _add(connection, patient)  # written, then rolled back with its savepoint
        raise ValueError("this request fails")

    return body


class TestBatches:
    def test_concurrent_requests_share_one_commit(self, database: Database) -> None:
        group = GroupCommit(database)
        outcomes = _Requests(group, [_adding(f"P{i}^^^&1.2.3&ISO") for i in range(4)]).run()
        assert outcomes == ["ok"] * 4
        assert (group.batches, group.members) == (1, 4)
        assert _known(database) == {f"P{i}^^^&1.2.3&ISO" for i in range(4)}

    def test_one_failure_leaves_the_others_of_its_batch_committed(self, database: Database) -> None:
        group = GroupCommit(database)
        bodies = [_adding("A^^^&1.2.3&ISO"), _failing("B^^^&1.2.3&ISO"), _adding("C^^^&1.2.3&ISO")]
        outcomes = _Requests(group, bodies).run()
        assert outcomes[0] == "ok" and outcomes[2] == "ok"
        assert isinstance(outcomes[1], ValueError)
        assert (group.batches, group.members) == (1, 2)
        assert _known(database) == {"A^^^&1.2.3&ISO", "C^^^&1.2.3&ISO"}

    def test_a_database_error_in_one_member_is_its_own(self, database: Database) -> None:
        group = GroupCommit(database)

        def duplicate(connection: Connection) -> None:
            _add(connection, "D^^^&1.2.3&ISO")
            connection.exec_driver_sql("INSERT INTO patient (patient_id) VALUES (NULL)")  # NOT NULL

        outcomes = _Requests(group, [_adding("A^^^&1.2.3&ISO"), duplicate, _adding("C^^^&1.2.3&ISO")]).run()
        assert outcomes[0] == "ok" and outcomes[2] == "ok"
        assert isinstance(outcomes[1], XdsError)
        assert _known(database) == {"A^^^&1.2.3&ISO", "C^^^&1.2.3&ISO"}

    def test_a_failed_commit_fails_every_member_and_writes_nothing(self, database: Database) -> None:
        group = GroupCommit(database)

        def refuse(_connection: object) -> None:
            raise exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

        event.listen(database.engine, "commit", refuse)
        try:
            outcomes = _Requests(group, [_adding(f"P{i}^^^&1.2.3&ISO") for i in range(3)]).run()
        finally:
            event.remove(database.engine, "commit", refuse)
        assert all(isinstance(outcome, XdsError) for outcome in outcomes), outcomes
        assert group.members == 0
        assert _known(database) == set()

    def test_a_lone_request_commits_at_once(self, database: Database) -> None:
        group = GroupCommit(database)
        with group.transaction() as connection:
            _add(connection, "A^^^&1.2.3&ISO")
        assert _known(database) == {"A^^^&1.2.3&ISO"}  # durable before transaction() returned
        assert (group.batches, group.members) == (1, 1)

    def test_batches_are_capped(self, database: Database) -> None:
        group = GroupCommit(database, max_batch=2)
        outcomes = _Requests(group, [_adding(f"P{i}^^^&1.2.3&ISO") for i in range(5)]).run()
        assert outcomes == ["ok"] * 5
        assert group.batches >= 3
        assert len(_known(database)) == 5

    def test_a_nested_write_transaction_is_refused(self, database: Database) -> None:
        group = GroupCommit(database)
        with pytest.raises(RuntimeError, match="already open"), group.transaction(), group.transaction():
            pass
        with group.transaction() as connection:  # the group is usable again
            _add(connection, "A^^^&1.2.3&ISO")
        assert _known(database) == {"A^^^&1.2.3&ISO"}
