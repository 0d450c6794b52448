"""Alembic environment: target metadata is ``storage.tables.metadata``.

Online runs receive an open connection in ``config.attributes["connection"]`` (storage/migrate.py builds the
Config in code); offline runs (SQL script output) use the ``sqlalchemy.url`` main option. SQLite gets batch
mode, so later ALTERs are rendered as table copies.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from xds_server.storage.tables import metadata

config = context.config


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        **options,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    _configure(url=url, literal_binds=True, render_as_batch=bool(url and url.startswith("sqlite")))
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online(config.attributes["connection"])
