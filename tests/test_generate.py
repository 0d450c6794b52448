"""``xds-server bench generate`` writes exactly what the register path writes: the same synthetic records are
registered submission by submission through the ITI-42 use case (validation under the ``dmp`` profile,
planning, ``SqlRegistryStore``) and bulk-loaded by the generator's writer, and every table is compared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from xds_server.core.metadata import Association, DocumentEntry, Folder
from xds_server.core.ports import PatientState
from xds_server.core.usecases.register import dtm_now, register
from xds_server.core.vocabulary import AssociationType, Status
from xds_server.ebxml.codec import encode_object_xml
from xds_server.generate import RecordGenerator, final_objects, record_ids
from xds_server.storage.bulk_load import BulkLoader
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.registry import INSERT_ORDER, SqlRegistryStore
from xds_server.storage.tables import patient
from xds_server.terminology import load_profile

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
REPOSITORY = "1.2.250.1.999.1.1.1"
SEED = 11


class FixedClock:
    def now(self) -> datetime:
        return NOW


def _records(count: int = 6, documents: int = 9) -> list[Any]:
    generator = RecordGenerator(
        load_profile("dmp"), REPOSITORY, NOW, seed=SEED, folder_rate=0.7, replace_rate=0.4
    )
    return [generator.record(index, documents) for index in range(count)]


def _snapshot(database: Database) -> dict[str, Any]:
    """Every row of the registry tables (seq replaced by the insertion order it gives)."""
    tables: dict[str, Any] = {}
    with database.transaction(readonly=True) as connection:
        for table in INSERT_ORDER:
            keys = [c.key for c in table.columns if c.key not in ("seq", "id")]
            rows = connection.execute(select(*(table.c[k] for k in keys))).all()
            tables[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
        order = connection.execute(select(INSERT_ORDER[0].c.entry_uuid).order_by(INSERT_ORDER[0].c.seq))
        tables["insertion order"] = [value for (value,) in order]
        states = connection.execute(select(patient.c.patient_id, patient.c.state, patient.c.birth_date))
        tables["patient"] = sorted(tuple(str(v) for v in row) for row in states)
    return tables


def _empty(database: Database) -> None:
    with database.transaction() as connection:
        for table in reversed(INSERT_ORDER):
            connection.execute(table.delete())
        connection.execute(patient.delete())


class TestSameAsTheRegisterPath:
    def test_every_table_matches(self, database: Database) -> None:
        profile = load_profile("dmp")
        records = _records()
        for record in records:
            with database.transaction() as connection:
                SqlPatientDirectory(connection).add(
                    record.patient_id, PatientState.ACTIVATED, record.birth_date
                )
            ids = record_ids(record, SEED)
            for submission in record.submissions:
                with database.transaction() as connection:
                    register(
                        submission,
                        store=SqlRegistryStore(connection, encode_object_xml),
                        profile=profile,
                        clock=FixedClock(),
                        ids=ids,
                    )
        expected = _snapshot(database)
        assert len(expected["document_entry"]) == 6 * 9
        assert any(row[2] == Status.DEPRECATED.value for row in expected["document_entry"])
        _empty(database)

        loader = BulkLoader(encode_object_xml)
        now = dtm_now(FixedClock())
        for record in records:
            loader.add_patient(record.patient_id, PatientState.ACTIVATED, record.birth_date)
            loader.add_encoded(final_objects(record, profile, now, encode_object_xml, SEED))
        with database.transaction() as connection:
            loader.flush(connection)
        assert _snapshot(database) == expected

    def test_the_records_hold_what_the_benchmarks_need(self) -> None:
        profile = load_profile("dmp")
        objects = [
            obj
            for record in _records()
            for obj, _ in final_objects(record, profile, "20261201100000", encode_object_xml, SEED)
        ]
        documents = [o for o in objects if isinstance(o, DocumentEntry)]
        assert len(documents) == 6 * 9
        assert any(isinstance(o, Folder) for o in objects)
        assert any(
            isinstance(o, Association) and o.association_type == AssociationType.REPLACE.value
            for o in objects
        )
        assert any(d.status == Status.DEPRECATED.value for d in documents)
        masks = {c.code for d in documents for c in d.confidentiality_codes}
        assert masks & {"MASQUE_PS", "INVISIBLE_PATIENT"} or len(documents) < 100
        assert all(d.patient_id and d.patient_id.endswith("&1.2.250.1.213.1.4.8&ISO^NH") for d in documents)
