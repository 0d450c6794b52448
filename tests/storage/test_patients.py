"""SqlPatientDirectory against a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.ports import PatientState
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory

from .builders import OTHER_PATIENT, PATIENT


class StepClock:
    """A fixed clock that moves one minute each time it is read."""

    def __init__(self) -> None:
        self.current = datetime(2024, 1, 2, 10, 30, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(minutes=1)
        return self.current


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    with database.transaction() as connection:
        yield connection


@pytest.fixture
def patients(connection: Connection) -> SqlPatientDirectory:
    return SqlPatientDirectory(connection, StepClock())


def timestamps(connection: Connection, patient_id: str) -> tuple[datetime, datetime]:
    row = connection.execute(
        select(tables.patient.c.created_at, tables.patient.c.updated_at).where(
            tables.patient.c.patient_id == patient_id
        )
    ).one()
    # SQLite hands back naive datetimes; compare instants in UTC.
    created, updated = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in row)
    return created, updated


class TestAdd:
    def test_added_patient_is_known(self, patients: SqlPatientDirectory) -> None:
        patients.add(PATIENT, PatientState.CREATED)
        assert patients.get(PATIENT) is PatientState.CREATED
        assert patients.get(OTHER_PATIENT) is None

    def test_adding_again_changes_state_keeps_creation_time(
        self, patients: SqlPatientDirectory, connection: Connection
    ) -> None:
        patients.add(PATIENT, PatientState.CREATED)
        created, _ = timestamps(connection, PATIENT)
        patients.add(PATIENT, PatientState.ACTIVATED)
        assert patients.get(PATIENT) is PatientState.ACTIVATED
        assert timestamps(connection, PATIENT)[0] == created
        assert timestamps(connection, PATIENT)[1] > created

    def test_birth_date(self, patients: SqlPatientDirectory) -> None:
        patients.add(PATIENT, PatientState.CREATED, birth_date=date(2010, 5, 17))
        patients.add(OTHER_PATIENT, PatientState.CREATED)
        assert patients.birth_date(PATIENT) == date(2010, 5, 17)
        assert patients.birth_date(OTHER_PATIENT) is None
        assert patients.birth_date("unknown") is None

    def test_adding_again_without_birth_date_keeps_it(self, patients: SqlPatientDirectory) -> None:
        patients.add(PATIENT, PatientState.CREATED, birth_date=date(2010, 5, 17))
        patients.add(PATIENT, PatientState.ACTIVATED)
        assert patients.birth_date(PATIENT) == date(2010, 5, 17)
        patients.add(PATIENT, PatientState.ACTIVATED, birth_date=date(2011, 1, 1))
        assert patients.birth_date(PATIENT) == date(2011, 1, 1)


class TestSetState:
    def test_changes_state_and_update_time(
        self, patients: SqlPatientDirectory, connection: Connection
    ) -> None:
        patients.add(PATIENT, PatientState.ACTIVATED)
        before = timestamps(connection, PATIENT)
        patients.set_state(PATIENT, PatientState.CLOSED)
        assert patients.get(PATIENT) is PatientState.CLOSED
        after = timestamps(connection, PATIENT)
        assert after[0] == before[0] and after[1] > before[1]

    def test_unknown_patient(self, patients: SqlPatientDirectory) -> None:
        with pytest.raises(XdsError) as raised:
            patients.set_state(PATIENT, PatientState.CLOSED)
        assert [i.code for i in raised.value.issues] == [ErrorCode.UNKNOWN_PATIENT_ID]


class TestList:
    def test_every_patient_by_id(self, patients: SqlPatientDirectory) -> None:
        patients.add(OTHER_PATIENT, PatientState.OPPOSED)
        patients.add(PATIENT, PatientState.ACTIVATED)
        assert list(patients.list()) == [
            (PATIENT, PatientState.ACTIVATED),
            (OTHER_PATIENT, PatientState.OPPOSED),
        ]

    def test_empty(self, patients: SqlPatientDirectory) -> None:
        assert list(patients.list()) == []


class TestDurability:
    def test_patients_survive_the_transaction(self, database: Database) -> None:
        with database.transaction() as connection:
            SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
        with database.transaction(readonly=True) as connection:
            assert SqlPatientDirectory(connection).get(PATIENT) is PatientState.ACTIVATED
