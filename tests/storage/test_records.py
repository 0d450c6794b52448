"""SqlRecordStore against a migrated database (SQLite; PostgreSQL when XDS_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.policy import RecordSettings
from xds_server.core.ports import PatientState
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

from .builders import OTHER_PATIENT, PATIENT

TODAY = date(2026, 11, 27)
DOCTOR = "810000000001"
OTHER = "810000000002"
PARENT = "2800575123456^^^&1.2.250.1.213.1.4.8&ISO"


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    with database.transaction() as connection:
        yield connection


@pytest.fixture
def store(connection: Connection) -> SqlRecordStore:
    patients = SqlPatientDirectory(connection)
    patients.add(PATIENT, PatientState.ACTIVATED, birth_date=date(2015, 3, 1))
    patients.add(OTHER_PATIENT, PatientState.CREATED)
    return SqlRecordStore(connection, FixedClock())


def load(store: SqlRecordStore, patient_id: str = PATIENT) -> RecordSettings:
    record = store.load(patient_id, TODAY)
    assert record is not None
    return record


class TestLoad:
    def test_unknown_patient_has_no_record(self, store: SqlRecordStore) -> None:
        assert store.load("nobody^^^&1.2.3&ISO", TODAY) is None

    def test_a_registered_patient_without_settings_has_the_defaults(self, store: SqlRecordStore) -> None:
        assert load(store, OTHER_PATIENT) == RecordSettings(OTHER_PATIENT, state=PatientState.CREATED)

    def test_state_birth_date_and_minor(self, store: SqlRecordStore) -> None:
        record = load(store)
        assert record.state is PatientState.ACTIVATED
        assert record.birth_date == date(2015, 3, 1)
        assert record.minor
        assert not store.load(PATIENT, date(2033, 3, 1)).minor  # type: ignore[union-attr]
        assert store.load(PATIENT, date(2033, 2, 28)).minor  # type: ignore[union-attr]

    @pytest.mark.parametrize("state", list(PatientState))
    def test_every_state_is_read_back(
        self, store: SqlRecordStore, connection: Connection, state: Any
    ) -> None:
        SqlPatientDirectory(connection).set_state(PATIENT, state)
        assert load(store).state is state

    def test_one_statement_per_load(
        self, store: SqlRecordStore, connection: Connection, database: Database
    ) -> None:
        store.authorize(PATIENT, DOCTOR)
        store.block(PATIENT, OTHER)
        store.add_representative(PATIENT, PARENT)
        store.set_settings(PATIENT, samu=False, medecin_traitant=DOCTOR)
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(database.engine, "before_cursor_execute", count)
        try:
            record = load(store)
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        assert len(statements) == 1
        assert record.authorised == {DOCTOR} and record.blocked == {OTHER}
        assert record.legal_representatives == {PARENT}

    def test_records_are_kept_apart(self, store: SqlRecordStore) -> None:
        store.authorize(PATIENT, DOCTOR)
        store.block(OTHER_PATIENT, DOCTOR)
        store.set_settings(OTHER_PATIENT, samu=False, administrator=OTHER)
        assert load(store).authorised == {DOCTOR} and not load(store).blocked
        assert load(store).samu_allowed and not load(store).administrators
        assert load(store, OTHER_PATIENT).blocked == {DOCTOR} and not load(store, OTHER_PATIENT).authorised


class TestProfessionals:
    def test_authorize_is_idempotent(self, store: SqlRecordStore, connection: Connection) -> None:
        store.authorize(PATIENT, DOCTOR)
        store.authorize(PATIENT, DOCTOR)
        store.authorize(PATIENT, OTHER)
        assert load(store).authorised == {DOCTOR, OTHER}
        rows = connection.execute(select(tables.patient_professional)).all()
        assert len(rows) == 2

    def test_block_and_unblock(self, store: SqlRecordStore) -> None:
        store.block(PATIENT, DOCTOR)
        assert load(store).blocked == {DOCTOR}
        assert store.unblock(PATIENT, DOCTOR)
        assert not load(store).blocked
        assert not store.unblock(PATIENT, DOCTOR)

    def test_block_and_consent_are_independent_relations(self, store: SqlRecordStore) -> None:
        store.authorize(PATIENT, DOCTOR)
        store.block(PATIENT, DOCTOR)
        record = load(store)
        assert DOCTOR in record.blocked and DOCTOR in record.authorised
        store.unblock(PATIENT, DOCTOR)
        assert load(store).authorised == {DOCTOR}

    def test_ids_are_stripped_and_empty_ones_refused(self, store: SqlRecordStore) -> None:
        store.authorize(PATIENT, f" {DOCTOR} ")
        assert load(store).authorised == {DOCTOR}
        with pytest.raises(XdsError):
            store.block(PATIENT, "  ")

    def test_created_at_comes_from_the_clock(self, store: SqlRecordStore, connection: Connection) -> None:
        store.authorize(PATIENT, DOCTOR)
        created = connection.execute(select(tables.patient_professional.c.created_at)).scalar_one()
        assert (created if created.tzinfo else created.replace(tzinfo=UTC)) == FixedClock().now()


class TestSettings:
    def test_emergency_settings(self, store: SqlRecordStore) -> None:
        store.set_settings(PATIENT, samu=False)
        assert not load(store).samu_allowed and load(store).break_glass_allowed
        store.set_settings(PATIENT, break_glass=False)
        assert not load(store).samu_allowed and not load(store).break_glass_allowed
        store.set_settings(PATIENT, samu=True)
        assert load(store).samu_allowed and not load(store).break_glass_allowed

    def test_medecin_traitant_set_replaced_and_removed(self, store: SqlRecordStore) -> None:
        store.set_settings(PATIENT, medecin_traitant=DOCTOR)
        assert load(store).medecin_traitant == DOCTOR
        store.set_settings(PATIENT, medecin_traitant=OTHER)
        assert load(store).medecin_traitant == OTHER
        assert load(store).administrator_doctors == {OTHER}
        store.set_settings(PATIENT, samu=False)  # other settings leave him
        assert load(store).medecin_traitant == OTHER
        store.set_settings(PATIENT, medecin_traitant="")
        assert load(store).medecin_traitant is None

    def test_administrators_accumulate_and_can_be_withdrawn(self, store: SqlRecordStore) -> None:
        store.set_settings(PATIENT, administrator=DOCTOR)
        store.set_settings(PATIENT, administrator=OTHER, break_glass=False)
        record = load(store)
        assert record.administrators == {DOCTOR, OTHER} and not record.break_glass_allowed
        assert store.revoke_administrator(PATIENT, DOCTOR)
        assert load(store).administrators == {OTHER}
        assert not store.revoke_administrator(PATIENT, DOCTOR)

    def test_no_change_is_harmless(self, store: SqlRecordStore) -> None:
        store.set_settings(PATIENT)
        assert load(store) == RecordSettings(
            PATIENT, state=PatientState.ACTIVATED, minor=True, birth_date=date(2015, 3, 1)
        )


class TestRepresentatives:
    def test_add_and_look_up_both_ways(self, store: SqlRecordStore) -> None:
        store.add_representative(PATIENT, PARENT)
        store.add_representative(PATIENT, PARENT)
        store.add_representative(OTHER_PATIENT, PARENT)
        assert load(store).legal_representatives == {PARENT}
        assert store.records_represented_by(PARENT) == {PATIENT, OTHER_PATIENT}
        assert store.records_represented_by(DOCTOR) == frozenset()

    def test_a_patient_is_not_his_own_representative(self, store: SqlRecordStore) -> None:
        with pytest.raises(XdsError):
            store.add_representative(PATIENT, PATIENT)


class TestUnknownPatient:
    @pytest.mark.parametrize(
        "write",
        [
            lambda s, p: s.authorize(p, DOCTOR),
            lambda s, p: s.block(p, DOCTOR),
            lambda s, p: s.unblock(p, DOCTOR),
            lambda s, p: s.set_settings(p, samu=False),
            lambda s, p: s.set_settings(p, administrator=DOCTOR),
            lambda s, p: s.set_settings(p),
            lambda s, p: s.add_representative(p, PARENT),
        ],
        ids=["authorize", "block", "unblock", "samu", "administrator", "nothing", "representative"],
    )
    def test_writes_refuse_an_unknown_patient(self, store: SqlRecordStore, write: Any) -> None:
        with pytest.raises(XdsError) as raised:
            write(store, "nobody^^^&1.2.3&ISO")
        assert raised.value.issues[0].code is ErrorCode.UNKNOWN_PATIENT_ID


class TestCommitted:
    def test_a_later_transaction_sees_the_settings(self, database: Database) -> None:
        with database.transaction() as connection:
            SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
            SqlRecordStore(connection).authorize(PATIENT, DOCTOR)
        with database.transaction(readonly=True) as connection:
            record = SqlRecordStore(connection).load(PATIENT, TODAY)
        assert record is not None and record.authorised == {DOCTOR}
