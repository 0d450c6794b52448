"""What transaction handlers receive, whatever the protocol face (SOAP or FHIR).

Handlers never pick a database, a blob store or a clock: ``app.py`` builds one ``Services`` at start with the
concrete adapters, and the SOAP router and the FHIR routes pass it to every handler. The unit of work is the
request's transaction:

    with services.transaction() as work:      # one database transaction
        register(submission, store=work.registry, ...)
    # the block committed here; an exception inside rolled everything back (and left as XdsError when it
    # came from the database)

Queries and retrieves read only: the router hands their handlers ``services.for_reading()``, whose
``transaction()`` opens a read-only transaction (``read_transaction``: on SQLite a deferred BEGIN that neither
waits for nor blocks the writer, on PostgreSQL a ``REPEATABLE READ READ ONLY`` snapshot), so they never queue
behind a submission holding the SQLite write lock. Such a handler must not write: PostgreSQL refuses it, and
SQLite would take the write lock halfway through (and fail with XDSRegistryBusy if a writer committed first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from xds_server.config import Settings
from xds_server.core.audit import Trail
from xds_server.core.blobs import BlobStore, DocumentIndex
from xds_server.core.mailbox import MailboxStore
from xds_server.core.patient_feed import PatientFeedStore
from xds_server.core.policy import AccessContext, ActorKind, Policy, PolicyMode, RecordSettings
from xds_server.core.ports import AuditSink, Clock, IdFactory, PatientDirectory, RegistryStore
from xds_server.core.professionals import Professional, ProfessionalSearch
from xds_server.core.profile import DomainProfile
from xds_server.core.query.engine import QuerySettings
from xds_server.core.query.port import QueryPort


class RecordReader(Protocol):
    """The patient record settings the rules read (``storage.records.SqlRecordStore`` in production)."""

    def load(self, patient_id: str, today: date) -> RecordSettings | None: ...

    def records_represented_by(self, representative_id: str) -> frozenset[str]: ...

    def representatives(self, limit: int = 1000) -> list[str]: ...


def policy_mode(profile: DomainProfile) -> PolicyMode:
    """The rule book a profile says it uses (its file's ``policy`` key), never guessed from its name."""
    return PolicyMode(profile.policy)


def anonymous_actor(name: str) -> AccessContext:
    """The actor unauthenticated requests run as in the ``ihe`` profile (``XDS_ANONYMOUS_ACTOR``)."""
    return AccessContext(ActorKind.SYSTEM, name.strip(), issuer="XDS_ANONYMOUS_ACTOR")


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class AccessControl:
    """Identity and policy, built once by ``app.py`` and carried by ``Services.access``: the rule book, the
    credential verifiers of each face, and (``ihe`` profile only) the actor anonymous requests run as.

    ``verify_header`` (SOAP: the wsse:Security blocks -> actor) and ``verify_token`` (FHIR: a bearer token ->
    actor) raise ``identity.IdentityError``; a face whose verifier is None refuses every request.
    ``anonymous`` is honoured only when the policy runs in IHE mode. ``today`` dates the record settings (a
    minor is one on that day)."""

    policy: Policy
    verify_header: Callable[[Sequence[Any]], AccessContext] | None = None
    verify_token: Callable[[str], AccessContext] | None = None
    anonymous: AccessContext | None = None
    today: Callable[[], date] = _today

    @property
    def enforces_dmp(self) -> bool:
        return self.policy.mode is PolicyMode.DMP

    @property
    def anonymous_actor(self) -> AccessContext | None:
        """The actor a request without credentials runs as, when the profile admits one (never in DMP)."""
        return self.anonymous if not self.enforces_dmp else None


class RecordSettingsWriter(Protocol):
    """The writes of ``storage.records.SqlRecordStore`` the patient may make."""

    def authorize(self, patient_id: str, professional_id: str) -> None: ...

    def revoke(self, patient_id: str, professional_id: str) -> bool: ...

    def block(self, patient_id: str, professional_id: str) -> None: ...

    def unblock(self, patient_id: str, professional_id: str) -> bool: ...

    def revoke_administrator(self, patient_id: str, professional_id: str) -> bool: ...

    def contact_email(self, patient_id: str) -> str | None: ...

    def set_contact_email(self, patient_id: str, email: str | None) -> None: ...

    def set_settings(
        self,
        patient_id: str,
        *,
        samu: bool | None = None,
        break_glass: bool | None = None,
        administrator: str | None = None,
        medecin_traitant: str | None = None,
    ) -> None: ...


class AuditedFeedStore(PatientFeedStore, Protocol):
    """The feed store of one transaction with the access trail of the same transaction (so a feed's trace
    commits or rolls back with the change it traces)."""

    @property
    def audit(self) -> AuditSink | None: ...


class ProfessionalDirectory(Protocol):
    """The professional directory (``storage.professionals.SqlProfessionalDirectory``)."""

    def search(self, search: ProfessionalSearch, *, limit: int) -> tuple[list[Professional], bool]: ...

    def get(self, national_id: str) -> Professional | None: ...


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """The ports bound to one open database transaction."""

    registry: RegistryStore
    patients: PatientDirectory
    #: the repository's reads of the registry (ITI-43: which stored document a uniqueId names)
    documents: DocumentIndex
    #: the stored-query reads (ITI-18 / ITI-51); app.py always sets it (optional only for test doubles)
    queries: QueryPort | None = None
    #: the patient record settings the DMP rules read (wiring.access); app.py always sets it
    records: RecordReader | None = None
    #: the access trail and notification outbox on this transaction (wiring.audit writes it); app.py sets it
    audit: AuditSink | None = None
    #: the patient's own record settings (wiring.record_settings); app.py sets it
    record_settings: RecordSettingsWriter | None = None
    #: the professional directory patients find professionals in (wiring.professionals); app.py sets it
    professionals: ProfessionalDirectory | None = None
    #: what the current request touched, noted by the DMP rules (wiring.access) for its trace; set by the
    #: face's audit hook (wiring.audit.RequestAudit) on the transactions it hands the handler
    trail: Trail | None = None
    #: the patient's secure mailbox (issue 16: xds_server.mailbox); app.py sets it
    mailbox: MailboxStore | None = None


#: Opens a transaction; commits when the block ends normally, rolls back on any exception.
TransactionFactory = Callable[[], AbstractContextManager[UnitOfWork]]


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler may use; built once by the composition root (app.py)."""

    settings: Settings
    #: the affinity-domain profile (``xds_server.terminology.load_profile(settings.profile)``)
    profile: DomainProfile
    transaction: TransactionFactory
    clock: Clock
    ids: IdFactory
    #: the repository's document store (ITI-41/43); its ``staging_dir`` also receives MTOM parts
    blobs: BlobStore | None = None
    #: identity and policy: both faces refuse every request when it is missing
    access: AccessControl | None = None
    #: read-only transactions for the read-only routes (``for_reading``); None: ``transaction`` serves them
    read_transaction: TransactionFactory | None = None
    #: the patient identity feed's transaction (core.patient_feed on storage); None: no feed on this server
    feed_transaction: Callable[[], AbstractContextManager[AuditedFeedStore]] | None = None

    def for_reading(self) -> Services:
        """These services with ``transaction`` opening a read-only transaction (when one is configured)."""
        if self.read_transaction is None:
            return self
        return dataclasses.replace(self, transaction=self.read_transaction)

    @property
    def query_settings(self) -> QuerySettings:
        """The stored-query engine's settings, the same for every face (ITI-18, ITI-51, and the FHIR
        searches compiled to it): the result cap, the ITI-51 switch, and the profile whose canonical patient
        ids the queries read (the spelling the submission path stores)."""
        return QuerySettings(
            max_results=self.settings.query_result_limit,
            multi_patient_enabled=self.settings.multi_patient_query,
            profile=self.profile,
        )

    @property
    def spool_dir(self) -> Path:
        """Where MTOM parts are spooled while a request is read (the blob store's staging folder, so that
        storing a document is a rename)."""
        if self.blobs is not None:
            return self.blobs.staging_dir
        return self.settings.data_dir / "spool"


__all__ = [
    "AccessControl",
    "AuditedFeedStore",
    "ProfessionalDirectory",
    "RecordReader",
    "RecordSettingsWriter",
    "Services",
    "TransactionFactory",
    "UnitOfWork",
    "anonymous_actor",
    "policy_mode",
]
