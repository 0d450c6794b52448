"""PostgreSQL scratch schemas for tests that start the server or run commands themselves (tests/test_cli.py,
tests/cli/, tests/e2e/test_e2e_server.py): each gets a schema of its own through ``XDS_DATABASE_SCHEMA``,
which the command or server creates (storage.Database) and this helper drops, with everything in it, on
exit. Without ``XDS_DATABASE_URL`` (SQLite in the data dir) there is nothing to set up or drop.

The in-process fixtures (``database``, ``database_url``) live in tests/conftest.py and use ``drop_schema``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text

from xds_server.storage.database import Database

DATABASE_URL_ENV = "XDS_DATABASE_URL"
DATABASE_SCHEMA_ENV = "XDS_DATABASE_SCHEMA"


@dataclass(frozen=True)
class ScratchSchema:
    url: str  # the server and database (``XDS_DATABASE_URL``), no schema
    name: str

    @property
    def env(self) -> dict[str, str]:
        """What a command or server needs in its environment to use this schema."""
        return {DATABASE_URL_ENV: self.url, DATABASE_SCHEMA_ENV: self.name}


def database_env(schema: ScratchSchema | None) -> dict[str, str | None]:
    """The database variables of an in-process command (``CliRunner.invoke(env=...)``: None unsets one): the
    scratch schema on PostgreSQL; on SQLite neither variable, so the database is the data dir's."""
    return dict(schema.env) if schema is not None else {DATABASE_URL_ENV: None, DATABASE_SCHEMA_ENV: None}


def postgres_env_url() -> str | None:
    """``XDS_DATABASE_URL`` when the tests run on PostgreSQL, else None."""
    return os.environ.get(DATABASE_URL_ENV) or None


@contextmanager
def scratch_schema(prefix: str) -> Iterator[ScratchSchema | None]:
    """A fresh schema name ``<prefix>_<random>`` on the PostgreSQL server, dropped on exit; None on SQLite."""
    url = postgres_env_url()
    if url is None:
        yield None
        return
    schema = ScratchSchema(url, f"{prefix}_{secrets.token_hex(6)}")
    try:
        yield schema
    finally:
        drop_schema(url, schema.name)


def drop_schema(url: str, schema: str) -> None:
    """``DROP SCHEMA ... CASCADE`` (if it exists) through a short-lived admin connection."""
    admin = Database(url)
    try:
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


__all__ = [
    "DATABASE_URL_ENV",
    "ScratchSchema",
    "database_env",
    "drop_schema",
    "postgres_env_url",
    "scratch_schema",
]
