"""Bulk loading of registry rows that are already final (the ``xds-server bench generate`` writer).

Theory of operation. The register path writes one submission per transaction (``SqlRegistryStore``); a data
generator has millions of objects to write and nobody to answer in between. ``BulkRows`` receives the
stored values of each object (``generate.RowSink``: what ``registry.ObjectRows`` would derive from a model
object, without the object) as plain tuples per table; ``BulkWriter`` writes batches of them in ONE
transaction for the whole load:

- SQLite: the rollback journal (``journal_mode=DELETE``) instead of WAL and ``synchronous=OFF`` for the
  load. In a database that grows by appending, the journal only records the few pages that existed
  before, so the load is written about once (WAL writes everything twice), and it is still atomic: a load
  that fails or is interrupted, even by a crash, leaves the database as it was. Not durable until the end
  (the last commit flushes the file, then the database is put back in WAL mode). Rows go in
  with the sqlite3 module's ``executemany``.
- PostgreSQL: ``COPY ... FROM STDIN`` per table, ``seq`` values drawn from ``registry_object_seq`` in one
  block (the tables are locked for the load), the sequence moved past them at the end; the XML is
  compressed with lz4 where the server has it (session setting; a third less server CPU than pglz).
- Secondary indexes (the plain and unique ``CREATE INDEX`` ones, not those of primary keys and unique
  constraints) are dropped at the start and created again, exactly as the database had them, before the
  commit: building an index once from sorted rows is cheaper than updating it per row. Worth it when the
  load is large next to what the tables hold (``rebuild_indexes``). On SQLite those of ``registry_object``
  stay: each build would scan that table, XML included.

The writer holds the database to itself: a server must not be using it (on SQLite, the journal mode cannot
change while another connection is open: the writer then stays in WAL, correct and slower). Every call runs
on the thread that called ``open`` (sqlite3 connections belong to their thread).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import Status
from xds_server.storage.database import Database
from xds_server.storage.registry import CONFIDENTIALITY_CODE, INSERT_ORDER
from xds_server.storage.tables import patient

__all__ = ["COLUMNS", "BulkRows", "BulkWriter"]

_APPROVED = Status.APPROVED.value

#: The tuple layout of each table's rows in ``BulkRows`` (the writer checks it against tables.py).
COLUMNS: dict[str, tuple[str, ...]] = {
    "patient": ("patient_id", "state", "birth_date", "created_at", "updated_at"),
    "registry_object": (
        "entry_uuid", "kind", "logical_id", "version", "status", "patient_id", "unique_id", "xml", "seq",
    ),
    "document_entry": (
        "entry_uuid", "patient_id", "status", "object_type", "unique_id", "logical_id", "class_code",
        "format_code", "healthcare_facility_type_code", "practice_setting_code", "type_code", "creation_time",
        "service_start_time", "service_stop_time", "hash", "size", "repository_unique_id", "mime_type",
        "content_sha256",
    ),
    "submission_set": (
        "entry_uuid", "patient_id", "status", "unique_id", "source_id", "submission_time",
        "content_type_code",
    ),
    "folder": ("entry_uuid", "patient_id", "status", "unique_id", "logical_id", "last_update_time"),
    "association": ("entry_uuid", "association_type", "source_uuid", "target_uuid", "status"),
    "author_person": ("entry_uuid", "person"),
    "document_code": ("entry_uuid", "attribute", "code_key"),
    "folder_code": ("entry_uuid", "code_key"),
}  # fmt: skip
#: Parents before children (foreign keys).
_ORDER = ("patient", *(t.name for t in INSERT_ORDER if t.name in COLUMNS))
_REGISTRY_TABLES = tuple(t.name for t in INSERT_ORDER)


class BulkRows:
    """One batch of rows, per table, in ``COLUMNS`` order; ``seq`` continues from ``first_seq``. Implements
    ``generate.RowSink``: every object is a first version (lid = id, version 1) and Approved unless said."""

    def __init__(self, seqs: itertools.count[int]) -> None:
        self._seqs = seqs
        self.objects = 0
        self.tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _ORDER}
        self._patient = self.tables["patient"].append
        self._object = self.tables["registry_object"].append
        self._document = self.tables["document_entry"].append
        self._submission_set = self.tables["submission_set"].append
        self._folder = self.tables["folder"].append
        self._association = self.tables["association"].append
        self._author = self.tables["author_person"].append
        self._code = self.tables["document_code"].append
        self._folder_code = self.tables["folder_code"].append
        self._now = datetime.now(UTC)

    def patient(self, patient_id: str, birth_date: date) -> None:
        self._patient((patient_id, PatientState.ACTIVATED.value, birth_date, self._now, self._now))

    def document_entry(
        self,
        entry_uuid: str,
        status: str,
        patient_id: str,
        unique_id: str,
        object_type: str,
        codes: Sequence[str],
        creation_time: str,
        service_start_time: str,
        service_stop_time: str,
        hash: str,
        size: int,
        repository_unique_id: str,
        mime_type: str,
        xml: str,
    ) -> None:
        self.objects += 1
        self._object(
            (entry_uuid, "DocumentEntry", entry_uuid, 1, status, patient_id, unique_id, xml, next(self._seqs))
        )
        # content_sha256 None: the generated blobs are keyed by SHA-1 (read by it; `blobs rekey` moves them)
        self._document(
            (entry_uuid, patient_id, status, object_type, unique_id, entry_uuid, *codes, creation_time,
             service_start_time, service_stop_time, hash, size, repository_unique_id, mime_type, None)
        )  # fmt: skip

    def confidentiality_code(self, entry_uuid: str, code_key: str) -> None:
        self._code((entry_uuid, CONFIDENTIALITY_CODE, code_key))

    def author(self, entry_uuid: str, person: str) -> None:
        self._author((entry_uuid, person))

    def submission_set(
        self,
        entry_uuid: str,
        patient_id: str,
        unique_id: str,
        source_id: str,
        submission_time: str,
        content_type_code: str,
        xml: str,
    ) -> None:
        self.objects += 1
        self._object(
            (
                entry_uuid,
                "SubmissionSet",
                entry_uuid,
                1,
                _APPROVED,
                patient_id,
                unique_id,
                xml,
                next(self._seqs),
            )
        )
        self._submission_set(
            (entry_uuid, patient_id, _APPROVED, unique_id, source_id, submission_time, content_type_code)
        )

    def folder(
        self, entry_uuid: str, patient_id: str, unique_id: str, last_update_time: str, xml: str
    ) -> None:
        self.objects += 1
        self._object(
            (entry_uuid, "Folder", entry_uuid, 1, _APPROVED, patient_id, unique_id, xml, next(self._seqs))
        )
        self._folder((entry_uuid, patient_id, _APPROVED, unique_id, entry_uuid, last_update_time))

    def folder_code(self, entry_uuid: str, code_key: str) -> None:
        self._folder_code((entry_uuid, code_key))

    def association(self, entry_uuid: str, association_type: str, source: str, target: str, xml: str) -> None:
        self.objects += 1
        self._object((entry_uuid, "Association", entry_uuid, 1, _APPROVED, None, None, xml, next(self._seqs)))
        self._association((entry_uuid, association_type, source, target, _APPROVED))


class BulkWriter:
    """One connection, one transaction for a whole load (see the module docstring)."""

    def __init__(self, database: Database, *, rebuild_indexes: bool | None = None) -> None:
        """``rebuild_indexes`` None: drop and rebuild the secondary indexes when the registry is empty."""
        self.database = database
        self.postgres = database.dialect_name == "postgresql"
        self.rebuild_indexes = rebuild_indexes
        self.journal_mode = "wal"
        self._indexes: list[tuple[str, str]] = []
        self._raw: Any = None
        self._first_seq = 0
        self.backend_pid: int | None = None  # PostgreSQL: the server process doing the load
        self._next_seq: itertools.count[int] | None = None
        _check_columns()
        dialect = database.engine.dialect
        # Values the sqlite3 module cannot store as SQLAlchemy would (dates): its bind processors.
        self._patient_processors = [
            patient.c[name].type.bind_processor(dialect) for name in COLUMNS["patient"]
        ]

    def open(self) -> BulkRows:
        """Begin the load: returns the first batch to fill (next batches: ``rows()``)."""
        self.database.dispose()  # no other connection of ours may keep the database open
        self._raw = self.database.engine.raw_connection()
        driver = self._raw.driver_connection
        if self.postgres:
            cursor = driver.cursor()
            self.backend_pid = int(cursor.execute("SELECT pg_backend_pid()").fetchone()[0])
            cursor.execute(
                "LOCK TABLE " + ", ".join(_REGISTRY_TABLES) + ", patient IN SHARE ROW EXCLUSIVE MODE"
            )
            # Session settings of the load: index builds sort in memory; the XML is compressed with lz4
            # where the server has it (a third less server CPU than pglz in a COPY of registry rows;
            # reading either is transparent).
            cursor.execute("SET maintenance_work_mem = '256MB'")
            lz4 = cursor.execute(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
            ).fetchone()
            if lz4 and lz4[0]:
                cursor.execute("SET default_toast_compression = lz4")
            empty = cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM registry_object)").fetchone()[0]
            self._first_seq = int(cursor.execute("SELECT nextval('registry_object_seq')").fetchone()[0])
        else:
            self.journal_mode = str(driver.execute("PRAGMA journal_mode = DELETE").fetchone()[0])
            driver.execute("PRAGMA synchronous = OFF")
            driver.execute("PRAGMA cache_size = -262144")  # 256 MiB: index builds sort in memory
            driver.execute("BEGIN IMMEDIATE")
            empty = driver.execute("SELECT NOT EXISTS (SELECT 1 FROM registry_object)").fetchone()[0]
            self._first_seq = 1 + int(
                driver.execute("SELECT coalesce(max(seq), 0) FROM registry_object").fetchone()[0]
            )
        rebuild = bool(empty) if self.rebuild_indexes is None else self.rebuild_indexes
        if rebuild:
            self._drop_indexes()
        self._next_seq = itertools.count(self._first_seq)
        return self.rows()

    def rows(self) -> BulkRows:
        assert self._next_seq is not None, "open() first"
        return BulkRows(self._next_seq)

    @property
    def rebuilt_indexes(self) -> int:
        return len(self._indexes)

    def write(self, rows: BulkRows) -> None:
        """Write one batch inside the load's transaction."""
        driver = self._raw.driver_connection
        tables = rows.tables
        if tables["patient"]:
            processors = self._patient_processors
            tables["patient"] = [
                tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in tables["patient"]
            ]
        if self.postgres:
            with driver.cursor() as cursor:
                for name in _ORDER:
                    if tables[name]:
                        columns = ", ".join(COLUMNS[name])
                        with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                            write_row = copy.write_row
                            for row in tables[name]:
                                write_row(row)
        else:
            for name in _ORDER:
                if tables[name]:
                    marks = ", ".join("?" * len(COLUMNS[name]))
                    driver.executemany(
                        f"INSERT INTO {name} ({', '.join(COLUMNS[name])}) VALUES ({marks})", tables[name]
                    )

    def close(self, *, commit: bool) -> None:
        """Rebuild the indexes and commit (``commit``), or roll everything back; either way the connection
        is closed (its settings were the load's) and SQLite is put back in WAL mode."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        driver = raw.driver_connection
        try:
            if commit:
                for _name, definition in self._indexes:
                    driver.execute(definition)
                if self.postgres:
                    assert self._next_seq is not None
                    last = next(self._next_seq) - 1
                    if last >= self._first_seq:
                        driver.execute("SELECT setval('registry_object_seq', %s)", (last,))
                driver.commit()
                if not self.postgres:
                    _fsync_database_file(driver)  # written with synchronous=OFF: durable from here
        finally:
            with contextlib.suppress(Exception):
                driver.rollback()  # nothing left to roll back after a commit
            if not self.postgres:
                with contextlib.suppress(Exception):
                    driver.execute("PRAGMA journal_mode = WAL")
            raw.invalidate()

    def _drop_indexes(self) -> None:
        driver = self._raw.driver_connection
        if self.postgres:
            found = driver.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i"
                " WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
                "  WHERE c.conindid = format('%%I.%%I', i.schemaname, i.indexname)::regclass)"
                " ORDER BY i.indexname",
                (list(_REGISTRY_TABLES),),
            ).fetchall()
        else:
            marks = ", ".join("?" * len(_REGISTRY_TABLES))
            found = driver.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                f" AND tbl_name IN ({marks}) ORDER BY name",
                _REGISTRY_TABLES,
            ).fetchall()
        self._indexes = [(str(name), str(definition)) for name, definition in found]
        if not self.postgres:
            # SQLite keeps the XML in registry_object's rows: building one of its indexes reads the whole
            # table again, so they are updated during the load instead (100 k entries, one run: 42 s in all,
            # 12 s after the load, against 54 s and 26 s when rebuilt). PostgreSQL moves the XML out of line.
            self._indexes = [(n, d) for n, d in self._indexes if "registry_object" not in d.split("(")[0]]
        for name, _definition in self._indexes:
            driver.execute(f'DROP INDEX "{name}"')


def _fsync_database_file(driver: Any) -> None:
    path = next((row[2] for row in driver.execute("PRAGMA database_list") if row[1] == "main"), "")
    if path:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_columns() -> None:
    """``COLUMNS`` must name every column the register path fills (a schema change shows up here)."""
    from xds_server.storage.tables import metadata

    for name, columns in COLUMNS.items():
        table = metadata.tables[name]
        filled = {c.key for c in table.columns if not (c.primary_key and c.autoincrement is True)}
        if name == "patient":
            filled = {c.key for c in table.columns if not c.nullable or c.key == "birth_date"}
        if set(columns) != filled:
            raise RuntimeError(
                f"bulk_load.COLUMNS[{name!r}] does not match the table: {sorted(filled ^ set(columns))}"
            )
