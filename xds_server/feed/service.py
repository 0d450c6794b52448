"""One feed message in, one acknowledgement out: parse, apply in one transaction, answer.

The transport (MLLP, feed_cli, tests) hands ``FeedService.handle`` the content of one frame and sends back
what it returns; ``handle`` never raises. The message is applied in one database transaction: the ACK says AA
only after the commit, and any refusal or failure leaves the registry as it was.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

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

    def __init__(self, transaction: FeedTransaction, profile: DomainProfile) -> None:
        self._transaction = transaction
        self._profile = profile
        self._acks = itertools.count(1)  # next() is atomic: handle() runs in several threads

    def handle(self, raw: bytes) -> bytes:
        """The ACK (encoded like the message) for one message; never raises."""
        header = Header()
        codec = "utf-8"
        try:
            text, codec = decode(raw)
            header = header_of(text, codec)
            request = parse_feed(raw, self._profile)
            header = request.header
            with self._transaction() as store:
                try:
                    result = apply(store, request)
                except FeedRefused as refusal:
                    raise Hl7Problem.refused(refusal, header) from None
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
            return self._answer(header, problem.ack, problem, codec)
        except XdsError as error:  # the database (busy, unavailable): not applied, the sender may retry
            log.error("ITI-8 control id %s not applied: %s", header.control_id or "-", error)
            busy = Hl7Problem("AR", 207, f"the registry could not apply the message now: {error}", "", header)
            return self._answer(header, "AR", busy, codec)
        except Exception:  # a bug must not kill the connection: AR, and the trace in the log
            log.exception("ITI-8 control id %s: internal error", header.control_id or "-")
            failed = Hl7Problem("AR", 207, "internal error of the registry", "", header)
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

    def framing_error(self, reason: str, head: bytes = b"") -> bytes:
        """The AR for bytes that are not a well-framed message (``head``: what was read of it, if any)."""
        text, codec = decode(head) if head else ("", "utf-8")
        header = header_of(text, codec) if text else Header()
        log.warning("MLLP framing error (control id %s): %s", header.control_id or "-", reason)
        return self._answer(header, "AR", Hl7Problem("AR", 100, reason, "", header), codec)

    def _answer(self, header: Header, code: AckCode, problem: Hl7Problem | None, codec: str) -> bytes:
        text = ack(header, code, problem, control_id=f"XDSACK{next(self._acks)}")
        return text.encode(codec, errors="replace")


__all__ = ["FeedService", "FeedTransaction", "apply"]
