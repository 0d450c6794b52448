"""The database engine: one per process, built from a URL (SQLite file or PostgreSQL).

Theory of operation. The request owns the transaction (style.md habit 7): the composition root opens
``Database.transaction()``, builds the repositories on the connection it yields, runs the use case and lets
the block commit (or roll back on any exception). Repositories never commit.

SQLite is tuned for one writer and many readers on one file: WAL journal, ``synchronous=FULL`` (every
commit is flushed to the WAL before it returns: an acknowledged submission survives a power failure; the
cost of that flush is shared by the submissions of one group commit, storage/group_commit.py), foreign
keys on, a busy timeout. The sqlite3 driver's own transaction
handling is switched off and we emit BEGIN ourselves (the SQLAlchemy recipe): a write transaction starts with
``BEGIN IMMEDIATE``, so it takes the write lock up front and waits ``busy_timeout`` for it, instead of
starting as a reader and failing with SQLITE_BUSY when it upgrades after another writer committed. So every
plain ``transaction()`` serialises with the other writers: queries and retrieves should open
``transaction(readonly=True)``, a deferred BEGIN that never waits for or blocks a writer.

PostgreSQL goes through psycopg 3; ``postgresql://`` URLs are rewritten to that driver. An optional
``schema`` is put first on the ``search_path`` at session start (libpq ``options``), so tables, the
sequence and alembic_version all live there; tests use it to give each run its own schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from xds_server.storage.errors import translate_db_errors

__all__ = [
    "SQLITE_FILE_NAME",
    "Database",
    "configured_database",
    "normalise_url",
    "sqlite_url_for",
    "url_with_schema",
]

SQLITE_FILE_NAME = "registry.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for the write lock before XDSRegistryBusy
_READONLY = "xds_readonly"  # execution option read by the SQLite BEGIN hook
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def sqlite_url_for(data_dir: Path) -> str:
    """The URL of the embedded registry database inside ``data_dir``."""
    return f"sqlite:///{(Path(data_dir) / SQLITE_FILE_NAME).resolve()}"


def configured_database(
    url: str | None, data_dir: Path, schema: str | None = None, *, wal_autocheckpoint: int | None = None
) -> Database:
    """The database the settings name: ``url``, else SQLite (WAL) in ``data_dir``.

    The one place that turns XDS_DATABASE_URL / XDS_DATA_DIR / XDS_DATABASE_SCHEMA into a Database: the
    server, the record-settings commands and ``gc`` all open it here. ``wal_autocheckpoint``: see
    ``Database``.
    """
    return Database(url or sqlite_url_for(data_dir), schema=schema, wal_autocheckpoint=wal_autocheckpoint)


def normalise_url(url: str) -> URL:
    """Parse ``url``; PostgreSQL URLs without an explicit driver get psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def url_with_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose sessions start with ``schema`` first on the search_path (libpq ``options``).

    The result is self-contained: ``Database(url_with_schema(url, "s"))`` equals ``Database(url, schema="s")``
    for everything but ``Database.schema`` (which only ``migrate.upgrade`` reads, to create the schema).
    """
    return _with_search_path(normalise_url(url), schema).render_as_string(hide_password=False)


class Database:
    """An Engine plus the connection policy of this application (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        echo: bool = False,
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        wal_autocheckpoint: int | None = None,
        **engine_options: Any,
    ) -> None:
        """``wal_autocheckpoint`` (SQLite file only): the WAL size, in pages, at which a commit checkpoints
        by itself; None keeps SQLite's 1 000. The server raises it to a backstop and checkpoints in a thread
        of its own (storage/checkpoint.py)."""
        parsed = normalise_url(url)
        self.dialect_name: str = parsed.get_backend_name()
        self.schema = schema
        self.sqlite_busy_timeout_ms = sqlite_busy_timeout_ms
        self.wal_autocheckpoint = wal_autocheckpoint if self.dialect_name == "sqlite" else None
        if self.dialect_name == "sqlite":
            self.engine: Engine = _sqlite_engine(
                parsed, echo, sqlite_busy_timeout_ms, engine_options, wal_autocheckpoint
            )
        elif self.dialect_name == "postgresql":
            if schema is not None:
                parsed = _with_search_path(parsed, schema)
            self.engine = create_engine(parsed, echo=echo, **engine_options)
        else:
            raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")

    @property
    def url(self) -> str:
        """The URL, password hidden (for logs)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite database file; None for PostgreSQL or an in-memory database."""
        name = self.engine.url.database if self.is_sqlite else None
        return name if name not in (None, "", ":memory:") else None

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Connection]:
        """One transaction: commit when the block ends normally, roll back on any exception.

        Database exceptions (from the block or from the commit) leave as ``XdsError``. ``readonly`` (queries,
        retrieves) gives one consistent snapshot for all the statements of the block without blocking
        writers: a deferred BEGIN on SQLite (WAL), ``REPEATABLE READ READ ONLY`` on PostgreSQL (set as psycopg
        connection attributes, so no extra round trip; reset when the connection returns to the pool).
        """
        with translate_db_errors(), self.engine.connect() as connection:
            if readonly and self.dialect_name == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            elif readonly:
                connection.execution_options(**{_READONLY: True})
            with connection.begin():
                yield connection

    def ping(self) -> None:
        """Raise ``XdsError`` unless the database answers a trivial read (health checks)."""
        with self.transaction(readonly=True) as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection (end of process, or a test)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


def _with_search_path(url: URL, schema: str) -> URL:
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"schema name {schema!r} must match {_SCHEMA_NAME.pattern}")
    existing = url.query.get("options")
    options = " ".join(
        [*([existing] if isinstance(existing, str) else list(existing or ())), f"-csearch_path={schema}"]
    )
    return url.update_query_dict({"options": options})


def _sqlite_engine(
    url: URL, echo: bool, busy_timeout_ms: int, options: dict[str, Any], wal_autocheckpoint: int | None
) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        options.setdefault("poolclass", StaticPool)
        options.setdefault("connect_args", {"check_same_thread": False})
    else:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN (see _on_begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                if wal_autocheckpoint is not None:
                    cursor.execute(f"PRAGMA wal_autocheckpoint = {int(wal_autocheckpoint)}")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA cache_size = -32000")  # 32 MiB page cache per connection
            cursor.execute("PRAGMA temp_store = MEMORY")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get(_READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine
