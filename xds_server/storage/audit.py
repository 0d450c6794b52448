"""SqlAuditStore: the ``AuditSink`` port (access trail + notification outbox) and the trail's reads.

Theory of operation. The store is bound to the caller's open transaction and never commits: a trace
written next to a change commits or rolls back with it. The trail is append-only: this module has no
UPDATE or DELETE on ``audit_event`` / ``audit_entity``, and the migration's triggers refuse them anyway.
``render`` (``xds_server.audit.render_json``, passed in by the composition root like the ebRIM encoder of
the registry store) turns a record into the stored FHIR AuditEvent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, select

from xds_server.core.audit import AuditOutcome as _Outcome
from xds_server.core.audit import AuditRecord, Notice, PatientNotice, StoredTrace, TrailQuery
from xds_server.core.policy import ActorKind
from xds_server.core.ports import Clock
from xds_server.core.vocabulary import Status
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.tables import (
    audit_entity,
    audit_event,
    document_code,
    document_entry,
    notification,
    patient_setting,
)

__all__ = ["SqlAuditStore", "StoredEvent", "contact_email", "documents_hidden_from", "set_contact_email"]

_e = audit_event.c
_ACCESSED_BEFORE = select(
    exists().where(
        and_(
            _e.patient_id == bindparam("pid"),
            _e.agent_id == bindparam("agent"),
            _e.outcome == int(_Outcome.SUCCESS),
        )
    )
)
_INSERT_EVENT = insert(audit_event)
_INSERT_ENTITY = insert(audit_entity)
_INSERT_NOTICE = insert(notification)

#: The trail's rows (the core's type).
StoredEvent = StoredTrace


class SqlAuditStore:
    """The trail and the outbox on one open transaction."""

    def __init__(
        self, connection: Connection, render: Callable[[AuditRecord], str], clock: Clock | None = None
    ) -> None:
        self._connection = connection
        self._render = render
        self._clock = clock

    def append(self, record: AuditRecord) -> None:
        actor = record.actor
        with translate_db_errors():
            self._connection.execute(
                _INSERT_EVENT,
                {
                    "event_id": record.event_id,
                    "recorded": record.recorded,
                    "transaction": record.transaction,
                    "type_code": record.kind.type.code,
                    "action": record.event_action.value,
                    "outcome": int(record.outcome),
                    "patient_id": record.patient_id,
                    "agent_id": record.agent_id,
                    "agent_kind": actor.actor_kind.value if actor is not None else None,
                    "access_mode": actor.access_mode.value if actor is not None else None,
                    "resource": self._render(record),
                },
            )
            rows = [
                {
                    "event_id": record.event_id,
                    "position": position,
                    "role": entity.role.value,
                    "identifier": entity.identifier[:256],
                }
                for position, entity in enumerate(record.entities)
            ]
            if rows:
                self._connection.execute(_INSERT_ENTITY, rows)

    def accessed_before(self, patient_id: str, agent_id: str) -> bool:
        with translate_db_errors():
            return bool(
                self._connection.execute(_ACCESSED_BEFORE, {"pid": patient_id, "agent": agent_id}).scalar()
            )

    def enqueue(self, notice: Notice) -> None:
        with translate_db_errors():
            now = self._now()
            self._connection.execute(
                _INSERT_NOTICE,
                {
                    "patient_id": notice.patient_id,
                    "kind": notice.kind.value,
                    "event_id": notice.event_id,
                    "facts": json.dumps(dict(notice.facts), ensure_ascii=False, sort_keys=True),
                    "created_at": now,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                },
            )

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    # -- reads (export, statement, searches) ------------------------------------------------------------

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        patient_id: str | None = None,
        batch: int = 1000,
    ) -> Iterator[StoredEvent]:
        """Traces in recording order (``since`` inclusive, ``until`` exclusive), read in batches."""
        query = select(_e.event_id, _e.recorded, _e.transaction, _e.outcome, _e.patient_id, _e.resource)
        if since is not None:
            query = query.where(_e.recorded >= since)
        if until is not None:
            query = query.where(_e.recorded < until)
        if patient_id is not None:
            query = query.where(_e.patient_id == patient_id)
        query = query.order_by(_e.recorded, _e.event_id)
        with translate_db_errors():
            result = self._connection.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield StoredEvent(
                    row.event_id, row.recorded, row.transaction, row.outcome, row.patient_id, row.resource
                )

    def professionals_who_accessed(self, patient_id: str) -> list[tuple[str, datetime, int]]:
        """(national id, last access, number of accesses) of each professional with a successful trace on
        this record, most recent first."""
        statement = (
            select(_e.agent_id, func.max(_e.recorded), func.count())
            .where(
                _e.patient_id == patient_id,
                _e.agent_kind == ActorKind.PROFESSIONAL.value,
                _e.outcome == int(_Outcome.SUCCESS),
            )
            .group_by(_e.agent_id)
            .order_by(func.max(_e.recorded).desc())
        )
        with translate_db_errors():
            return [(str(a), last, int(n)) for a, last, n in self._connection.execute(statement)]

    def hidden_documents(self, patient_id: str, code_keys: Collection[str]) -> set[str]:
        return documents_hidden_from(self._connection, patient_id, code_keys)

    def notices(self, patient_id: str, *, limit: int) -> list[PatientNotice]:
        """The patient's notices, newest first."""
        n = notification.c
        statement = (
            select(n.kind, n.facts, n.created_at, n.state, n.sent_at)
            .where(n.patient_id == patient_id)
            .order_by(n.created_at.desc(), n.id.desc())
            .limit(limit)
        )
        with translate_db_errors():
            rows = self._connection.execute(statement).all()
        return [
            PatientNotice(row.kind, json.loads(row.facts), _aware(row.created_at), row.state, row.sent_at)
            for row in rows
        ]

    def search(self, query: TrailQuery, *, offset: int, limit: int) -> tuple[list[StoredTrace], bool]:
        """The traces matching ``query``, newest first: one page, and whether more follow."""
        statement = select(_e.event_id, _e.recorded, _e.transaction, _e.outcome, _e.patient_id, _e.resource)
        if query.patients is not None:
            if not query.patients:
                return [], False
            statement = statement.where(_e.patient_id.in_(list(query.patients)))
        if query.since is not None:
            statement = statement.where(_e.recorded >= query.since)
        if query.until is not None:
            statement = statement.where(_e.recorded < query.until)
        if query.transactions:
            statement = statement.where(_e.transaction.in_(list(query.transactions)))
        if query.types:
            statement = statement.where(_e.type_code.in_(list(query.types)))
        if query.outcomes:
            statement = statement.where(_e.outcome.in_(list(query.outcomes)))
        if query.agents:
            statement = statement.where(_e.agent_id.in_(list(query.agents)))
        if query.entities:
            named = select(audit_entity.c.event_id).where(audit_entity.c.identifier.in_(list(query.entities)))
            statement = statement.where(_e.event_id.in_(named))
        if query.patient_view:
            statement = statement.where(
                _e.outcome == int(_Outcome.SUCCESS), _e.agent_kind == ActorKind.PROFESSIONAL.value
            )
            if query.hidden:
                hiding = select(audit_entity.c.event_id).where(
                    audit_entity.c.identifier.in_(list(query.hidden))
                )
                statement = statement.where(_e.event_id.not_in(hiding))
        statement = statement.order_by(_e.recorded.desc(), _e.event_id.desc()).offset(offset).limit(limit + 1)
        with translate_db_errors():
            rows = self._connection.execute(statement).all()
        found = [
            StoredEvent(r.event_id, r.recorded, r.transaction, r.outcome, r.patient_id, r.resource)
            for r in rows
        ]
        return found[:limit], len(found) > limit


