"""``xds-server gc``: collect document blobs no DocumentEntry references (rules: storage/gc.py); the blob of a
DocumentEntry removed by ITI-62 is kept ``XDS_DELETED_BLOB_RETENTION_DAYS`` days after the removal.

Wiring (cli.py)::

    from xds_server.gc import gc_command
    app.command("gc")(gc_command)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from xds_server.cli_errors import DataDirError, check_data_dir, database_problem, fail
from xds_server.config import Settings, load_settings
from xds_server.core.errors import XdsError
from xds_server.storage.blobs import document_index_factory, open_blob_store
from xds_server.storage.database import configured_database
from xds_server.storage.gc import DEFAULT_GRACE, GcReport, collect_garbage
from xds_server.storage.migrate import current_revision


def run_gc(settings: Settings, *, grace: timedelta = DEFAULT_GRACE, dry_run: bool = False) -> GcReport:
    """One collection on the configured database and blob store."""
    database = configured_database(settings.database_url, settings.data_dir, settings.database_schema)
    try:
        blobs = open_blob_store(settings.blob_store, default_dir=settings.blob_dir)
        retention = timedelta(days=settings.deleted_blob_retention_days)
        return collect_garbage(
            blobs,
            document_index_factory(database.transaction, deleted_retention=retention),
            grace=grace,
            dry_run=dry_run,
        )
    finally:
        database.dispose()


def settings_with_registry(data_dir: Path | None) -> Settings:
    """The settings of a blob maintenance command (gc, blobs rekey): the data dir must exist and its database
    hold the registry schema, else one ``error:`` line. Never against an empty schema: every blob would look
    unreferenced to gc."""
    try:
        settings = load_settings(data_dir=data_dir)
        check_data_dir(settings.data_dir, create=False)
    except (ValueError, DataDirError) as error:
        fail(str(error))
    database = configured_database(settings.database_url, settings.data_dir, settings.database_schema)
    try:
        revision = current_revision(database)
    except XdsError as error:
        fail(database_problem(error, database.url), 1)
    finally:
        database.dispose()
    if revision is None:
        fail(f"the database {database.url} has no registry schema: run `xds-server db upgrade` first", 1)
    return settings


def gc_command(
    grace_hours: Annotated[
        float,
        typer.Option(
            "--grace-hours",
            min=0.0,
            help="Keep unreferenced blobs younger than this (longer than the slowest ITI-41 request)",
        ),
    ] = DEFAULT_GRACE.total_seconds() / 3600,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be removed; remove nothing")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (default: $XDS_DATA_DIR)", show_default=False),
    ] = None,
) -> None:
    """Remove document blobs no DocumentEntry references (left by crashes, refusals, deletions)."""
    settings = settings_with_registry(data_dir)
    try:
        report = run_gc(settings, grace=timedelta(hours=grace_hours), dry_run=dry_run)
    except XdsError as error:
        fail(database_problem(error), 1)
    typer.echo(report.summary())


__all__ = ["gc_command", "run_gc", "settings_with_registry"]
