"""Composition root: settings -> concrete adapters -> the FastAPI application.

This module (and cli.py) alone picks concrete storage: the SOAP handlers see ``soap.services.Services``,
whose ``transaction()`` opens one database transaction and yields the ports bound to it. The schema is
brought to the newest Alembic revision during start-up, before the server accepts requests, so
``GET /health`` answers 200 only once the database is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from fhir_api import build_face
from xds_server import __version__, metrics
from xds_server.audit import render_json
from xds_server.audit.dispatch import Dispatcher, Outbox, SmtpMailer
from xds_server.config import DEFAULT_AUDIENCE, Settings
from xds_server.core.blobs import BlobStore
from xds_server.core.errors import XdsError
from xds_server.core.identifiers import canonical_patient_id
from xds_server.core.mailbox import DirectoryEntry
from xds_server.core.policy import ActorKind, PolicyMode
from xds_server.core.profile import DomainProfile
from xds_server.ebxml.codec import encode_object_xml, with_patient_id
from xds_server.feed import FeedService, MllpServer, server_ssl_context
from xds_server.identity import (
    AssertionVerifier,
    JwtSettings,
    SamlSettings,
    TokenVerifier,
    TrustedIssuer,
    TrustStore,
    dev_authority,
    load_certificates,
    load_policy,
)
from xds_server.identity.saml import ReplayStore
from xds_server.identity.trust import load_authorities
from xds_server.logs import RequestIdMiddleware
from xds_server.mailbox.credentials import server_tls_context
from xds_server.mailbox.outbound import MailSender, OutgoingQueue
from xds_server.mailbox.smtp import MailboxListener
from xds_server.portal import mount_portal
from xds_server.soap.endpoints import api as soap_api
from xds_server.soap.router import Router
from xds_server.storage.audit import SqlAuditStore
from xds_server.storage.blobs import SqlDocumentIndex, open_blob_store
from xds_server.storage.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from xds_server.storage.database import Database, configured_database
from xds_server.storage.feed import SqlPatientFeed
from xds_server.storage.gc import sweep_staging
from xds_server.storage.group_commit import GroupCommit
from xds_server.storage.mailbox import SqlMailbox
from xds_server.storage.migrate import refresh_statistics, upgrade
from xds_server.storage.outbox import SqlOutbox
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.professionals import SqlProfessionalDirectory
from xds_server.storage.query_sql import SqlQueryPort
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.registry import SqlRegistryStore
from xds_server.storage.replay import SqlReplayCache
from xds_server.storage.timed_blobs import TimedBlobStore
from xds_server.terminology import load_profile
from xds_server.wiring import (
    AccessControl,
    RecordReader,
    Services,
    TransactionFactory,
    UnitOfWork,
    anonymous_actor,
    policy_mode,
)

log = logging.getLogger(__name__)

DEV_AUTHORITY_WARNING = (
    "the dev authority of the data dir is trusted (--dev / XDS_DEV_AUTHORITY=on): anyone who can read it "
    "can mint any identity; never in production"
)


class SystemClock:
    """Wall-clock time in UTC (the core formats DTM values from it)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Fresh ``urn:uuid:`` ids (UUID version 4)."""

    def new_uuid(self) -> str:
        return f"urn:uuid:{uuid.uuid4()}"


def open_database(settings: Settings) -> Database:
    """The configured database: ``XDS_DATABASE_URL``, else SQLite (WAL) in the data directory, whose WAL the
    server checkpoints in a thread of its own (storage/checkpoint.py), not inside a request's commit."""
    return configured_database(
        settings.database_url,
        settings.data_dir,
        settings.database_schema,
        wal_autocheckpoint=BACKSTOP_PAGES,
    )


def record_reader(connection: Connection) -> RecordReader:
    """Where the DMP rules read a patient's record settings (state, consent, block list, administrators,
    emergency settings, representatives)."""
    return SqlRecordStore(connection)


def unit_of_work_factory(
    database: Database, *, readonly: bool = False, group: GroupCommit | None = None
) -> TransactionFactory:
    """``transaction()`` for the handlers: the SQL ports on one connection, committed when the block ends.
    ``readonly``: a read-only transaction (``Database.transaction(readonly=True)``), for queries and
    retrieves. ``group``: write transactions run as members of its group commits (storage/group_commit.py:
    one savepoint each, answered once their batch is durable)."""

    @contextmanager
    def transaction() -> Iterator[UnitOfWork]:
        opened = group.transaction() if group is not None else database.transaction(readonly=readonly)
        with metrics.timed_database("read" if readonly else "write"), opened as connection:
            records = SqlRecordStore(connection)
            yield UnitOfWork(
                registry=SqlRegistryStore(connection, encode_object_xml),
                patients=SqlPatientDirectory(connection),
                documents=SqlDocumentIndex(connection),
                queries=SqlQueryPort(connection),
                records=records,
                record_settings=records,
                audit=SqlAuditStore(connection, render_json),
                professionals=SqlProfessionalDirectory(connection),
                mailbox=SqlMailbox(connection),
            )

    return transaction