def contact_email(connection: Connection, patient_id: str) -> str | None:
    """The e-mail address the patient registered for his notices (None: none registered)."""
    with translate_db_errors():
        value = connection.execute(
            select(patient_setting.c.email).where(patient_setting.c.patient_id == patient_id)
        ).scalar()
    return str(value) if value else None


def set_contact_email(connection: Connection, patient_id: str, email: str | None) -> None:
    """Register (or with None remove) the patient's contact e-mail; the patient must be known."""
    SqlRecordStore(connection).set_contact_email(patient_id, email)


def documents_hidden_from(connection: Connection, patient_id: str, code_keys: Collection[str]) -> set[str]:
    """uniqueIds (and entryUUIDs) of the patient's documents whose current (Approved) version carries one of
    ``code_keys`` (INVISIBLE_PATIENT ...): their traces stay out of the patient's view until unmasked."""
    d, c = document_entry.c, document_code.c
    statement = (
        select(d.unique_id, d.entry_uuid)
        .join(document_code, c.entry_uuid == d.entry_uuid)
        .where(
            d.patient_id == patient_id,
            d.status == Status.APPROVED.value,
            c.attribute == "confidentiality",
            c.code_key.in_(list(code_keys)),
        )
    )
    with translate_db_errors():
        rows = connection.execute(statement).all()
    return {value for row in rows for value in (row.unique_id, row.entry_uuid)}


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
