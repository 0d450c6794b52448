"""``xds-server serve --workers N``: N server processes on one port (uvicorn's process manager).

Each worker is a whole server built by ``app.create_app`` from the same settings, handed down through the
environment (``XDS_*``), since uvicorn starts workers by importing the application. Nothing a request needs
lives only in one worker's memory: the registry, the patient records and the documents are in the database and
the blob store; each worker has its own connection pool and its own group commit (storage/group_commit.py),
and SQLite serialises the writers of all workers (``BEGIN IMMEDIATE`` with a busy timeout). What is per
worker: the caches of read-only data (profile, terminologies, trusted certificates); the SAML replay cache
is in the database (storage/replay.py), so an assertion replayed to another worker is seen as a replay.

The connection bounds of ``serve`` (transport.ConnectionGuard) hold in every worker: each has its own guard
(one event loop each), with the same header and body timeouts. The kernel hands each new connection to one
worker, so the total cap is divided: each worker admits ``ceil(XDS_MAX_CONNECTIONS / N)`` connections and the
server as a whole about ``XDS_MAX_CONNECTIONS``. The per-client cap and request rate are not divided (a
client's connections do not spread evenly over the workers, so a divided cap would refuse an honest client
early): each worker applies them, and one client may hold up to N times them in all.

TLS is served by a single process only (``serve --tls-cert`` with one worker): the per-connection TLS scope
protocol cannot be handed to spawned workers; behind a TLS-terminating proxy, use workers freely. The ITI-8
MLLP listener (``--mllp-port``) is one port too: it runs in a single-worker server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os

import typer

from xds_server.config import Settings
from xds_server.transport import GuardSettings, guard_settings

__all__ = ["WORKERS_VARIABLE", "app_from_environment", "run_workers", "worker_guard_settings"]

#: How many workers share the port: set by ``run_workers`` for the workers it starts (their guard's share).
WORKERS_VARIABLE = "XDS_SERVE_WORKERS"
#: The name uvicorn imports the HTTP protocol of a worker by (``__getattr__`` below).
PROTOCOL_NAME = "GuardedHttp"
_protocol: type[asyncio.Protocol] | None = None


def worker_guard_settings(settings: Settings, workers: int) -> GuardSettings:
    """One worker's bounds: the timeouts, per-client cap and rate as set, its share of the total cap."""
    bounds = guard_settings(settings)
    share = math.ceil(bounds.max_connections / max(1, workers))
    return dataclasses.replace(bounds, max_connections=share)


def __getattr__(name: str) -> object:
    """``GuardedHttp``: uvicorn's HTTP protocol behind this worker's connection guard, built once per worker
    process. uvicorn imports it by name in each worker it spawns (a class built in the parent cannot be
    handed to a spawned process)."""
    if name != PROTOCOL_NAME:
        raise AttributeError(name)
    global _protocol
    if _protocol is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        from xds_server.transport import ConnectionGuard, guarded_protocol

        workers = int(os.environ.get(WORKERS_VARIABLE, "1"))
        guard = ConnectionGuard(worker_guard_settings(Settings(), workers))
        _protocol = guarded_protocol(AutoHTTPProtocol, guard)
    return _protocol


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
    os.environ[WORKERS_VARIABLE] = str(workers)
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
        http=f"{__name__}:{PROTOCOL_NAME}",  # each worker's connection guard
        # a worker starting on a loaded machine (imports, terminologies) is not taken for dead after 5 s
        timeout_worker_healthcheck=30,
    )
