"""``xds-server serve --workers N``: N server processes on one port (uvicorn's process manager).

Each worker is a whole server built by ``app.create_app`` from the same settings, handed down through the
environment (``XDS_*``), since uvicorn starts workers by importing the application. Nothing a request needs
lives only in one worker's memory: the registry, the patient records and the documents are in the database and
the blob store; each worker has its own connection pool and its own group commit (storage/group_commit.py),
and SQLite serialises the writers of all workers (``BEGIN IMMEDIATE`` with a busy timeout). What is per
worker: the caches of read-only data (profile, terminologies, trusted certificates); the SAML replay cache
is in the database (storage/replay.py), so an assertion replayed to another worker is seen as a replay. The
connection bounds of ``serve`` (transport.ConnectionGuard) apply to a single-worker server only: behind
several workers, bound connections in the proxy in front.

TLS is served by a single process only (``serve --tls-cert`` with one worker): the per-connection TLS scope
protocol cannot be handed to spawned workers; behind a TLS-terminating proxy, use workers freely. The ITI-8
MLLP listener (``--mllp-port``) is one port too: it runs in a single-worker server.
"""

from __future__ import annotations

import os

import typer

from xds_server.config import Settings

__all__ = ["app_from_environment", "run_workers"]


def app_from_environment():  # type: ignore[no-untyped-def]  # uvicorn factory: any ASGI app
    """The application of one worker (``uvicorn ... --factory``): settings from ``XDS_*``."""
    from xds_server.app import create_app

    return create_app()


def run_workers(settings: Settings, *, host: str, port: int, workers: int, tls: bool) -> None:
    import uvicorn

    from xds_server.app import open_database
    from xds_server.storage.migrate import upgrade

    if tls:
        typer.echo("error: --workers needs plain HTTP (terminate TLS in front, or run one worker)", err=True)
        raise typer.Exit(2)
    if settings.mllp_port is not None:
        # every worker would bind the same MLLP port: the feed runs in a single-worker server of its own
        typer.echo(
            "error: --workers cannot serve the MLLP feed (--mllp-port): run it with one worker", err=True
        )
        raise typer.Exit(2)
    if settings.mailbox_smtp_port is not None:
        typer.echo(
            "error: --workers cannot serve the patient mailbox (--smtp-port): run it with one worker",
            err=True,
        )
        raise typer.Exit(2)
    # The flags given on the command line reach the workers as the variables they override.
    os.environ["XDS_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["XDS_PROFILE"] = settings.profile
    database = open_database(settings)
    try:
        upgrade(database)  # once, before the workers start (each would otherwise race to do it)
    finally:
        database.dispose()
    uvicorn.run(
        "xds_server.serve_workers:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
