"""What transaction handlers receive and return.

Handlers never pick a database, a blob store or a clock: ``app.py`` builds one ``Services`` at start with the
concrete adapters and the router passes it to every handler. The unit of work is the request's transaction:

    with services.transaction() as work:      # one database transaction
        register(submission, store=work.registry, ...)
    # the block committed here; an exception inside rolled everything back (and left as XdsError when it
    # came from the database)

Queries and retrieves read only: the router hands their handlers ``services.for_reading()``, whose
``transaction()`` opens a read-only transaction (``read_transaction``: on SQLite a deferred BEGIN that neither
waits for nor blocks the writer, on PostgreSQL a ``REPEATABLE READ READ ONLY`` snapshot), so they never queue
behind a submission holding the SQLite write lock. Such a handler must not write: PostgreSQL refuses it, and
SQLite would take the write lock halfway through (and fail with XDSRegistryBusy if a writer committed first).

A handler answers with a ``Reply``: the response body element (the router wraps it in the envelope with the
response action) and, for MTOM answers, the parts its ``xop:Include`` elements point at
(``soap.mtom.OutgoingPart``: streamed from the blob store when the answer is written).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from xds_server.config import Settings
from xds_server.core.blobs import BlobStore, DocumentIndex
from xds_server.core.ports import Clock, IdFactory, PatientDirectory, RegistryStore
from xds_server.core.profile import DomainProfile
from xds_server.core.query.port import QueryPort
from xds_server.soap.mtom import OutgoingPart
from xds_server.soap.security import AccessControl, RecordReader


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """The ports bound to one open database transaction."""

    registry: RegistryStore
    patients: PatientDirectory
    #: the repository's reads of the registry (ITI-43: which stored document a uniqueId names)
    documents: DocumentIndex
    #: the stored-query reads (ITI-18 / ITI-51); app.py always sets it (optional only for test doubles)
    queries: QueryPort | None = None
    #: the patient record settings the DMP rules read (soap.access); app.py always sets it
    records: RecordReader | None = None


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
    #: identity and policy (soap.security): the router refuses every request when it is missing
    access: AccessControl | None = None
    #: read-only transactions for the read-only routes (``for_reading``); None: ``transaction`` serves them
    read_transaction: TransactionFactory | None = None

    def for_reading(self) -> Services:
        """These services with ``transaction`` opening a read-only transaction (when one is configured)."""
        if self.read_transaction is None:
            return self
        return dataclasses.replace(self, transaction=self.read_transaction)

    @property
    def spool_dir(self) -> Path:
        """Where MTOM parts are spooled while a request is read (the blob store's staging folder, so that
        storing a document is a rename)."""
        if self.blobs is not None:
            return self.blobs.staging_dir
        return self.settings.data_dir / "spool"


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer: the response body element and the parts it references (MTOM only)."""

    body: etree._Element
    parts: Sequence[OutgoingPart] = ()


__all__ = ["Reply", "Services", "TransactionFactory", "UnitOfWork"]
