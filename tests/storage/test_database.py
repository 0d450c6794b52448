"""Database: URLs, connection settings, the request-owned transaction."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.storage import tables
from xds_server.storage.database import Database, normalise_url, sqlite_url_for, url_with_schema
from xds_server.storage.migrate import upgrade
from xds_server.storage.registry import SqlRegistryStore

from .builders import document, stub_xml


def count_objects(database: Database) -> int:
    with database.transaction(readonly=True) as connection:
        return int(connection.execute(select(func.count()).select_from(tables.registry_object)).scalar_one())


class TestUrls:
    @pytest.mark.parametrize(
        "url",
        ["postgresql://u@h:5432/db", "postgres://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"],
    )
    def test_postgresql_urls_use_psycopg3(self, url: str) -> None:
        assert normalise_url(url).drivername == "postgresql+psycopg"

    def test_sqlite_url_is_untouched(self) -> None:
        assert normalise_url("sqlite:////tmp/x.sqlite3").drivername == "sqlite"

    def test_sqlite_url_for_data_dir(self, tmp_path: Path) -> None:
        url = sqlite_url_for(tmp_path)
        assert url == f"sqlite:///{tmp_path.resolve()}/registry.sqlite3"
        database = Database(url)
        try:
            upgrade(database)
        finally:
            database.dispose()
        assert (tmp_path / "registry.sqlite3").is_file()

    def test_sqlite_parent_directory_is_created(self, tmp_path: Path) -> None:
        database = Database(sqlite_url_for(tmp_path / "new" / "dir"))
        try:
            with database.transaction() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            database.dispose()
        assert (tmp_path / "new" / "dir" / "registry.sqlite3").is_file()

    def test_url_with_schema_sets_search_path_option(self) -> None:
        url = normalise_url(url_with_schema("postgresql://u@h/db", "xds_a1"))
        assert url.drivername == "postgresql+psycopg"
        assert url.query["options"] == "-csearch_path=xds_a1"

    def test_url_with_schema_keeps_other_options(self) -> None:
        url = normalise_url(url_with_schema("postgresql://u@h/db?options=-cstatement_timeout%3D5000", "s"))
        assert url.query["options"] == "-cstatement_timeout=5000 -csearch_path=s"

    @pytest.mark.parametrize("schema", ["Upper", "semi;colon", "has space", "1digit", ""])
    def test_unsafe_schema_names_are_refused(self, schema: str) -> None:
        with pytest.raises(ValueError, match="schema name"):
            url_with_schema("postgresql://u@h/db", schema)

    def test_unsupported_backend(self) -> None:
        with pytest.raises(ValueError, match="unsupported database URL"):
            Database("mysql://u@h/db")

    def test_password_hidden_in_url(self) -> None:
        database = Database("postgresql://user:secret@127.0.0.1:1/db")
        assert "secret" not in database.url
        assert "secret" not in repr(database)


class TestSqliteSettings:
    def test_pragmas(self, sqlite_database: Database) -> None:
        with sqlite_database.transaction(readonly=True) as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 2  # FULL: an acknowledged commit is on disk
            assert pragma("busy_timeout") == 10_000

    def test_foreign_keys_are_enforced(self, sqlite_database: Database) -> None:
        with pytest.raises(XdsError) as raised, sqlite_database.transaction() as connection:
            connection.execute(
                tables.document_code.insert(),
                {"entry_uuid": "urn:uuid:missing", "attribute": "event", "code_key": "a^^b"},
            )
        assert raised.value.issues[0].code is ErrorCode.REGISTRY_ERROR

    def test_in_memory_database_is_shared_by_connections(self) -> None:
        database = Database("sqlite://")
        try:
            upgrade(database)
            with database.transaction() as connection:
                SqlRegistryStore(connection, stub_xml).add_objects([document()])
            assert count_objects(database) == 1
        finally:
            database.dispose()


class TestSqliteWriteLock:
    """Writers take the write lock at BEGIN (IMMEDIATE); readers never wait for it."""

    def test_second_writer_waits_then_reports_busy(self, sqlite_database: Database) -> None:
        impatient = Database(str(sqlite_database.engine.url), sqlite_busy_timeout_ms=50)
        try:
            with sqlite_database.transaction(), pytest.raises(XdsError) as raised, impatient.transaction():
                pass  # BEGIN IMMEDIATE alone must wait for the lock
            assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_BUSY]
        finally:
            impatient.dispose()

    def test_reader_is_not_blocked_by_a_writer(self, sqlite_database: Database) -> None:
        impatient = Database(str(sqlite_database.engine.url), sqlite_busy_timeout_ms=50)
        try:
            with sqlite_database.transaction() as writer:
                SqlRegistryStore(writer, stub_xml).add_objects([document()])
                assert count_objects(impatient) == 0  # snapshot before the writer's commit
            assert count_objects(impatient) == 1
        finally:
            impatient.dispose()

    def test_writer_waits_for_the_lock_instead_of_failing(self, sqlite_database: Database) -> None:
        released = threading.Event()
        errors: list[BaseException] = []

        def second_writer() -> None:
            try:
                with sqlite_database.transaction() as connection:
                    SqlRegistryStore(connection, stub_xml).add_objects([document()])
            except BaseException as error:  # reported to the main thread
                errors.append(error)

        with sqlite_database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document()])
            thread = threading.Thread(target=second_writer)
            thread.start()
            released.wait(0.2)  # the second writer is now blocked in BEGIN IMMEDIATE
        thread.join(5)
        assert errors == []
        assert count_objects(sqlite_database) == 2


class TestTransaction:
    def test_commits_when_the_block_ends(self, database: Database) -> None:
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document()])
        assert count_objects(database) == 1

    def test_rolls_back_on_any_exception(self, database: Database) -> None:
        with pytest.raises(KeyError), database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document()])
            raise KeyError("boom")
        assert count_objects(database) == 0

    def test_rolls_back_on_xds_error_and_lets_it_through(self, database: Database) -> None:
        error = XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, "no such patient")
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document()])
            raise error
        assert raised.value is error
        assert count_objects(database) == 0

    def test_database_errors_become_registry_errors(self, database: Database) -> None:
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_ERROR]
        assert "no_such_table" not in str(raised.value)  # no SQL leaks to the client
        assert raised.value.__cause__ is not None


@pytest.mark.postgres
class TestPostgresSchema:
    def test_sessions_run_in_the_configured_schema(self, database: Database, database_url: str) -> None:
        schema = normalise_url(database_url).query["options"]
        with database.transaction(readonly=True) as connection:
            current = connection.execute(text("SELECT current_schema()")).scalar_one()
        assert f"-csearch_path={current}" == schema
        assert current.startswith("xds_test_")


@pytest.mark.postgres
class TestPostgresReadOnly:
    def test_readonly_transaction_refuses_writes(self, database: Database) -> None:
        with pytest.raises(XdsError) as raised, database.transaction(readonly=True) as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document()])
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_ERROR]

    def test_readonly_sees_one_snapshot(self, database: Database) -> None:
        with database.transaction(readonly=True) as reader:
            assert reader.execute(select(func.count()).select_from(tables.registry_object)).scalar_one() == 0
            with database.transaction() as writer:
                SqlRegistryStore(writer, stub_xml).add_objects([document()])
            assert reader.execute(select(func.count()).select_from(tables.registry_object)).scalar_one() == 0
        assert count_objects(database) == 1

    def test_pooled_connection_is_writable_again_after_a_readonly_transaction(
        self, postgres_url: str
    ) -> None:
        single = Database(postgres_url, pool_size=1, max_overflow=0)
        try:
            with single.transaction(readonly=True) as connection:
                assert connection.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
                isolation = connection.execute(text("SHOW transaction_isolation")).scalar_one()
                assert isolation == "repeatable read"
            with single.transaction() as connection:
                assert connection.execute(text("SHOW transaction_read_only")).scalar_one() == "off"
                assert connection.execute(text("SHOW transaction_isolation")).scalar_one() == "read committed"
        finally:
            single.dispose()
