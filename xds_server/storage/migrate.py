"""Schema migrations, run from code: no alembic.ini, the Config is built here.

``upgrade(database)`` brings the schema to head in one transaction (SQLite and PostgreSQL both have
transactional DDL). On PostgreSQL a transaction-scoped advisory lock serialises app nodes that start together,
and the configured schema is created first if it is missing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from xds_server.storage.database import Database
from xds_server.storage.errors import translate_db_errors

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "new_revision",
    "refresh_statistics",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Dated revision files (Polar habit): 20261127_<rev>_<slug>.py; "%%" escapes ConfigParser interpolation.
_FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"
_MIGRATION_LOCK_KEY = 0x58445352  # "XDSR": advisory lock id held while migrating on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the registry migrations, bound to ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", _FILE_TEMPLATE)
    config.set_main_option("timezone", "UTC")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (head by default)."""
    with translate_db_errors(), database.engine.begin() as connection:
        if database.dialect_name == "postgresql":
            if database.schema is not None:
                _create_schema(connection, database.schema)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(connection), revision)


def refresh_statistics(database: Database) -> None:
    """Give SQLite's planner table statistics (run at server start).

    SQLite keeps no statistics until ANALYZE runs, and without them it reads registry_object through its
    primary key instead of the covering (entry_uuid, seq) index the stored queries are shaped for.
    ``analysis_limit`` makes ANALYZE sample each index, so this stays well under a second on a large
    registry. PostgreSQL's autovacuum keeps its own statistics: nothing to do there.
    """
    if database.dialect_name != "sqlite":
        return
    with translate_db_errors(), database.engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA analysis_limit=400")
        connection.exec_driver_sql("ANALYZE")


def _create_schema(connection: Connection, schema: str) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    # The dialect read current_schema() on the engine's first connection, which is NULL while the schema
    # on the search_path does not exist; reflection (autogenerate) needs the real default schema.
    if connection.dialect.default_schema_name is None:
        connection.dialect.default_schema_name = connection.execute(text("SELECT current_schema()")).scalar()


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with translate_db_errors(), database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its first revision
        raise RuntimeError("no migration found")
    return head


def new_revision(database: Database, message: str, *, autogenerate: bool = True) -> None:
    """Write a new revision file (developers: compare tables.py with ``database`` at head, then review it)."""
    with database.engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=autogenerate)
