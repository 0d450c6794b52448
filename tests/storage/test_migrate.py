"""Migrations create exactly tables.metadata, on SQLite and on PostgreSQL (in a schema of their own)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)


def schema_diff(database: Database, metadata: MetaData = tables.metadata) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    yield database
    database.dispose()


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[Database]:
    """A Database on a schema that does not exist yet (upgrade creates it); dropped afterwards."""
    schema = f"xds_migrate_{secrets.token_hex(6)}"
    database = Database(postgres_url, schema=schema)
    yield database
    database.dispose()
    admin = Database(postgres_url)
    with admin.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest) -> Database:
    database: Database = request.getfixturevalue(f"fresh_{request.param.replace('postgresql', 'postgres')}")
    return database


class TestUpgrade:
    def test_unmigrated_database_has_no_revision(self, fresh: Database) -> None:
        assert current_revision(fresh) is None
        assert schema_diff(fresh) != []  # the comparison does see a missing schema

    def test_upgrade_reaches_head(self, fresh: Database) -> None:
        upgrade(fresh)
        assert current_revision(fresh) == head_revision()

    def test_migrated_schema_equals_tables_metadata(self, fresh: Database) -> None:
        upgrade(fresh)
        assert schema_diff(fresh) == []

    def test_upgrade_twice_is_harmless(self, fresh: Database) -> None:
        upgrade(fresh)
        upgrade(fresh)
        assert current_revision(fresh) == head_revision()
        assert schema_diff(fresh) == []

    def test_downgrade_to_base_removes_every_table(self, fresh: Database) -> None:
        upgrade(fresh)
        with fresh.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with fresh.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
            if fresh.dialect_name == "postgresql":
                assert inspect(connection).get_sequence_names() == []


@pytest.mark.postgres
class TestPostgresSpecifics:
    def test_schema_is_created_and_holds_everything(self, fresh_postgres: Database) -> None:
        upgrade(fresh_postgres)
        with fresh_postgres.engine.connect() as connection:
            inspector = inspect(connection)
            assert inspector.default_schema_name == fresh_postgres.schema
            assert set(inspector.get_table_names()) == {*tables.metadata.tables, "alembic_version"}
            assert "registry_object_seq" in inspector.get_sequence_names()


class TestRevisionFiles:
    def test_revision_files_have_dated_names(self) -> None:
        names = [p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py") if p.name != "__init__.py"]
        assert names
        for name in names:
            assert name[:8].isdigit() and name[8] == "_", name

    def test_one_head(self) -> None:
        assert head_revision()


class TestRefreshStatistics:
    """Without statistics SQLite reads registry_object through its primary key; with them, through the
    covering (entry_uuid, seq) index that stored queries are shaped for."""

    def test_sqlite_plan_uses_the_covering_index_after_refresh(self, sqlite_database: Database) -> None:
        from sqlalchemy import select

        from xds_server.storage.migrate import refresh_statistics
        from xds_server.storage.tables import registry_object

        with sqlite_database.transaction() as connection:
            connection.execute(
                registry_object.insert(),
                [
                    {
                        "entry_uuid": f"urn:uuid:{n:036d}",
                        "kind": "DocumentEntry",
                        "logical_id": f"urn:uuid:{n:036d}",
                        "version": 1,
                        "status": "Approved",
                        "patient_id": f"p{n % 50}",
                        "unique_id": f"1.2.{n}",
                        "xml": "<x/>" * 200,
                        "seq": n,
                    }
                    for n in range(500)
                ],
            )
        # the shape stored queries use: these entries, in insertion order
        wanted = [f"urn:uuid:{n:036d}" for n in (3, 30, 300)]
        statement = (
            select(registry_object.c.entry_uuid)
            .where(registry_object.c.entry_uuid.in_(wanted))
            .order_by(registry_object.c.seq)
        )
        refresh_statistics(sqlite_database)
        with sqlite_database.transaction(readonly=True) as connection:
            compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
        assert "COVERING INDEX ix_registry_object_entry_uuid_seq" in plan

    def test_postgresql_is_left_to_autovacuum(self, database: Database) -> None:
        from xds_server.storage.migrate import refresh_statistics

        refresh_statistics(database)  # no error on either backend
