"""One feed message in, one acknowledgement out: parse, apply in one transaction, answer.

The transport (MLLP, feed_cli, tests) hands ``FeedService.handle`` the content of one frame and sends back
what it returns; ``handle`` never raises. The message is applied in one database transaction: the ACK says AA
only after the commit, and any refusal or failure leaves the registry as it was.

Every message is traced (issue 11; ITI TF-2 3.8.5.1, the BALP patient identity patterns) when the service
has the server's ``Services``: an applied one in its very transaction (wiring.audit: no change without its
trace), with the patient created or amended and, for a merge, the id merged away; a refused or failed one
in a transaction of its own before the ACK leaves. The Patient Identity Source is the client agent (MSH-3
``|`` MSH-4, the DICOM UserID of the source); HL7 v2 carries no user. No trace, no AA: a trace that cannot
be written turns the answer into AR (fail closed).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

from xds_server.core.audit import AuditAction, AuditOutcome, ClientInfo
from xds_server.core.errors import XdsError
from xds_server.core.patient_feed import (
    FeedRefused,
    FeedResult,
    PatientFeedStore,
    merge_patients,
    register_patient,
)
from xds_server.core.profile import DomainProfile
from xds_server.feed.hl7 import AckCode, FeedRequest, Header, Hl7Problem, ack, decode, header_of, parse_feed
from xds_server.wiring import Services
from xds_server.wiring.audit import AuditUnavailable, RequestAudit, note_feed

log = logging.getLogger(__name__)

#: Opens a transaction and yields the feed store bound to it; commits when the block ends normally.
FeedTransaction = Callable[[], AbstractContextManager[PatientFeedStore]]


def apply(store: PatientFeedStore, request: FeedRequest) -> FeedResult:
    """Apply a parsed request (create/update, or merge) through the core use cases."""
    if request.subsumed_id is not None:
        return merge_patients(store, request.patient, request.subsumed_id)
    return register_patient(store, request.patient)


class FeedService:
    """ITI-8 Patient Identity Feed, as the registry receives it."""

    def __init__(
        self, transaction: FeedTransaction, profile: DomainProfile, services: Services | None = None
    ) -> None:
        self._transaction = transaction
        self._profile = profile
        self._services = services  # None: untraced (tests of the transport alone)
        self._acks = itertools.count(1)  # next() is atomic: handle() runs in several threads

    def handle(self, raw: bytes, peer: str | None = None) -> bytes:
        """The ACK (encoded like the message) for one message; never raises. ``peer``: the sender's
        address, for the trace."""
        header = Header()
        codec = "utf-8"
        audit = RequestAudit(self._services, "ITI-8", None, ClientInfo()) if self._services else None
        request: FeedRequest | None = None
        try:
            text, codec = decode(raw)
            header = header_of(text, codec)
            if audit is not None:
                audit.client = _source(header, peer)
            request = parse_feed(raw, self._profile)
            header = request.header
            with self._open(audit) as store:
                try:
                    result = apply(store, request)
                except FeedRefused as refusal:
                    raise Hl7Problem.refused(refusal, header) from None
                if audit is not None:
                    note_feed(audit.trail, result.outcome, result.patient_id, request.subsumed_id)
        except Hl7Problem as problem:
            header = problem.header if problem.header.control_id or not header.control_id else header
            log.warning(
                "ITI-8 %s from %s/%s control id %s refused: %s %s %s",
                header.event or "?",
                header.sending_application,
                header.sending_facility,
                header.control_id or "-",
                problem.ack,
                problem.code,
                problem.message,
            )
            traced = self._refused(audit, request, header, AuditOutcome.SERIOUS_FAILURE, problem.message)
            if not traced:
                return self._answer(header, "AR", _untraced(header), codec)
            return self._answer(header, problem.ack, problem, codec)
        except XdsError as error:  # the database (busy, unavailable): not applied, the sender may retry
            log.error("ITI-8 control id %s not applied: %s", header.control_id or "-", error)
            busy = Hl7Problem("AR", 207, f"the registry could not apply the message now: {error}", "", header)
            self._refused(audit, request, header, AuditOutcome.MAJOR_FAILURE, busy.message)
            return self._answer(header, "AR", busy, codec)
        except Exception:  # a bug must not kill the connection: AR, and the trace in the log
            log.exception("ITI-8 control id %s: internal error", header.control_id or "-")
            failed = Hl7Problem("AR", 207, "internal error of the registry", "", header)
            self._refused(audit, request, header, AuditOutcome.MAJOR_FAILURE, failed.message)
            return self._answer(header, "AR", failed, codec)
        log.info(
            "ITI-8 %s from %s/%s control id %s: %s %s%s",
            header.event,
            header.sending_application,
            header.sending_facility,
            header.control_id or "-",
            result.outcome.value,
            result.patient_id,
            f" ({request.subsumed_id} merged, {result.moved} registry objects moved)"
            if request.subsumed_id
            else "",
        )
        return self._answer(header, "AA", None, codec)

    def _open(self, audit: RequestAudit | None) -> AbstractContextManager[PatientFeedStore]:
        """The message's transaction: the server's feed transaction bound to its trace when traced."""
        if audit is None or self._services is None:
            return self._transaction()
        feed = audit.bind(self._services).feed_transaction
        assert feed is not None  # the server's services always have one (app.build_services)
        return feed()

    def _refused(
        self,
        audit: RequestAudit | None,
        request: FeedRequest | None,
        header: Header,
        outcome: AuditOutcome,
        description: str,
    ) -> bool:
        """Trace a message that changed nothing; False when the trace could not be written."""
        if audit is None:
            return True
        if request is not None:
            note_feed(audit.trail, None, request.patient.patient_id, request.subsumed_id)
        if header.event in _UPDATES:
            audit.trail.action = AuditAction.UPDATE
        try:
            audit.finish(outcome, f"{header.event or 'HL7'}: {description}")
        except AuditUnavailable:
            return False
        return True

    def framing_error(self, reason: str, head: bytes = b"") -> bytes:
        """The AR for bytes that are not a well-framed message (``head``: what was read of it, if any)."""
        text, codec = decode(head) if head else ("", "utf-8")
        header = header_of(text, codec) if text else Header()
        log.warning("MLLP framing error (control id %s): %s", header.control_id or "-", reason)
        return self._answer(header, "AR", Hl7Problem("AR", 100, reason, "", header), codec)

    def _answer(self, header: Header, code: AckCode, problem: Hl7Problem | None, codec: str) -> bytes:
        text = ack(header, code, problem, control_id=f"XDSACK{next(self._acks)}")
        return text.encode(codec, errors="replace")


#: ADT events that update a known patient (ITI TF-2 3.8.5.1.1: EventActionCode U)
_UPDATES = frozenset({"A08", "A40"})


def _source(header: Header, peer: str | None) -> ClientInfo:
    """The Patient Identity Source as the trace names it: MSH-3|MSH-4 and the peer address."""
    source = f"{header.sending_application}|{header.sending_facility}"
    return ClientInfo(lps_name=source if source != "|" else None, address=peer)


def _untraced(header: Header) -> Hl7Problem:
    return Hl7Problem("AR", 207, "the audit trail is unavailable: the message is not accepted", "", header)


__all__ = ["FeedService", "FeedTransaction", "apply"]
