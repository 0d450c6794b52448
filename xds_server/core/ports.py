"""Ports: what the core needs from the outside world, as Protocols. Adapters (storage, blob stores, audit)
implement them; tests use the in-memory fakes in tests/fakes.py.

The request owns the transaction: a use case receives a ``RegistryStore`` bound to one open database
transaction and never commits; the adapter commits after the use case returns, or rolls back on any error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from xds_server.core.metadata import AnyObject, Association, DocumentEntry, ObjectKind

if TYPE_CHECKING:  # core.audit reads core.policy, which reads this module (core.patient_feed too)
    from xds_server.core.audit import AuditRecord, Notice, PatientNotice, StoredTrace, TrailQuery
    from xds_server.core.patient_feed import StoredPatient


class PatientState(StrEnum):
    """State of a patient's record (DMP): created automatically, activated by the patient, opposed, closed."""

    CREATED = "created"
    ACTIVATED = "activated"
    OPPOSED = "opposed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """The registry's index row for one stored object: enough to check references without its XML."""

    entry_uuid: str
    kind: ObjectKind
    status: str
    patient_id: str | None
    logical_id: str
    version: int
    unique_id: str | None = None
    association_type: str | None = None
    source: str | None = None
    target: str | None = None
    #: DocumentEntries: stable or on-demand (Metadata Update may not change it)
    object_type: str | None = None


@dataclass(frozen=True, slots=True)
class StoredDocumentIdentity:
    """What uniqueId resubmission rules compare (ITI TF-3 4.2.3.2.26: identical hash and size)."""

    entry_uuid: str
    unique_id: str
    hash: str | None
    size: str | None


class RegistryReader(Protocol):
    def patient_state(self, patient_id: str) -> PatientState | None: ...

    def summaries(self, entry_uuids: Collection[str]) -> dict[str, ObjectSummary]: ...

    def documents_by_unique_id(self, unique_ids: Collection[str]) -> list[StoredDocumentIdentity]: ...

    def package_unique_ids_in_use(self, unique_ids: Collection[str]) -> set[str]:
        """SubmissionSet and Folder uniqueIds among ``unique_ids`` that the registry already holds."""
        ...

    def associations_touching(
        self, entry_uuids: Collection[str], types: Collection[str] | None = None
    ) -> list[ObjectSummary]:
        """Associations whose source or target is one of ``entry_uuids`` (optionally of the given types)."""
        ...

    def lock_patient(self, patient_id: str) -> None:
        """Serialise this transaction with a merge of ``patient_id`` (patient identity feed) until it ends.

        Writers call it first, before any other lock or read: a merge that locked the patient first runs
        wholly before (the writer then finds the id merged, hence unknown), otherwise wholly after (and moves
        what the writer stored). Concurrent writers of one patient do not block each other."""
        ...

    def lock(self, entry_uuids: Collection[str], unique_ids: Collection[str]) -> None:
        """Serialise this transaction with every concurrent one that locks one of the same stored objects or
        uniqueIds, until it ends; reads made afterwards see what those transactions committed.

        Planners call it before the reads their decisions rest on (ITI-42/41: before any read; ITI-57: after
        finding the latest versions, then they read again): two submissions that both replace (or append to,
        or file) one entry, or both register one uniqueId, then run one after the other instead of both
        passing their checks on the same snapshot. Unknown ids lock nothing (a uniqueId is locked even when
        unused).
        """
        ...


class RegistryWriter(Protocol):
    def add_objects(self, objects: Sequence[AnyObject]) -> None:
        """Insert new objects whose ids, lids, versions and statuses are final."""
        ...

    def set_status(self, entry_uuids: Collection[str], status: str) -> None: ...

    def touch_folders(self, folder_uuids: Collection[str], last_update_time: str) -> None: ...


class RegistryStore(RegistryReader, RegistryWriter, Protocol):
    """Reader and writer bound to the same open transaction."""


@runtime_checkable
class VersionedRegistryStore(RegistryStore, Protocol):
    """What Metadata Update (ITI-57) and Delete Document Set (ITI-62) need beyond registration."""

    def latest_versions(self, logical_ids: Collection[str]) -> dict[str, ObjectSummary]:
        """The highest version of each logical id (lid) the registry holds; unknown lids are absent."""
        ...

    def remove_objects(self, entry_uuids: Collection[str]) -> None:
        """Delete the given objects (every row and side row) for good."""
        ...


class PatientDirectory(Protocol):
    def add(self, patient_id: str, state: PatientState) -> None: ...

    def set_state(self, patient_id: str, state: PatientState) -> None: ...

    def get(self, patient_id: str) -> PatientState | None:
        """The state of the record of this (canonical) patient id; None when the registry does not know it."""
        ...

    def birth_date(self, patient_id: str) -> date | None:
        """The recorded birth date (None when unknown or not recorded)."""
        ...

    def stored(self, patient_id: str) -> StoredPatient | None:
        """The patient as the identity feed left him (state, demographics, cross-references); None when
        unknown or merged into another (a merged id names no patient)."""
        ...

    def list(self) -> Iterable[tuple[str, PatientState]]: ...


class AuditSink(Protocol):
    """The access trail and the patient notification outbox, bound to one open transaction (append-only:
    nothing here changes or deletes a trace). A failing sink fails the transaction it is part of."""

    def append(self, record: AuditRecord) -> None:
        """Store one transaction's trace."""
        ...

    def accessed_before(self, patient_id: str, agent_id: str) -> bool:
        """Whether this agent already has a successful trace on this patient's record."""
        ...

    def enqueue(self, notice: Notice) -> None:
        """Put one patient notice in the outbox (delivered later by the dispatcher)."""
        ...

    def search(self, query: TrailQuery, *, offset: int, limit: int) -> tuple[list[StoredTrace], bool]:
        """One page of the traces matching ``query`` (newest first) and whether more follow."""
        ...

    def hidden_documents(self, patient_id: str, code_keys: Collection[str]) -> set[str]:
        """Ids (uniqueId, entryUUID) of the patient's current documents carrying one of ``code_keys``."""
        ...

    def notices(self, patient_id: str, *, limit: int) -> list[PatientNotice]:
        """The patient's notices, newest first (the portal's notification list)."""
        ...

    def professionals_who_accessed(self, patient_id: str) -> list[tuple[str, datetime, int]]:
        """(national id, last access, number of accesses) of each professional with a successful trace
        on this record, most recent first."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdFactory(Protocol):
    def new_uuid(self) -> str:
        """A fresh ``urn:uuid:`` id."""
        ...


__all__ = [
    "Association",
    "AuditSink",
    "Clock",
    "DocumentEntry",
    "IdFactory",
    "ObjectSummary",
    "PatientDirectory",
    "PatientState",
    "RegistryReader",
    "RegistryStore",
    "RegistryWriter",
    "StoredDocumentIdentity",
    "VersionedRegistryStore",
]
