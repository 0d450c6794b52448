"""``xds-server bench generate`` writes exactly what the register path writes: the same synthetic records are
registered submission by submission through the ITI-42 use case (validation under the ``dmp`` profile,
planning, ``SqlRegistryStore``) and rendered into rows by the generator (templates of the encoder's XML, the
planner's decisions applied by hand) then bulk-loaded by its writer, and every table is compared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from xds_server.core.metadata import Association, DocumentEntry, Folder
from xds_server.core.ports import PatientState
from xds_server.core.usecases.register import dtm_now, register
from xds_server.core.vocabulary import AssociationType, Status
from xds_server.ebxml.codec import encode_object_xml
from xds_server.ebxml.encoding import child_ids, generated_id
from xds_server.generate import RecordGenerator, RowRenderer, record_ids
from xds_server.storage.bulk_load import BulkRows, BulkWriter
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


def _generator() -> RecordGenerator:
    return RecordGenerator(load_profile("dmp"), REPOSITORY, NOW, seed=SEED, folder_rate=0.7, replace_rate=0.4)


def _records(count: int = 6, documents: int = 9) -> list[Any]:
    generator = _generator()
    return [generator.record(index, documents) for index in range(count)]


def _renderer(generator: RecordGenerator) -> RowRenderer:
    return RowRenderer(generator, dtm_now(FixedClock()), encode_object_xml, child_ids, SEED)


def _bulk_load(database: Database, first: int, count: int, documents: int = 9, batch: int = 20) -> None:
    """The generator's path: facts rendered into rows, written by the bulk writer in batches."""
    generator = _generator()
    renderer = _renderer(generator)
    writer = BulkWriter(database)
    rows: BulkRows = writer.open()
    try:
        for index in range(first, first + count):
            renderer.render(generator.facts(index, documents), rows)
            if rows.objects >= batch:
                writer.write(rows)
                rows = writer.rows()
        writer.write(rows)
    except BaseException:
        writer.close(commit=False)
        raise
    writer.close(commit=True)


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


def _indexes(database: Database) -> set[tuple[str, str]]:
    """Every index of the database with its definition."""
    with database.transaction(readonly=True) as connection:
        if database.is_sqlite:
            found = connection.exec_driver_sql(
                "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index'"
            )
        else:
            found = connection.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            )
        return {(str(name), str(definition)) for name, definition in found}


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
            ids = record_ids(record.patient_id, SEED)
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
        assert any(
            "MASQUE_PS" in row[2] or "INVISIBLE_PATIENT" in row[2] for row in expected["document_code"]
        )
        submitted = {o.entry_uuid for r in records for s in r.submissions for o in s.objects()}
        made = [row for row in expected["association"] if row[0] not in submitted]
        assert made, "no replacement joined a Folder: the planner's own memberships are not compared"
        indexes = _indexes(database)
        _empty(database)

        # Into an empty registry (indexes dropped and rebuilt), then more into a non-empty one (kept).
        _bulk_load(database, 0, 4)
        _bulk_load(database, 4, 2)
        got = _snapshot(database)
        for table in expected:
            assert got[table] == expected[table], table
        assert _indexes(database) == indexes

    def test_a_failed_load_leaves_the_registry_as_it_was(self, database: Database) -> None:
        _bulk_load(database, 0, 2)
        before, indexes = _snapshot(database), _indexes(database)
        generator = _generator()
        renderer = _renderer(generator)
        writer = BulkWriter(database, rebuild_indexes=True)
        rows = writer.open()
        renderer.render(generator.facts(5, 9), rows)
        writer.write(rows)
        rows = writer.rows()
        renderer.render(generator.facts(0, 9), rows)  # already there: the primary keys refuse it
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            writer.write(rows)
        writer.close(commit=False)
        assert _snapshot(database) == before
        assert _indexes(database) == indexes

    def test_the_records_hold_what_the_benchmarks_need(self) -> None:
        objects = [
            obj for record in _records() for submission in record.submissions for obj in submission.objects()
        ]
        documents = [o for o in objects if isinstance(o, DocumentEntry)]
        assert len(documents) == 6 * 9
        assert any(isinstance(o, Folder) for o in objects)
        assert any(
            isinstance(o, Association) and o.association_type == AssociationType.REPLACE.value
            for o in objects
        )
        masks = {c.code for d in documents for c in d.confidentiality_codes}
        assert masks & {"MASQUE_PS", "INVISIBLE_PATIENT"}
        assert all(d.patient_id and d.patient_id.endswith("&1.2.250.1.213.1.4.8&ISO^NH") for d in documents)


def test_child_ids_are_the_encoders_ids() -> None:
    for owner in ("urn:uuid:5e7b1d2c-0000-4000-8000-000000000001", "x", "Document01"):
        expected = [generated_id(owner, "classification", i) for i in range(1, 13)]
        expected += [generated_id(owner, "external-identifier", i) for i in range(1, 4)]
        assert child_ids(owner, 12, 3) == expected
