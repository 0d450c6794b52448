"""The access trail: what one transaction did to a patient's record, and the notices it owes the patient.

Theory of operation (issue 11; dmp-rules.md §(a) 6 and §(e); mhd-fhir.md §4, IHE BALP). Every transaction,
allowed or refused, leaves exactly one ``AuditRecord``. A protocol face opens a ``Trail`` per request; the
handler (through the DMP rules in ``wiring.access``, which see every patient and document a transaction
touches) notes on it what it touched; the face's hook turns the trail into a record with the outcome it
answered and hands it to the ``AuditSink`` of the unit of work: in the very transaction of a change (so no
change is committed without its trace, and no trace claims a change that rolled back), or, for a read or a
refusal, in a transaction of its own committed before the answer leaves (fail closed: no trace, no answer).

The record keeps facts, not a rendering: ``xds_server.audit`` turns it into a FHIR R4 AuditEvent. The
notification rules (``notices_for``) are pure: the patient is told of a professional's first access to his
record, of every emergency access (mode and reason), and of every new document except those hidden from him
(INVISIBLE_PATIENT) and, for a minor, those hidden from his representatives (who read his mail).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Final

from xds_server.core.policy import AccessContext, ActorKind
from xds_server.core.policy.record import INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX


class AuditOutcome(IntEnum):
    """FHIR audit-event-outcome: 0 success, 4 minor failure, 8 serious failure, 12 major failure."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


