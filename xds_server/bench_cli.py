"""``xds-server bench generate``: fill a data dir (or a PostgreSQL database) with synthetic DMP records.

Records come from ``xds_server.generate`` (realistic DMP metadata planned by the real planner); rows go in
through ``storage.bulk_load.BulkLoader`` (executemany on SQLite, COPY on PostgreSQL) in transactions of
``--batch`` objects, documents into the file blob store without a per-file fsync, and the file system is
synced once at the end. For benchmarks and demos only: a server must not be writing to the same database.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from xds_server.config import load_settings
from xds_server.core.blobs import blob_key
from xds_server.core.metadata import DocumentEntry
from xds_server.core.ports import PatientState
from xds_server.core.usecases.register import dtm_now
from xds_server.ebxml.codec import encode_object_xml
from xds_server.generate import RecordGenerator, final_objects
from xds_server.storage.blobs import FileBlobStore, open_blob_store
from xds_server.storage.bulk_load import BulkLoader
from xds_server.storage.database import configured_database
from xds_server.storage.migrate import refresh_statistics, upgrade
from xds_server.terminology import load_profile

bench_app = typer.Typer(help="Benchmark data (never on a production database).", no_args_is_help=True)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@bench_app.command("generate")
def generate(
    patients: Annotated[int, typer.Option(min=1, help="Patient records to create")],
    documents_per_patient: Annotated[int, typer.Option(min=1, help="DocumentEntries per record")],
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL (default: SQLite in the data dir) [$XDS_DATABASE_URL]")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (database, documents) [$XDS_DATA_DIR]")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Profile whose value sets are drawn [$XDS_PROFILE]")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same records")] = 0,
    first: Annotated[int, typer.Option(help="Number of the first record (to add records to a data dir)")] = 0,
    batch: Annotated[int, typer.Option(min=100, help="Registry objects per transaction")] = 20_000,
    bodies: Annotated[bool, typer.Option(help="Store the CDA body of every document")] = True,
) -> None:
    """Create PATIENTS synthetic DMP records of DOCUMENTS_PER_PATIENT documents each."""
    try:
        settings = load_settings(data_dir=data_dir, profile=profile, database_url=database_url)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    domain = load_profile(settings.profile)
    database = configured_database(settings.database_url, settings.data_dir, settings.database_schema)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    blobs = open_blob_store(settings.blob_store, default_dir=settings.blob_dir) if bodies else None
    if blobs is not None and not isinstance(blobs, FileBlobStore):
        typer.echo(
            "error: bench generate stores documents in a file blob store only (or use --no-bodies)", err=True
        )
        raise typer.Exit(2)
    upgrade(database)
    moment = datetime.now(UTC).replace(microsecond=0)
    now = dtm_now(_Clock(moment))
    generator = RecordGenerator(domain, settings.repository_unique_id, moment, seed)
    loader = BulkLoader(encode_object_xml)
    entries = objects = 0
    started = time.perf_counter()
    columns = (
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records, {task.fields[entries]} entries, {task.fields[rate]} entries/s"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("records", total=patients, entries=0, rate="-")
            for index in range(first, first + patients):
                record = generator.record(index, documents_per_patient)
                loader.add_patient(record.patient_id, PatientState.ACTIVATED, record.birth_date)
                stored = final_objects(record, domain, now, encode_object_xml, seed)
                loader.add_encoded(stored)
                entries += sum(isinstance(obj, DocumentEntry) for obj, _ in stored)
                if blobs is not None:
                    for entry_uuid, body in record.bodies.items():
                        entry = next(o for o, _ in stored if o.entry_uuid == entry_uuid)
                        assert isinstance(entry, DocumentEntry) and entry.hash is not None
                        blobs.load_bytes(entry.content_sha256 or blob_key(entry.hash), body)
                if loader.pending >= batch:
                    with database.transaction() as connection:
                        objects += loader.flush(connection)
                elapsed = time.perf_counter() - started
                progress.update(task, advance=1, entries=entries, rate=f"{entries / elapsed:,.0f}")
            with database.transaction() as connection:
                objects += loader.flush(connection)
        if blobs is not None:
            os.sync()  # the documents were written without fsync: make them durable once
        refresh_statistics(database)
    finally:
        database.dispose()
    seconds = time.perf_counter() - started
    table = Table(title=f"bench generate ({database.dialect_name}, profile {settings.profile})")
    for column in ("records", "entries", "registry objects", "seconds", "entries/s", "target 10 000/s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{patients:,}",
        f"{entries:,}",
        f"{objects:,}",
        f"{seconds:.1f}",
        f"{entries / seconds:,.0f}",
        f"{entries / seconds / 10_000:.2f}",
    )
    Console().print(table)
