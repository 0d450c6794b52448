"""The audit hook of one request, shared by both faces: every transaction leaves exactly one trace.

Theory of operation (core/audit.py has the rules). A face (the SOAP router, the FHIR routes) opens one
``RequestAudit`` per authenticated request and hands the handler ``bind(services)``: the same services whose
transactions carry the request's ``Trail`` (the DMP rules in wiring.access note on it the patient, documents
and submission set they check) and whose WRITE transaction, when its block ends normally, appends the
success trace (and the notices it causes) to that very transaction before it commits. So a committed
change always has its trace, and a rolled-back one never claims success.

When the handler returns without such a commit (a read, a refusal, an error), the face calls ``finish``
with the outcome it is about to answer: the trace is written and committed in a transaction of its own
BEFORE the answer leaves. ``finish`` raises when the trace cannot be written; the face then answers with
an error instead of the result (fail closed: a read nobody traced is never served).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from xds_server.core.audit import (
    AuditAction,
    AuditEntity,
    AuditOutcome,
    AuditRecord,
    ClientInfo,
    Trail,
    notices_for,
)
from xds_server.core.patient_feed import FeedOutcome
from xds_server.core.policy import AccessContext, ActorKind
from xds_server.core.ports import AuditSink
from xds_server.wiring.services import AuditedFeedStore, Services, UnitOfWork

__all__ = ["AuditUnavailable", "RequestAudit", "note_feed"]

#: DICOM ObjectLifecycle codes of the patients a feed touched (BALP patient identity patterns)
_CREATED, _AMENDED, _MERGED_AWAY = "1", "3", "14"


def note_feed(trail: Trail, outcome: FeedOutcome | None, patient_id: str, subsumed_id: str | None) -> None:
    """What a patient identity feed (ITI-8, ITI-104) did, on its trail: the patient it created or
    updated (and, for a merge, the id merged away, logically deleted: it names no patient any more), with
    the action (C for a creation, U otherwise). ``outcome`` None: refused, the patients it named (a merge
    is an update; otherwise the transaction's default action stands)."""
    if outcome is None:
        trail.patient(patient_id)
        trail.patient(subsumed_id)
        if subsumed_id is not None:
            trail.action = AuditAction.UPDATE
        return
    trail.action = AuditAction.CREATE if outcome is FeedOutcome.CREATED else AuditAction.UPDATE
    trail.patient(patient_id, lifecycle=_CREATED if outcome is FeedOutcome.CREATED else _AMENDED)
    if subsumed_id is not None:
        trail.patient(subsumed_id, lifecycle=_MERGED_AWAY)


log = logging.getLogger(__name__)


class AuditUnavailable(RuntimeError):
    """The trace could not be written: the request must fail (fail closed)."""


class RequestAudit:
    """One request's trace (not thread-safe: one per request)."""

    def __init__(
        self,
        services: Services,
        transaction: str,
        actor: AccessContext | None,
        client: ClientInfo,
        *,
        entities: Sequence[AuditEntity] = (),
    ) -> None:
        self._services = services
        self.actor = actor
        self.client = client
        self.trail = Trail(transaction)
        for entity in entities:
            self.trail.entity(entity)
        self.recorded = False

    # -- the handler's services ---------------------------------------------------------------------------

    def bind(self, services: Services) -> Services:
        """``services`` whose transactions carry this request's trail; a write transaction ending normally
        records the success trace in itself (see the module docstring)."""
        write_base = services.transaction
        read_base = services.read_transaction or services.transaction

        @contextmanager
        def write() -> Iterator[UnitOfWork]:
            with write_base() as work:
                yield dataclasses.replace(work, trail=self.trail)
                if not self.recorded:
                    self._write(work, AuditOutcome.SUCCESS, None)
                    self.recorded = True
            # (an exception at commit propagates: the handler reports the failure, finish traces it)

        @contextmanager
        def read() -> Iterator[UnitOfWork]:
            with read_base() as work:
                yield dataclasses.replace(work, trail=self.trail)

        @contextmanager
        def write_guarded() -> Iterator[UnitOfWork]:
            try:
                with write() as work:
                    yield work
            except BaseException:
                self.recorded = False  # rolled back: the success trace went with the change
                raise

        feed_base = services.feed_transaction
        if feed_base is None:
            return dataclasses.replace(services, transaction=write_guarded, read_transaction=read)

        @contextmanager
        def feed() -> Iterator[AuditedFeedStore]:
            # the patient identity feed (ITI-8, ITI-104): its trace in its own transaction, likewise
            try:
                with feed_base() as store:
                    yield store
                    if not self.recorded:
                        self._append(store.audit, None, AuditOutcome.SUCCESS, None)
                        self.recorded = True
            except BaseException:
                self.recorded = False
                raise

        return dataclasses.replace(
            services, transaction=write_guarded, read_transaction=read, feed_transaction=feed
        )

    # -- after the handler --------------------------------------------------------------------------------

    def finish(self, outcome: AuditOutcome, description: str | None = None) -> None:
        """Trace a request that committed no change (read, refusal, failure) in a transaction of its own.
        Raise ``AuditUnavailable`` when the trace cannot be committed."""
        if self.recorded:
            return
        try:
            with self._services.transaction() as work:
                self._write(work, outcome, description)
        except Exception as error:
            log.exception("the audit trail is unavailable: the request is refused")
            raise AuditUnavailable("the audit trail is unavailable") from error
        self.recorded = True

    # -- the trace ----------------------------------------------------------------------------------------

    def record(self, outcome: AuditOutcome, description: str | None) -> AuditRecord:
        trail = self.trail
        actor = self.actor
        if not trail.patient_ids and actor is not None:
            trail.patient(actor.patient_ins)
        services = self._services
        return AuditRecord(
            event_id=services.ids.new_uuid(),
            transaction=trail.transaction,
            recorded=services.clock.now(),
            outcome=outcome,
            outcome_description=description,
            actor=actor,
            client=self.client,
            observer=services.settings.audit_observer,
            patient_id=trail.patient_ids[0] if trail.patient_ids else None,
            entities=trail.entities(),
            created_documents=tuple(trail.created),
            action=trail.action,
        )

    def _write(self, work: UnitOfWork, outcome: AuditOutcome, description: str | None) -> None:
        self._append(work.audit, work, outcome, description)

    def _append(
        self, sink: AuditSink | None, work: UnitOfWork | None, outcome: AuditOutcome, description: str | None
    ) -> None:
        if sink is None:
            raise AuditUnavailable("no audit sink is configured (UnitOfWork.audit)")
        record = self.record(outcome, description)
        actor = record.actor
        first = False
        minor = False
        professional = actor is not None and actor.actor_kind is ActorKind.PROFESSIONAL
        if outcome is AuditOutcome.SUCCESS and record.patient_id and actor is not None and professional:
            first = not sink.accessed_before(record.patient_id, actor.national_id)
            access = self._services.access
            if record.created_documents and work is not None and work.records is not None and access:
                # only new documents depend on it (a minor's representatives read his mail)
                settings = work.records.load(record.patient_id, access.today())
                minor = settings is not None and settings.minor
        sink.append(record)
        for notice in notices_for(record, first_access=first, minor=minor):
            sink.enqueue(notice)
