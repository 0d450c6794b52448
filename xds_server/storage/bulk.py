"""Bulk INSERTs on the driver connection: the registry's write hot path.

Theory of operation. A submission writes rows into up to eight tables. Through ``Connection.execute`` each
table costs one SQLAlchemy execution (~100 µs of Python) and, on PostgreSQL, one network round trip. Here
the INSERT statements are compiled from the Core tables once per dialect (the schema stays single-sourced in
tables.py) and run with the driver's ``executemany`` on the connection that SQLAlchemy already holds, inside
the transaction it already began:

- PostgreSQL (psycopg 3): every table's executemany goes into one pipeline, so a whole submission is one
  round trip; ``seq`` is ``nextval('registry_object_seq')`` inside the INSERT, rows executed in order.
- SQLite: plain ``executemany`` with positional parameters (the sqlite3 module's fast path); ``seq`` values
  are supplied by the caller (max + 1 under the single-writer lock).

Values must already be what the driver stores (str, int, None): these columns have no SQLAlchemy bind
processors on either dialect. Driver exceptions are re-raised as SQLAlchemy ``DBAPIError`` subclasses, so
``translate_db_errors`` classifies them exactly like errors from ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, exc
from sqlalchemy.engine import Dialect

from xds_server.storage.tables import registry_object, registry_object_seq

__all__ = ["BulkInserter", "Row"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    keys: tuple[str, ...]  # parameter order for positional paramstyles; empty for named ones


class BulkInserter:
    """Compiled INSERTs for ``tables`` on one dialect; ``insert`` runs them in the given order."""

    def __init__(self, dialect: Dialect, tables: Sequence[Table]) -> None:
        self._dialect = dialect
        self.seq_from_sequence = dialect.name == "postgresql"
        self._pipeline = dialect.name == "postgresql"
        self._compiled = {table.name: self._compile(table) for table in tables}

    def _compile(self, table: Table) -> _Compiled:
        # Autoincrement surrogate keys (author_person.id) are left to the database.
        keys = [c.key for c in table.columns if not (c.primary_key and c.autoincrement is True)]
        statement = table.insert()
        if table is registry_object and self.seq_from_sequence:
            keys.remove("seq")
            statement = statement.values(seq=registry_object_seq.next_value())
        compiled = statement.compile(dialect=self._dialect, column_keys=keys)
        positional = tuple(compiled.positiontup or ()) if self._dialect.positional else ()
        return _Compiled(compiled.string, positional)

    def insert(self, connection: Connection, batches: Sequence[tuple[str, Sequence[Row]]]) -> None:
        """Insert ``rows`` into each named table, in order, inside the connection's open transaction."""
        todo = [(self._compiled[name], rows) for name, rows in batches if rows]
        if not todo:
            return
        driver = connection.connection.driver_connection
        dbapi = self._dialect.loaded_dbapi
        current = todo[0][0]
        try:
            cursor = driver.cursor()  # type: ignore[union-attr]
            try:
                if self._pipeline:
                    with driver.pipeline():  # type: ignore[union-attr]
                        for current, rows in todo:
                            cursor.executemany(current.sql, rows)
                else:
                    for current, rows in todo:
                        cursor.executemany(current.sql, [tuple(row[k] for k in current.keys) for row in rows])
            finally:
                cursor.close()
        except dbapi.Error as error:
            raise exc.DBAPIError.instance(
                current.sql, None, error, dbapi.Error, dialect=self._dialect
            ) from error
