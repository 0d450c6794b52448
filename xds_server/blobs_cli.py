"""``xds-server blobs rekey``: move documents stored under their SHA-1 to their SHA-256 key (rules and
crash safety: storage/rekey.py). Stores written since the SHA-256 key need nothing; the command says so.

Wiring (cli.py)::

    from xds_server.blobs_cli import blobs_app
    app.add_typer(blobs_app, name="blobs")
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xds_server.cli_errors import database_problem, fail
from xds_server.core.errors import XdsError
from xds_server.gc import settings_with_registry
from xds_server.storage.blobs import open_blob_store
from xds_server.storage.database import configured_database
from xds_server.storage.rekey import rekey_blobs, unkeyed_documents

blobs_app = typer.Typer(help="The document store.", no_args_is_help=True)


@blobs_app.command("rekey")
def rekey_command(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (default: $XDS_DATA_DIR)", show_default=False),
    ] = None,
) -> None:
    """Move every document blob keyed by SHA-1 to its SHA-256 key (resumable; safe to run again)."""
    settings = settings_with_registry(data_dir)
    database = configured_database(settings.database_url, settings.data_dir, settings.database_schema)
    try:
        blobs = open_blob_store(settings.blob_store, default_dir=settings.blob_dir)
        report = rekey_blobs(blobs, database.transaction)
        with database.transaction(readonly=True) as connection:
            left = unkeyed_documents(connection, settings.repository_unique_id)
    except XdsError as error:
        fail(database_problem(error, database.url), 1)
    finally:
        database.dispose()
    typer.echo(report.summary())
    typer.echo(f"{left} documents of this repository still read by their SHA-1 (their blob is missing)")
    if report.damaged or report.conflicts:
        raise typer.Exit(1)


__all__ = ["blobs_app", "rekey_command"]
