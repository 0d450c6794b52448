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
    open_database,
    parse_birth_date,
    policy_app,
    register_patient_commands,
    settings_of,
)
from xds_server.access_cli import (
    patient_id as canonical_patient,
)
from xds_server.audit_cli import audit_app, notify_app, register_audit_patient_commands
from xds_server.bench_cli import bench_app
from xds_server.blobs_cli import blobs_app
from xds_server.cli_errors import DEBUG_FLAG, ErrorReportingGroup
from xds_server.client_cli import register_client_commands
from xds_server.config import Settings
from xds_server.core.errors import XdsError
from xds_server.core.ports import PatientState
from xds_server.demo import demo_command
from xds_server.feed_cli import feed_app
from xds_server.gc import gc_command
from xds_server.mailbox_cli import mssante_app
from xds_server.professionals_cli import professionals_app
from xds_server.storage.database import Database
from xds_server.storage.migrate import current_revision
from xds_server.storage.patients import SqlPatientDirectory

app = typer.Typer(
    help="IHE XDS.b registry and repository (DMP rules).", no_args_is_help=True, cls=ErrorReportingGroup
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
patients_app = typer.Typer(
    help="The patient directory (the registry's patient identity feed).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(patients_app, name="patients")
app.command("gc")(gc_command)
app.add_typer(blobs_app, name="blobs")
app.add_typer(dev_app, name="dev")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(notify_app, name="notify")
register_audit_patient_commands(patients_app)
app.add_typer(bench_app, name="bench")
app.add_typer(feed_app, name="feed")
app.add_typer(professionals_app, name="professionals")
app.add_typer(mssante_app, name="mssante")
register_client_commands(app)  # send, find, get
app.command("demo")(demo_command)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option(DEBUG_FLAG, help="Show the traceback of an error, and debug logs [$XDS_DEBUG]")
    ] = False,
) -> None:
    """IHE XDS.b registry and repository (DMP rules). A failing command prints one `error:` line."""


@app.command(
    "conformance",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    help="Conformance suites, for example: xds-server conformance run nist --start",
)
def conformance(ctx: typer.Context) -> None:
    # Imported on use only: the runner is a test tool, never part of the running server.
    from conformance.cli import app as conformance_app

    conformance_app(ctx.args, prog_name="xds-server conformance")


def _settings(
    data_dir: Path | None = None, profile: str | None = None, *, create: bool = False, **overrides: object
) -> Settings:
    """Settings with the flags on top; the data dir must exist unless ``create`` (exit 2 otherwise)."""
    return settings_of(data_dir, profile, create=create, overrides=overrides)


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    """The configured database, migrated to head; a database failure ends the command with one line."""
    with open_database(settings) as database:  # access_cli's: exit 1 with one error: line
        yield database


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8080,
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
    smtp_port: Annotated[
        int | None,
        typer.Option(
            "--smtp-port",
            help="The patients' secure mailbox: inbound SMTP (STARTTLS, AUTH or client certificate) on this "
            "port, same host [$XDS_MAILBOX_SMTP_PORT]",
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Trust the local test authority of the data dir, created if missing (TEST ONLY; "
            "refused with the dmp profile) [$XDS_DEV_AUTHORITY=on]",
        ),
    ] = False,
) -> None:
    """Run the server (FastAPI under uvicorn) until interrupted."""
    import uvicorn

    from xds_server.app import (
        DEV_AUTHORITY_WARNING,
        create_app,
        refuse_dev_authority_in_production,
        refuse_missing_audience,
    )
    from xds_server.identity import dev_authority
    from xds_server.terminology import load_profile
    from xds_server.transport import server_options

    settings = _settings(
        data_dir,
        profile,
        create=True,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        dev_authority="on" if dev else None,
        mllp_port=mllp_port,
        mllp_host=host if mllp_port is not None else None,
        mailbox_smtp_port=smtp_port,
        mailbox_smtp_host=host if smtp_port is not None else None,
    )
    try:
        domain = load_profile(settings.profile)
        refuse_dev_authority_in_production(settings, domain)
        refuse_missing_audience(settings, domain)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    try:
        if settings.dev_authority == "on" and not dev_authority.exists(settings.data_dir):
            authority = dev_authority.init(settings.data_dir)  # pinned below, when the app is built
            typer.echo(f"dev authority created: {authority.folder / dev_authority.CERT_FILE}")
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
    if settings.mailbox_smtp_port is not None:
        typer.echo(
            f"patient mailbox (SMTP, STARTTLS) on {host}:{settings.mailbox_smtp_port} for "
            f"<INS>@{settings.mailbox_domain}"
        )
    if application.state.trust.dev_authority_trusted():
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
    with _database(_settings(data_dir, create=True)) as database:
        typer.echo(f"database {database.url} at revision {current_revision(database)}")


@patients_app.command("add")
def patients_add(
    patient_id: Annotated[
        str, typer.Argument(help="CX id^^^&OID&ISO (dmp: INS, with or without ^NH, or bare)")
    ],
    state: Annotated[PatientState, typer.Option(help="Record state")] = PatientState.CREATED,
    birth_date: Annotated[
        str | None,
        typer.Option(
            "--birth-date", metavar="YYYY-MM-DD", help="Birth date (a minor's record is derived from it)"
        ),
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
