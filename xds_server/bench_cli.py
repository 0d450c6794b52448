"""``xds-server bench generate``: fill a data dir (or a PostgreSQL database) with synthetic DMP records.

Theory of operation. Three stages overlap on the machine's cores: the main thread draws records and renders
their rows (``generate.RowRenderer``: templates of the encoder's XML, no model objects); a writer thread
loads them through ``storage.bulk_load.BulkWriter`` in ONE transaction for the whole run (secondary
indexes dropped and rebuilt around a load into an empty registry; SQLite with its rollback journal and
``synchronous=OFF`` during the load, PostgreSQL with COPY); a third thread writes the CDA bodies into the
file blob store (one create per file, no fsync; the file system is synced once at the end). The database
releases the GIL while it works and the file system calls do too, so the stages share two cores. A run
that fails or is interrupted leaves the registry as it was (documents already written stay, unreferenced:
``xds-server gc`` removes them). For benchmarks and demos only: a server must not be using the database.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from xds_server.config import load_settings
from xds_server.core.usecases.register import dtm_now
from xds_server.ebxml.encoding import child_ids, encode_object_xml
from xds_server.generate import RecordGenerator, RowRenderer
from xds_server.storage.blobs import FileBlobStore, open_blob_store
from xds_server.storage.bulk_load import BulkRows, BulkWriter
from xds_server.storage.database import configured_database
from xds_server.storage.migrate import refresh_statistics, upgrade
from xds_server.terminology import load_profile

bench_app = typer.Typer(help="Benchmark data (never on a production database).", no_args_is_help=True)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


_STOP = object()


class _Stage:
    """A thread consuming items from a bounded queue (backpressure on the producer); its first error stops
    it and is raised in the producer at the next ``put`` or at ``finish``."""

    def __init__(self, name: str, consume: Callable[[Any], None], depth: int = 2) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._consume = consume
        self.error: BaseException | None = None
        self.busy_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._inbox.get()) is not _STOP:
            if self.error is None:
                started = time.perf_counter()
                try:
                    self._consume(item)
                except BaseException as error:
                    self.error = error
                self.busy_seconds += time.perf_counter() - started

    def put(self, item: Any) -> None:
        self._raise()
        self._inbox.put(item)

    def finish(self, *, quiet: bool = False) -> None:
        """Wait for the items put so far; raise the stage's error unless ``quiet`` (when another error is
        already on its way)."""
        self._inbox.put(_STOP)
        self._thread.join()
        if not quiet:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class _Load:
    """The writer stage: ``BulkWriter`` used from its own thread only (sqlite3 connections are per thread)."""

    def __init__(self, writer: BulkWriter) -> None:
        self.writer = writer
        self._opened: queue.Queue[BulkRows | BaseException] = queue.Queue()
        self.stage = _Stage("bulk-writer", self._step)
        self.stage.put(("open", None))
        first = self._opened.get()
        if isinstance(first, BaseException):
            self.stage.finish()
            raise first
        self.first = first

    def _step(self, item: tuple[str, Any]) -> None:
        action, rows = item
        if action == "open":
            try:
                self._opened.put(self.writer.open())
            except BaseException as error:
                self._opened.put(error)
                raise
        elif action == "write":
            try:
                self.writer.write(rows)
            except BaseException:
                self.writer.close(commit=False)  # at once: the stage skips what follows an error
                raise
        else:
            self.writer.close(commit=action == "commit")

    def write(self, rows: BulkRows) -> None:
        self.stage.put(("write", rows))

    def end(self, *, commit: bool) -> None:
        """Commit (raising the stage's error, if any), or roll back quietly (another error is on its way)."""
        if commit:
            self.stage.put(("commit", None))
            self.stage.finish()
        else:
            self.stage._inbox.put(("rollback", None))
            self.stage.finish(quiet=True)


def _cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of this process (all threads), or of another process of this machine (PostgreSQL's
    backend) read from /proc; 0 when it cannot be read."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


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
    batch: Annotated[int, typer.Option(min=100, help="Registry objects per write batch")] = 20_000,
    bodies: Annotated[bool, typer.Option(help="Store the CDA body of every document")] = True,
    rebuild_indexes: Annotated[
        bool | None,
        typer.Option(
            help="Drop the secondary indexes for the load and build them at the end (default: when the "
            "registry is empty)"
        ),
    ] = None,
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
    generator = RecordGenerator(domain, settings.repository_unique_id, moment, seed)
    renderer = RowRenderer(generator, dtm_now(_Clock(moment)), encode_object_xml, child_ids, seed)
    writer = BulkWriter(database, rebuild_indexes=rebuild_indexes)
    entries = objects = 0
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    load = _Load(writer)
    backend = writer.backend_pid
    backend_cpu = _cpu_seconds(backend) if backend else 0.0
    files = _Stage("documents", blobs.load_many) if blobs is not None else None
    columns = (
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records, {task.fields[entries]} entries, {task.fields[rate]} entries/s"),
        TimeRemainingColumn(),
    )
    committed = False
    try:
        with Progress(*columns, transient=False, refresh_per_second=2) as progress:
            task = progress.add_task("records", total=patients, entries="0", rate="-")
            rows = load.first
            documents: list[tuple[str, bytes]] = []
            done = 0
            for index in range(first, first + patients):
                facts = generator.facts(index, documents_per_patient)
                entries += renderer.render(facts, rows)
                if files is not None:
                    documents += [(d.hash, d.body) for s in facts.submissions for d in s.documents]
                if rows.objects >= batch:
                    objects += rows.objects
                    load.write(rows)
                    rows = writer.rows()
                    if files is not None:
                        files.put(documents)
                        documents = []
                    elapsed = time.perf_counter() - started
                    progress.update(
                        task,
                        completed=index - first + 1,
                        entries=f"{entries:,}",
                        rate=f"{entries / elapsed:,.0f}",
                    )
                done = index - first + 1
            objects += rows.objects
            load.write(rows)
            if files is not None:
                files.put(documents)
                files.finish()  # every document is on disk before the metadata naming it commits
            progress.update(task, completed=done, entries=f"{entries:,}")
            loaded = time.perf_counter()
            load.end(commit=True)
            committed = True
        steps = {"load": loaded - started, "indexes and commit": time.perf_counter() - loaded}
        if blobs is not None:
            mark = time.perf_counter()
            os.sync()  # the documents were written without fsync: make them durable once
            steps["sync"] = time.perf_counter() - mark
        mark = time.perf_counter()
        refresh_statistics(database)
        steps["statistics"] = time.perf_counter() - mark
    finally:
        if not committed:
            if files is not None:
                files.finish(quiet=True)
            load.end(commit=False)
        database.dispose()
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_started
    backend_cpu = _cpu_seconds(backend) - backend_cpu if backend else 0.0
    title = f"bench generate ({database.dialect_name}, profile {settings.profile})"
    table = Table(title=title)
    for column in (
        "records",
        "entries",
        "objects",
        "seconds",
        "entries/s",
        "CPU s",
        "entries/CPU s",
        "÷ 10 000/s",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{patients:,}",
        f"{entries:,}",
        f"{objects:,}",
        f"{seconds:.1f}",
        f"{entries / seconds:,.0f}",
        f"{cpu:.1f}" + (f" + {backend_cpu:.1f} server" if backend else ""),
        f"{entries / (cpu + backend_cpu):,.0f}" if cpu + backend_cpu else "-",
        f"{entries / seconds / 10_000:.2f}",
    )
    console = Console()
    console.print(table)
    console.print(
        ", ".join(f"{step} {value:.1f} s" for step, value in steps.items())
        + f"; {writer.rebuilt_indexes} indexes rebuilt"
        + ("" if writer.postgres else f"; SQLite journal {writer.journal_mode} during the load")
    )