class AuditAction(StrEnum):
    """FHIR audit-event-action."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str


DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
REST_TYPE: Final = Coding(
    "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation"
)
IHE_EVENT: Final = "urn:ihe:event-type-code"
PATIENT_API: Final = "PATIENT-API"  # our own subtype for the patient's settings and trail API
PATIENT_MAILBOX: Final = "PATIENT-MAILBOX"  # our own subtype for the patient's secure mailbox
LOCAL_EVENT: Final = "urn:xds-server:event-type"
_IMPORT = Coding(DCM, "110107", "Import")
_EXPORT = Coding(DCM, "110106", "Export")
_QUERY = Coding(DCM, "110112", "Query")
_PATIENT_RECORD = Coding(DCM, "110110", "Patient Record")
_SOURCE_ROLE = Coding(DCM, "110153", "Source Role ID")
_DESTINATION_ROLE = Coding(DCM, "110152", "Destination Role ID")


@dataclass(frozen=True, slots=True)
class EventKind:
    """The AuditEvent shape of one IHE transaction: type, subtypes, action, and the roles of the client and
    of this server (DICOM/IHE: the party the data flows from is the Source; queries keep the client as the
    Source, their parameters flowing to us)."""

    transaction: str
    type: Coding
    action: AuditAction
    client_role: Coding
    server_role: Coding
    rest_subtype: str | None = None  # restful-interaction code (FHIR transactions)

    @property
    def subtypes(self) -> tuple[Coding, ...]:
        codes = []
        if self.rest_subtype is not None:
            codes.append(
                Coding("http://hl7.org/fhir/restful-interaction", self.rest_subtype, self.rest_subtype)
            )
        if self.transaction.startswith("ITI-"):
            codes.append(Coding(IHE_EVENT, self.transaction, self.transaction))
        elif self.transaction == PATIENT_API:
            codes.append(Coding(LOCAL_EVENT, self.transaction, "patient record settings"))
        elif self.transaction == PATIENT_MAILBOX:
            codes.append(Coding(LOCAL_EVENT, self.transaction, "patient secure mailbox"))
        return tuple(codes)


def _kind(
    transaction: str,
    type_: Coding,
    action: AuditAction,
    *,
    serves_data: bool = False,
    rest: str | None = None,
) -> EventKind:
    client, server = (_DESTINATION_ROLE, _SOURCE_ROLE) if serves_data else (_SOURCE_ROLE, _DESTINATION_ROLE)
    return EventKind(transaction, type_, action, client, server, rest)


#: {IHE transaction: its AuditEvent shape} (ITI TF-2 "Security Considerations" of each transaction; MHD 4.2
#: audit profiles for the FHIR ones).
EVENT_KINDS: Final[Mapping[str, EventKind]] = {
    "ITI-41": _kind("ITI-41", _IMPORT, AuditAction.CREATE),
    "ITI-42": _kind("ITI-42", _IMPORT, AuditAction.CREATE),
    "ITI-43": _kind("ITI-43", _EXPORT, AuditAction.READ, serves_data=True),
    # Patient Identity Feed (ITI TF-2 3.8.5.1.1): Patient Record, C for A01/A04/A05, U for A08/A40 (the
    # record's ``action`` says which; C is the default for a message that was not understood)
    "ITI-8": _kind("ITI-8", _PATIENT_RECORD, AuditAction.CREATE),
    "ITI-18": _kind("ITI-18", _QUERY, AuditAction.EXECUTE),
    "ITI-51": _kind("ITI-51", _QUERY, AuditAction.EXECUTE),
    "ITI-57": _kind("ITI-57", _PATIENT_RECORD, AuditAction.UPDATE),
    "ITI-62": _kind("ITI-62", _PATIENT_RECORD, AuditAction.DELETE),
    "ITI-65": _kind("ITI-65", _IMPORT, AuditAction.CREATE),
    "ITI-66": _kind("ITI-66", REST_TYPE, AuditAction.EXECUTE, rest="search-type"),
    "ITI-67": _kind("ITI-67", REST_TYPE, AuditAction.EXECUTE, rest="search-type"),
    "ITI-68": _kind("ITI-68", REST_TYPE, AuditAction.READ, serves_data=True, rest="read"),
    "ITI-78": _kind("ITI-78", REST_TYPE, AuditAction.EXECUTE, rest="search-type"),
    "ITI-104": _kind("ITI-104", REST_TYPE, AuditAction.UPDATE, rest="update"),
    "ITI-81": _kind("ITI-81", REST_TYPE, AuditAction.EXECUTE, rest="search-type"),
    "ITI-90": _kind("ITI-90", REST_TYPE, AuditAction.EXECUTE, rest="search-type"),
    PATIENT_API: _kind(PATIENT_API, REST_TYPE, AuditAction.UPDATE, rest="patch"),
    PATIENT_MAILBOX: _kind(PATIENT_MAILBOX, REST_TYPE, AuditAction.EXECUTE),
    # any other FHIR interaction
    "REST": _kind("REST", REST_TYPE, AuditAction.EXECUTE),
}


class EntityRole(StrEnum):
    """What an AuditEvent entity is (mapped to audit-entity-type / object-role by xds_server.audit)."""

    PATIENT = "patient"
    DOCUMENT = "document"
    SUBMISSION_SET = "submission_set"
    QUERY = "query"
    TOKEN = "token"  # the credential's id (assertion ID, token jti), never the credential
    REQUEST_ID = "request_id"  # wsa:MessageID / X-Request-Id
    SETTING = "setting"  # a record setting the patient changed (Consent/blocked-IDNPS ...)


@dataclass(frozen=True, slots=True)
class AuditEntity:
    role: EntityRole
    identifier: str
    #: DocumentEntry confidentialityCodes as ``code^^scheme`` keys (decides what the patient may see)
    security_labels: tuple[str, ...] = ()
    #: the raw query (bytes as received), for QUERY entities; rendered base64
    query: bytes | None = None
    description: str | None = None
    #: DICOM ObjectLifecycle code (dicom-audit-lifecycle: 1 creation, 3 amendment, 14 logical deletion)
    lifecycle: str | None = None

    @property
    def query_base64(self) -> str | None:
        return base64.b64encode(self.query).decode("ascii") if self.query is not None else None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client application and its connection: LPS name/version (from the credential), the TLS client
    certificate's subject and the peer address."""

    lps_name: str | None = None
    lps_version: str | None = None
    tls_subject: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One transaction's trace: the facts an AuditEvent is rendered from and the trail is searched by."""

    event_id: str
    transaction: str
    recorded: datetime
    outcome: AuditOutcome
    #: the errors of a failed transaction (IHE code and text), empty on success
    outcome_description: str | None
    actor: AccessContext | None
    client: ClientInfo
    #: the observer: this server (its name as configured)
    observer: str
    patient_id: str | None
    entities: tuple[AuditEntity, ...] = ()
    #: the documents the transaction created (new DocumentEntries), for the new-document notice
    created_documents: tuple[str, ...] = ()
    #: the action when the transaction's kind does not fix it (ITI-8: create or update)
    action: AuditAction | None = None

    @property
    def kind(self) -> EventKind:
        return EVENT_KINDS.get(self.transaction) or EVENT_KINDS["REST"]

    @property
    def event_action(self) -> AuditAction:
        return self.action or self.kind.action

    @property
    def agent_id(self) -> str | None:
        return self.actor.national_id if self.actor is not None else None

    def documents(self) -> tuple[AuditEntity, ...]:
        return tuple(e for e in self.entities if e.role is EntityRole.DOCUMENT)


@dataclass(slots=True)
class Trail:
    """What one request touched, noted while it runs (mutable; one per request, never shared)."""

    transaction: str
    patient_ids: list[str] = field(default_factory=list)
    documents: dict[str, AuditEntity] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    others: list[AuditEntity] = field(default_factory=list)
    #: what the transaction did to each patient (the feed: created, amended, merged away)
    patient_lifecycles: dict[str, str] = field(default_factory=dict)
    #: the action when the transaction's kind does not fix it (AuditRecord.action)
    action: AuditAction | None = None

    def patient(self, patient_id: str | None, *, lifecycle: str | None = None) -> None:
        if patient_id and patient_id not in self.patient_ids:
            self.patient_ids.append(patient_id)
        if patient_id and lifecycle:
            self.patient_lifecycles[patient_id] = lifecycle

    def document(
        self, unique_id: str | None, security_labels: Sequence[str] = (), *, created: bool = False
    ) -> None:
        if not unique_id:
            return
        self.documents[unique_id] = AuditEntity(EntityRole.DOCUMENT, unique_id, tuple(security_labels))
        if created and unique_id not in self.created:
            self.created.append(unique_id)

    def entity(self, entity: AuditEntity) -> None:
        if entity not in self.others:
            self.others.append(entity)

    def entities(self) -> tuple[AuditEntity, ...]:
        patients = tuple(
            AuditEntity(EntityRole.PATIENT, p, lifecycle=self.patient_lifecycles.get(p))
            for p in self.patient_ids
        )
        return (*patients, *self.documents.values(), *self.others)