def build_dispatcher(settings: Settings, database: Database) -> Dispatcher | None:
    """The patient notice dispatcher over the configured SMTP relay; None when no XDS_SMTP_HOST is set."""
    if not settings.smtp_host:
        return None

    @contextmanager
    def outbox() -> Iterator[Outbox]:
        with database.transaction() as connection:
            yield SqlOutbox(connection)

    mailer = SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )
    return Dispatcher(
        outbox,
        mailer,
        settings.smtp_from,
        SystemClock(),
        name=f"{settings.audit_observer}-{uuid.uuid4().hex[:8]}",
        domain=settings.audit_observer,
    )


async def dispatch_forever(dispatcher: Dispatcher, interval: float) -> None:
    """The dispatcher inside ``serve``: one outbox pass every ``interval`` seconds, in a worker thread; a
    failing pass (database or relay down) is logged and the next one tries again."""
    while True:
        try:
            report = await run_in_threadpool(dispatcher.run_once)
            if report.sent or report.errors:
                log.info("patient notices: %s", report)
        except Exception:
            log.exception("patient notice dispatch failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


def build_mail_sender(settings: Settings, database: Database, blobs: BlobStore | None) -> MailSender | None:
    """The mailbox's outgoing mail (patient messages, read receipts, delivery reports) over the relay of the
    notices; None when no XDS_SMTP_HOST is set (the mail waits in ``mail_outbox``)."""
    if not settings.smtp_host or blobs is None:
        return None

    @contextmanager
    def queue() -> Iterator[OutgoingQueue]:
        with database.transaction() as connection:
            yield SqlMailbox(connection)

    mailer = SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )
    return MailSender(queue, blobs, mailer, SystemClock())


