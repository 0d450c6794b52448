"""Bulk loading of registry objects that are already final (ids, lids, versions, statuses decided): the
``xds-server bench generate`` writer.

Theory of operation. The register path writes one submission per transaction (``SqlRegistryStore``); a data
generator has millions of objects to write and nobody to answer in between, so this writer keeps the same
row builder (``registry.ObjectRows``: the same rows, column for column, as ``add_objects``) and the same
canonical XML (the injected encoder), but buffers rows across many submissions and writes them in large
batches inside one transaction per ``flush``:

- SQLite: ``executemany`` per table (bulk.BulkInserter), ``seq`` counted from ``max(seq) + 1`` under the
  write lock of the caller's transaction;
- PostgreSQL: ``COPY ... FROM STDIN`` per table (the fastest path into PostgreSQL), ``seq`` values drawn from
  ``registry_object_seq`` in one query per flush.

Patients are upserted like ``patients add`` does (state, birth date). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, text

from xds_server.core.metadata import AnyObject
from xds_server.core.ports import PatientState
from xds_server.storage.bulk import BulkInserter
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.registry import INSERT_ORDER, ObjectRows, XmlEncoder
from xds_server.storage.tables import patient, registry_object

__all__ = ["BulkLoader"]


class BulkLoader:
    """Buffers final registry objects and patients; ``flush`` writes them in the caller's transaction."""

    def __init__(self, encode_xml: XmlEncoder) -> None:
        self._encode_xml = encode_xml
        self._objects: list[tuple[AnyObject, str]] = []
        self._patients: list[dict[str, Any]] = []

    @property
    def pending(self) -> int:
        return len(self._objects)

    def add_objects(self, objects: Sequence[AnyObject]) -> None:
        self._objects.extend((obj, self._encode_xml(obj)) for obj in objects)

    def add_encoded(self, objects: Sequence[tuple[AnyObject, str]]) -> None:
        """Objects with their XML already encoded (by a worker process)."""
        self._objects.extend(objects)

    def add_patient(self, patient_id: str, state: PatientState, birth_date: date | None) -> None:
        now = datetime.now(UTC)
        self._patients.append(
            {
                "patient_id": patient_id,
                "state": state.value,
                "birth_date": birth_date,
                "created_at": now,
                "updated_at": now,
            }
        )

    def flush(self, connection: Connection) -> int:
        """Write everything buffered; the number of registry objects written."""
        objects, self._objects = self._objects, []
        patients, self._patients = self._patients, []
        postgres = connection.dialect.name == "postgresql"
        with translate_db_errors():
            if patients:
                connection.execute(patient.insert(), patients)
            if not objects:
                return 0
            rows = ObjectRows()
            for (obj, xml), seq in zip(objects, self._seqs(connection, len(objects), postgres), strict=True):
                rows.add(obj, seq, xml)
            if postgres:
                _copy(connection, rows)
            else:
                BulkInserter(connection.dialect, INSERT_ORDER).insert(
                    connection, [(t.name, rows.by_table[t.name]) for t in INSERT_ORDER]
                )
        return len(objects)

    @staticmethod
    def _seqs(connection: Connection, count: int, postgres: bool) -> list[int]:
        if postgres:
            result = connection.execute(
                text("SELECT nextval('registry_object_seq') FROM generate_series(1, :n)"), {"n": count}
            )
            return [int(value) for (value,) in result]
        base = int(connection.execute(text("SELECT coalesce(max(seq), 0) FROM registry_object")).scalar_one())
        return list(range(base + 1, base + count + 1))


def _copy(connection: Connection, rows: ObjectRows) -> None:
    """PostgreSQL: one COPY per table, in foreign-key order, on the driver connection of the transaction."""
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor:
        for table in INSERT_ORDER:
            batch = rows.by_table[table.name]
            if not batch:
                continue
            keys = [c.key for c in table.columns if not (c.primary_key and c.autoincrement is True)]
            if table is registry_object:
                keys = [k for k in keys if k in batch[0]]
            columns = ", ".join(f'"{k}"' for k in keys)
            with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                for row in batch:
                    copy.write_row(tuple(row[k] for k in keys))