class NoticeKind(StrEnum):
    FIRST_ACCESS = "first_access"
    EMERGENCY_ACCESS = "emergency_access"
    NEW_DOCUMENT = "new_document"
    NEW_MESSAGE = "new_message"  # a message in his secure mailbox (issue 16)


@dataclass(frozen=True, slots=True)
class Notice:
    """One message the patient is owed (written to the outbox with its cause)."""

    patient_id: str
    kind: NoticeKind
    event_id: str
    #: the facts the message states (professional, mode, reason, document): plain strings
    facts: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PatientNotice:
    """A notice as the patient's notification list shows it: what, when, and whether it left by e-mail
    (``state``: pending, sending, sent, failed, no_address, uncertain)."""

    kind: str
    facts: Mapping[str, str]
    created_at: datetime
    state: str
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """An outbox row as the dispatcher sees it once claimed."""

    id: int
    patient_id: str
    kind: str
    event_id: str
    facts: Mapping[str, str]
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class StoredTrace:
    """One trace as the trail holds it: the indexed facts and the AuditEvent JSON as recorded."""

    event_id: str
    recorded: datetime
    transaction: str
    outcome: int
    patient_id: str | None
    resource: str

    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.resource)
        return loaded


@dataclass(frozen=True, slots=True)
class TrailQuery:
    """A search of the trail (ITI-81 parameters, already resolved): every given criterion must hold.

    ``patients`` None: any patient (an auditor); a tuple: only those records (empty: nothing at all).
    ``patient_view``: only what the patient sees (successful transactions of professionals), never the
    traces naming one of ``hidden`` (documents currently hidden from him)."""

    patients: tuple[str, ...] | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    transactions: tuple[str, ...] = ()  # subtype codes (ITI-18 ...), OR
    types: tuple[str, ...] = ()  # type codes (110112, rest ...), OR
    outcomes: tuple[int, ...] = ()
    agents: tuple[str, ...] = ()  # the user's national id, OR
    entities: tuple[str, ...] = ()  # an entity identifier (document uniqueId ...), OR
    patient_view: bool = False
    hidden: frozenset[str] = frozenset()


def notices_for(record: AuditRecord, *, first_access: bool, minor: bool) -> list[Notice]:
    """The notices a successful professional's transaction owes the patient (dmp-rules.md §(a) 6 and 8).

    ``first_access``: this professional never touched this record before (the sink knows). ``minor``: the
    record is a minor's, whose mail his representatives read: documents hidden from them are not announced.
    """
    actor = record.actor
    if (
        record.outcome is not AuditOutcome.SUCCESS
        or record.patient_id is None
        or actor is None
        or actor.actor_kind is not ActorKind.PROFESSIONAL
    ):
        return []
    who = {"professional": actor.national_id, "name": actor.name or "", "structure": actor.structure_id or ""}
    notices: list[Notice] = []
    if first_access:
        notices.append(Notice(record.patient_id, NoticeKind.FIRST_ACCESS, record.event_id, who))
    if actor.access_mode.is_emergency:
        facts = {**who, "mode": actor.access_mode.value, "reason": actor.reason or ""}
        notices.append(Notice(record.patient_id, NoticeKind.EMERGENCY_ACCESS, record.event_id, facts))
    hidden = {INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX} if minor else {INVISIBLE_PATIENT}
    labels = {e.identifier: e.security_labels for e in record.documents()}
    for unique_id in record.created_documents:
        if hidden.isdisjoint(labels.get(unique_id, ())):
            facts = {**who, "document": unique_id}
            notices.append(Notice(record.patient_id, NoticeKind.NEW_DOCUMENT, record.event_id, facts))
    return notices


__all__ = [
    "EVENT_KINDS",
    "PATIENT_API",
    "PATIENT_MAILBOX",
    "AuditAction",
    "AuditEntity",
    "AuditOutcome",
    "AuditRecord",
    "ClientInfo",
    "Coding",
    "EntityRole",
    "EventKind",
    "Notice",
    "NoticeKind",
    "PatientNotice",
    "QueuedNotice",
    "StoredTrace",
    "Trail",
    "TrailQuery",
    "notices_for",
]