async def send_mail_forever(sender: MailSender, interval: float) -> None:
    """The mail sender inside ``serve``, like ``dispatch_forever``."""
    while True:
        try:
            report = await run_in_threadpool(sender.run_once)
            if report.sent or report.errors:
                log.info("patient mailbox: %s", report)
        except Exception:
            log.exception("patient mailbox: sending failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


def mailbox_listener(
    settings: Settings, database: Database, services: Services, trust: TrustStore
) -> MailboxListener:
    """The inbound SMTP listener of ``--smtp-port`` (STARTTLS with the server's certificate, or one of the
    test authority while it is trusted, else a self-signed one of the data dir)."""

    def lookup(address: str) -> tuple[DirectoryEntry | None, str | None]:
        with database.transaction(readonly=True) as connection:
            store = SqlMailbox(connection)
            return store.directory_get(address), store.password_hash(address)

    authority = dev_authority.load(settings.data_dir) if trust.dev_authority_trusted() else None
    return MailboxListener(services, lookup, server_tls_context(settings, authority))


def feed_transaction_factory(database: Database) -> Callable[[], AbstractContextManager[SqlPatientFeed]]:
    """The patient identity feed's transaction (ITI-8 and ITI-104): the feed store on one connection."""

    @contextmanager
    def transaction() -> Iterator[SqlPatientFeed]:
        with database.transaction() as connection:
            yield SqlPatientFeed(connection, with_patient_id, audit=SqlAuditStore(connection, render_json))

    return transaction


def feed_service(database: Database, profile: DomainProfile, services: Services | None = None) -> FeedService:
    """ITI-8: each message applied in its own transaction on the feed store (patients and the merge), and
    traced (``services``: the trail's clock, ids and observer; the server always passes them)."""
    return FeedService(feed_transaction_factory(database), profile, services)


def mllp_listener(settings: Settings, feed: FeedService) -> MllpServer:
    """The MLLP listener of ``--mllp-port`` (TLS with the HTTPS certificate options when they are set)."""
    return MllpServer(
        feed.handle,
        feed.framing_error,
        max_bytes=settings.mllp_max_message_bytes,
        idle_timeout=settings.mllp_idle_timeout,
        ssl_context=server_ssl_context(settings),
    )


def refuse_dev_authority_in_production(settings: Settings, profile: DomainProfile) -> None:
    """ValueError when the dev authority is asked for under a production profile (``dmp``)."""
    if settings.dev_authority == "on" and profile.production:
        raise ValueError(
            f"the dev authority (--dev, XDS_DEV_AUTHORITY=on) is never trusted with the production profile "
            f"{settings.profile!r}: use --profile dmp-test or ihe"
        )


def refuse_missing_audience(settings: Settings, profile: DomainProfile) -> None:
    """ValueError when a production profile (``dmp``) has no ``XDS_SAML_AUDIENCE``: a default name would
    accept assertions minted for any other service that happens to use it. The test profiles (``dmp-test``)
    keep ``DEFAULT_AUDIENCE``, the audience the local test authority mints for."""
    if profile.production and not (settings.saml_audience or "").strip():
        raise ValueError(
            f"the production profile {settings.profile!r} needs the audience assertions are issued for: "
            "set XDS_SAML_AUDIENCE (for example the URL of this server)"
        )


def trust_store(settings: Settings, profile: DomainProfile | None = None) -> TrustStore:
    """Configured certificates (``XDS_TRUSTED_CERTS``), token issuers (``XDS_JWT_ISSUERS``) and, when asked
    for, the dev authority present now (ValueError under a production profile)."""
    refuse_dev_authority_in_production(
        settings, profile if profile is not None else load_profile(settings.profile)
    )
    return TrustStore(
        settings.data_dir,
        dev_setting=settings.dev_authority,
        certificates_configured=load_certificates(settings.trusted_certs),
        authorities_configured=load_authorities(settings.trusted_cas, settings.trusted_crls),
        issuers_configured=tuple(
            TrustedIssuer(
                name,
                (issuer.key.read_text(encoding="ascii"),),
                frozenset(ActorKind(kind) for kind in issuer.actors),
            )
            for name, issuer in settings.jwt_issuers.items()
        ),
    )


def build_access(
    settings: Settings, profile: DomainProfile, trust: TrustStore, replay: ReplayStore | None = None
) -> AccessControl:
    """No identity, no transaction: the assertion verifier (SOAP), the bearer-token verifier (FHIR), the
    profile's rule book and, in the ``ihe`` profile only, the anonymous actor named by
    ``XDS_ANONYMOUS_ACTOR``. ``replay``: where used assertions are remembered (``build_services`` passes
    the database's; in memory when omitted)."""
    mode = policy_mode(profile)
    dmp = mode is PolicyMode.DMP
    saml = SamlSettings(
        clock_skew=timedelta(seconds=settings.saml_clock_skew),
        strict_replay=settings.saml_strict_replay,
        require_resource_id=dmp,
        audience=settings.saml_audience or (DEFAULT_AUDIENCE if dmp else None),
        require_audience=dmp,
        max_lifetime=timedelta(seconds=settings.saml_max_lifetime),
    )
    verifier = AssertionVerifier(
        trust.certificates,
        saml,
        canonical_patient=functools.partial(canonical_patient_id, profile=profile),
        replay_cache=replay,
        authorities=trust.authorities,
    )
    tokens = TokenVerifier(
        trust.token_issuers,
        JwtSettings(audience=settings.jwt_audience),
        canonical_patient=functools.partial(canonical_patient_id, profile=profile),
    )
    anonymous = (settings.anonymous_actor or "").strip()
    return AccessControl(
        policy=load_policy(mode, deposit_follows_matrix=settings.deposit_follows_matrix),
        verify_header=verifier.verify_security_header,
        verify_token=tokens.verify,
        anonymous=anonymous_actor(anonymous) if anonymous and mode is PolicyMode.IHE else None,
    )


def build_services(
    settings: Settings,
    database: Database,
    profile: DomainProfile | None = None,
    trust: TrustStore | None = None,
) -> Services:
    """``trust``: the trust store the verifier reads (``create_app`` passes the one its health check reports
    on); built from ``settings`` when omitted."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    profile = profile if profile is not None else load_profile(settings.profile)
    trust = trust if trust is not None else trust_store(settings, profile)
    return Services(
        settings=settings,
        profile=profile,
        transaction=unit_of_work_factory(database, group=GroupCommit(database)),
        clock=SystemClock(),
        ids=RandomIds(),
        blobs=TimedBlobStore(open_blob_store(settings.blob_store, default_dir=settings.blob_dir)),
        access=build_access(settings, profile, trust, SqlReplayCache(database)),
        read_transaction=unit_of_work_factory(database, readonly=True),
        feed_transaction=feed_transaction_factory(database),
    )


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """The server application. Start-up migrates the database; shutdown closes its connections.

    ``database`` replaces the configured one (tests pass theirs; it is then left open at shutdown).
    """
    settings = settings if settings is not None else Settings()
    profile = load_profile(settings.profile)
    trust = trust_store(settings, profile)  # one store: the verifier's and the health check's
    owned = database is None
    database = open_database(settings) if database is None else database
    services = build_services(settings, database, profile, trust=trust)
    feed = feed_service(database, services.profile, services)
    listener = mllp_listener(settings, feed) if settings.mllp_port is not None else None
    smtp = (
        mailbox_listener(settings, database, services, trust)
        if settings.mailbox_smtp_port is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade, database)
        await run_in_threadpool(refresh_statistics, database)
        if services.blobs is not None:
            age = timedelta(seconds=settings.staging_sweep_age)
            swept = await run_in_threadpool(functools.partial(sweep_staging, services.blobs, older_than=age))
            if swept:
                log.info("removed %d staging files left by an earlier process", swept)
        if listener is not None and settings.mllp_port is not None:
            app.state.mllp_port = await listener.start(settings.mllp_host, settings.mllp_port)
            tls = " (TLS)" if settings.tls_cert else ""
            log.info(
                "ITI-8 patient identity feed on mllp://%s:%s%s", settings.mllp_host, app.state.mllp_port, tls
            )
        if smtp is not None and settings.mailbox_smtp_port is not None:
            app.state.smtp_port = await smtp.start(settings.mailbox_smtp_host, settings.mailbox_smtp_port)
            log.info(
                "patient mailbox on smtp://%s:%s (STARTTLS)", settings.mailbox_smtp_host, app.state.smtp_port
            )
        log.info("xds-server %s ready: profile %s, database %s", __version__, settings.profile, database.url)
        dispatcher = build_dispatcher(settings, database)
        mail_sender = build_mail_sender(settings, database, services.blobs)
        tasks = []
        if dispatcher:
            tasks.append(asyncio.create_task(dispatch_forever(dispatcher, settings.notify_interval)))
        if mail_sender:
            tasks.append(asyncio.create_task(send_mail_forever(mail_sender, settings.notify_interval)))
        checkpointer = WalCheckpointer.for_database(database)
        if checkpointer is not None:
            checkpointer.start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if smtp is not None:
                await smtp.close()
            if listener is not None:
                await listener.close()
            if checkpointer is not None:
                await run_in_threadpool(checkpointer.stop)
            if owned:
                database.dispose()

    app = FastAPI(title="xds-server", version=__version__, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)  # X-Request-Id, and the id on every log line of the request
    app.state.settings = settings
    app.state.database = database
    app.state.services = services
    app.state.trust = trust
    app.state.feed = feed
    app.state.mllp_port = None
    app.state.smtp_port = None
    app.state.soap_router = Router(services)
    app.include_router(soap_api)
    fhir_face = build_face()
    app.state.fhir_face = fhir_face
    app.include_router(fhir_face.router)
    mount_portal(app, services, trust)  # « Mon espace santé » on /espace-sante/, and GET / to it

    @app.get("/metrics", tags=["operations"])
    def prometheus_metrics() -> Response:
        """Prometheus exposition: requests by transaction and outcome, latency, refusals by reason, blob store
        and database timings (xds_server/metrics.py)."""
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """200 with the profile and database backend once the database answers; 503 otherwise."""
        status, code = "ok", 200
        try:
            database.ping()
        except XdsError:
            log.exception("health check: database unavailable")
            status, code = "database unavailable", 503
        body: dict[str, Any] = {
            "status": status,
            "version": __version__,
            "profile": settings.profile,
            "database": database.dialect_name,
        }
        if trust.dev_authority_trusted():
            body["warnings"] = [DEV_AUTHORITY_WARNING]
        return JSONResponse(body, status_code=code)

    return app


__all__ = [
    "RandomIds",
    "SystemClock",
    "build_access",
    "build_dispatcher",
    "build_mail_sender",
    "build_services",
    "create_app",
    "feed_service",
    "feed_transaction_factory",
    "mailbox_listener",
    "mllp_listener",
    "open_database",
    "record_reader",
    "refuse_dev_authority_in_production",
    "trust_store",
    "unit_of_work_factory",
]
