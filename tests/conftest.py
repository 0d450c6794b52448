"""Shared test fixtures: databases (SQLite by default, PostgreSQL when ``XDS_DATABASE_URL`` is set).

Backend choice. Without ``XDS_DATABASE_URL`` every database is a SQLite file under pytest's tmp dir. With it
(for example ``postgresql+psycopg://postgres@127.0.0.1:5432/test``; a plain ``postgresql://`` URL works too),
the session creates its own schema ``xds_test_<random>`` on that server, runs everything inside it and drops
it at the end, so concurrent runs (CI jobs, xdist workers) never see each other's rows.

Fixtures
    database_url       session  URL of the session's database. PostgreSQL: the session schema is built into
                                the URL (libpq ``options=-csearch_path=...``), so ``Database(database_url)``
                                lands in it, as does a server started with
                                ``XDS_DATABASE_URL=<database_url>``.
                                SQLite: a file for the whole session. Not migrated by itself, not emptied.
    database           function A migrated, EMPTY ``storage.Database`` for one test.
                                SQLite: a copy of a template migrated once per session (fresh file per test),
                                disposed afterwards. PostgreSQL: one Database on the session schema, migrated
                                once and shared; every table is emptied before each test (so use ``database``,
                                not ``database_url``, when both would be needed).
    sqlite_database    function Same as ``database`` but always SQLite (SQLite-specific behaviour).
    postgres_url       session  The raw ``XDS_DATABASE_URL`` (server and database, no schema) for tests that
                                manage schemas themselves; skips with "PostgreSQL not available: set
                                XDS_DATABASE_URL" when it is not set.

Markers
    @pytest.mark.postgres  the test needs PostgreSQL: skipped with the same reason when XDS_DATABASE_URL is
                           unset (it may use ``database``/``database_url``, which are PostgreSQL then).
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from xds_server.storage import tables
from xds_server.storage.database import SQLITE_FILE_NAME, Database, url_with_schema
from xds_server.storage.migrate import upgrade

# ``tests.*`` helpers (tests/identity_helpers.py ...) import however pytest was started: the repository root
# goes on sys.path before any test module is collected.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.pg_helpers import DATABASE_URL_ENV, drop_schema, postgres_env_url  # noqa: E402 (needs _ROOT)

NO_POSTGRES = f"PostgreSQL not available: set {DATABASE_URL_ENV}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") is not None and postgres_env_url() is None:
        pytest.skip(NO_POSTGRES)


# ---- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = postgres_env_url()
    if url is None:
        pytest.skip(NO_POSTGRES)
    return url


@pytest.fixture(scope="session")
def _postgres_session_url() -> Iterator[str | None]:
    """The session schema (created here, dropped at the end) as a URL; None without PostgreSQL."""
    base = postgres_env_url()
    if base is None:
        yield None
        return
    schema = f"xds_test_{secrets.token_hex(6)}"
    admin = Database(base)
    try:
        with admin.engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url_with_schema(base, schema)
    finally:
        admin.dispose()
        drop_schema(base, schema)


@pytest.fixture(scope="session")
def _postgres_database(_postgres_session_url: str | None) -> Iterator[Database | None]:
    """One migrated Database on the session schema, shared by the tests (its pool survives them)."""
    if _postgres_session_url is None:
        yield None
        return
    database = Database(_postgres_session_url)
    upgrade(database)
    yield database
    database.dispose()


# DELETE, children first: on the few rows a test leaves it takes ~1 ms where TRUNCATE takes ~25 ms. The audit
# tables refuse DELETE (append-only triggers): the cleanup runs with triggers off (replica role, superuser).
_EMPTY_TABLES = [
    "SET LOCAL session_replication_role = replica",
    *(f'DELETE FROM "{table.name}"' for table in reversed(tables.metadata.sorted_tables)),
]


# ---- SQLite --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / SQLITE_FILE_NAME
    database = Database(f"sqlite:///{path}")
    try:
        upgrade(database)
        raw = database.engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
        finally:
            raw.close()
    finally:
        database.dispose()
    return path


def _sqlite_copy(template: Path, directory: Path) -> Database:
    path = directory / SQLITE_FILE_NAME
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


# ---- public fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(_postgres_session_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    if _postgres_session_url is not None:
        return _postgres_session_url
    return f"sqlite:///{tmp_path_factory.mktemp('session-db') / SQLITE_FILE_NAME}"


@pytest.fixture
def sqlite_database(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    database = _sqlite_copy(_sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    postgres: Database | None = request.getfixturevalue("_postgres_database")
    if postgres is not None:
        with postgres.engine.begin() as connection:
            for statement in _EMPTY_TABLES:
                connection.exec_driver_sql(statement)
        yield postgres
        return
    database = _sqlite_copy(request.getfixturevalue("_sqlite_template"), tmp_path)
    yield database
    database.dispose()
