"""Alembic environment of the registry schema (driven from ``xds_server.storage.migrate``, no alembic.ini)."""
