"""The ``xds-server`` command: serve, database migrations, the patient directory.

Every command reads the same settings as the server (``XDS_*`` environment variables); its flags override
them. ``patients`` writes the database the server uses, in its own committed transaction, so a running server
sees the change on its next request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from xds_server import logs
from xds_server.access_cli import (
    DataDir,
    Profile,
    dev_app,
    parse_birth_date,
    policy_app,
    register_patient_commands,
)
from xds_server.access_cli import (
    patient_id as canonical_patient,
)
from xds_server.audit_cli import audit_app, notify_app, register_audit_patient_commands
from xds_server.bench_cli import bench_app
from xds_server.config import Settings, load_settings
from xds_server.core.errors import XdsError
from xds_server.core.ports import PatientState
from xds_server.feed_cli import feed_app
from xds_server.gc import gc_command
from xds_server.storage.database import Database
from xds_server.storage.migrate import current_revision, upgrade
from xds_server.storage.patients import SqlPatientDirectory

app = typer.Typer(help="IHE XDS.b registry and repository (DMP rules).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
patients_app = typer.Typer(
    help="The patient directory (the registry's patient identity feed).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(patients_app, name="patients")
app.command("gc")(gc_command)
app.add_typer(dev_app, name="dev")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(notify_app, name="notify")
register_audit_patient_commands(patients_app)
app.add_typer(bench_app, name="bench")
app.add_typer(feed_app, name="feed")


@app.command(
    "conformance",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    help="Conformance suites, for example: xds-server conformance run nist --start",
)
def conformance(ctx: typer.Context) -> None:
    # Imported on use only: the runner is a test tool, never part of the running server.
    from conformance.cli import app as conformance_app

    conformance_app(ctx.args, prog_name="xds-server conformance")


def _settings(data_dir: Path | None = None, profile: str | None = None, **overrides: object) -> Settings:
    try:
        return load_settings(data_dir=data_dir, profile=profile, **overrides)
    except ValueError as error:  # pydantic ValidationError
        raise typer.BadParameter(str(error)) from None


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    """The configured database, migrated to head; a database failure ends the command with a message."""
    from xds_server.app import open_database

    try:
        database = open_database(settings)
    except ValueError as error:  # unusable URL or schema name
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    try:
        upgrade(database)
        yield database
    except XdsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    data_dir: DataDir = None,
    profile: Profile = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM) [$XDS_TLS_CERT]"),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="Its private key (PEM) [$XDS_TLS_KEY]")
    ] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(
            "--tls-client-ca", help="Require client certificates from these CAs [$XDS_TLS_CLIENT_CA]"
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes sharing the port (one per core; plain HTTP only)")
    ] = 1,
    mllp_port: Annotated[
        int | None,
        typer.Option(
            "--mllp-port",
            help="Patient identity feed (ITI-8, HL7 v2 over MLLP) on this port, same host; TLS with the "
            "--tls-* options [$XDS_MLLP_PORT]",
        ),
    ] = None,
) -> None:
    """Run the server (FastAPI under uvicorn) until interrupted."""
    import uvicorn

    from xds_server.app import DEV_AUTHORITY_WARNING, create_app
    from xds_server.identity.dev_authority import trusted
    from xds_server.transport import server_options

    settings = _settings(
        data_dir,
        profile,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        mllp_port=mllp_port,
        mllp_host=host if mllp_port is not None else None,
    )
    logs.configure(settings.log_level, settings.log_format)
    try:
        ssl_options = server_options(settings)  # TLS, and the connection bounds
        application = create_app(settings)
    except (ValueError, XdsError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    scheme = "https" if "ssl_certfile" in ssl_options else "http"
    client_certificates = ", client certificates required" if "ssl_cert_reqs" in ssl_options else ""
    typer.echo(
        f"xds-server on {scheme}://{host}:{port} (profile {settings.profile}, "
        f"database {settings.database_backend}, data {settings.data_dir.resolve()}{client_certificates})"
    )
    if settings.mllp_port is not None:
        typer.echo(
            f"patient identity feed (ITI-8) on mllp{'s' if 'ssl_certfile' in ssl_options else ''}://{host}:{settings.mllp_port}"
        )
    if trusted(settings.data_dir, settings.dev_authority):
        typer.echo(f"WARNING: {DEV_AUTHORITY_WARNING}", err=True)
    if workers > 1:
        from xds_server.serve_workers import run_workers

        run_workers(settings, host=host, port=port, workers=workers, tls="ssl_certfile" in ssl_options)
        return
    # log_config=None: uvicorn's loggers go through the root handler logs.configure set (text or JSON)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,
        **ssl_options,
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Bring the database schema to the newest revision."""
    with _database(_settings(data_dir)) as database:
        typer.echo(f"database {database.url} at revision {current_revision(database)}")


@patients_app.command("add")
def patients_add(
    patient_id: Annotated[
        str, typer.Argument(help="CX id^^^&OID&ISO (dmp: INS, with or without ^NH, or bare)")
    ],
    state: Annotated[PatientState, typer.Option(help="Record state")] = PatientState.CREATED,
    birth_date: Annotated[
        str | None, typer.Option("--birth-date", help="YYYY-MM-DD (a minor's record is derived from it)")
    ] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Register a patient (or change the state of a known one)."""
    settings = _settings(data_dir, profile)
    born = parse_birth_date(birth_date)
    canonical = canonical_patient(patient_id, settings)  # access_cli.patient_id: exit 2 when refused
    with _database(settings) as database, database.transaction() as connection:
        SqlPatientDirectory(connection).add(canonical, state, born)  # an upsert: sets state (and birth date)
    typer.echo(f"{canonical} {state.value}" + (f" born {born.isoformat()}" if born else ""))


@patients_app.command("list")
def patients_list(data_dir: DataDir = None) -> None:
    """Print every known patient and the state of the record."""
    with _database(_settings(data_dir)) as database, database.transaction(readonly=True) as connection:
        for patient_id, state in SqlPatientDirectory(connection).list():
            typer.echo(f"{patient_id} {PatientState(state).value}")


# authorize, block, unblock, settings, representative (listed after add and list)
register_patient_commands(patients_app)


__all__ = ["app"]


if __name__ == "__main__":  # python -m xds_server.cli
    app()
