"""Dispatch a SOAP request to its transaction handler by ``wsa:Action``, and package the answer.

Adding a transaction is one module and one line in ``ROUTES``::

    SoapAction.STORED_QUERY: Route(iti18.handle, SoapAction.STORED_QUERY_RESPONSE),

A handler is ``def handle(request: SoapRequest, services: Services) -> Reply``:

- ``request.body`` is the single child of ``env:Body`` (already checked: SOAP 1.2, headers understood, action
  known), ``request.multipart`` the MTOM package (``multipart.resolve(href)`` for each ``xop:Include``),
  ``request.header`` the raw header (for wsse:Security);
- it runs its use case inside ``services.transaction()`` (read-only for a route marked ``readonly``: the
  handler gets ``services.for_reading()``) and returns the response body element, plus any MIME
  parts its ``xop:Include`` elements reference (``soap.mtom.OutgoingPart``);
- it is synchronous: the endpoint runs the router in a worker thread;
- ``request.actor`` is the verified caller: the router authenticates every request (``soap.security``,
  WS-Security faults) after the action lookup and before the handler; handlers apply the policy
  (``soap.access``); ``request.transport_subject`` is the TLS client certificate's subject, if any (the
  endpoint passes it in; the router logs it with the action, one INFO line per readable request);
- transaction failures (``XdsError``) are part of the answer (a RegistryResponse with status Failure), not
  faults; a handler raises ``SoapFault`` only for a message it cannot read at all. Any other exception is
  logged here and answered with an ``env:Receiver`` fault that reveals nothing.

The router answers in the request's packaging: plain ``application/soap+xml`` for a plain request, MTOM/XOP
``multipart/related`` for an MTOM request or whenever the reply carries parts.

Every routed request leaves one trace in the access trail (wiring/audit.py, issue 11), allowed or refused:
the router opens the request's ``RequestAudit`` (the route's IHE transaction, the actor, the client), hands
the handler services whose write transaction records the success trace with the change it commits, and,
when nothing was committed, traces the outcome it read from the reply (``outcome_of``) before answering.
A trace that cannot be written turns the answer into an ``env:Receiver`` fault (fail closed).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from lxml import etree

from xds_server import metrics
from xds_server.core.audit import EVENT_KINDS, AuditAction, AuditEntity, AuditOutcome, ClientInfo, EntityRole
from xds_server.core.errors import ErrorCode
from xds_server.core.policy import AccessContext
from xds_server.core.vocabulary import ResponseStatus, SoapAction
from xds_server.ebxml.namespaces import RS
from xds_server.soap import iti18, iti41, iti42, iti43, iti57, iti62
from xds_server.soap.envelope import SoapRequest, read_envelope, write_envelope, wsa_text
from xds_server.soap.faults import (
    ACTION_NOT_SUPPORTED,
    SOAP12_CONTENT_TYPE,
    FaultCode,
    SoapFault,
    render_fault,
)
from xds_server.soap.mtom import MultipartMessage, mtom_response
from xds_server.soap.security import authenticate
from xds_server.soap.services import Reply
from xds_server.wiring import Services
from xds_server.wiring.audit import AuditUnavailable, RequestAudit

log = logging.getLogger(__name__)

Handler = Callable[[SoapRequest, Services], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    response_action: str
    #: the handler only reads: its ``services.transaction()`` is read-only (soap.services.for_reading)
    readonly: bool = False
    #: the IHE transaction (core.audit.EVENT_KINDS key) its trace is recorded as
    transaction: str = ""


#: {request action: route}. One line per transaction. Queries and retrieves are read-only: on SQLite they
#: never wait for the write lock of a concurrent submission.
ROUTES: Mapping[str, Route] = {
    SoapAction.REGISTER: Route(iti42.handle, SoapAction.REGISTER_RESPONSE, transaction="ITI-42"),
    SoapAction.PROVIDE_AND_REGISTER: Route(
        iti41.handle, SoapAction.PROVIDE_AND_REGISTER_RESPONSE, transaction="ITI-41"
    ),
    SoapAction.RETRIEVE: Route(
        iti43.handle, SoapAction.RETRIEVE_RESPONSE, readonly=True, transaction="ITI-43"
    ),
    SoapAction.STORED_QUERY: Route(
        iti18.handle, SoapAction.STORED_QUERY_RESPONSE, readonly=True, transaction="ITI-18"
    ),
    SoapAction.MULTI_PATIENT_QUERY: Route(
        iti18.handle_iti51, SoapAction.MULTI_PATIENT_QUERY_RESPONSE, readonly=True, transaction="ITI-51"
    ),
    SoapAction.UPDATE: Route(iti57.handle, SoapAction.UPDATE_RESPONSE, transaction="ITI-57"),
    SoapAction.DELETE: Route(iti62.handle, SoapAction.DELETE_RESPONSE, transaction="ITI-62"),
}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the HTTP layer sends back: status, Content-Type and the body (bytes, or a stream for MTOM)."""

    status: int
    content_type: str
    body: bytes | AsyncIterator[bytes]
    content_length: int | None = None


class Router:
    """Turns one SOAP message (the envelope bytes, and its MTOM package if any) into one HTTP answer."""

    def __init__(self, services: Services, routes: Mapping[str, Route] = ROUTES) -> None:
        self.services = services
        self.routes = dict(routes)

    def handle(
        self,
        envelope: bytes,
        multipart: MultipartMessage | None = None,
        *,
        transport_subject: str | None = None,
        client_address: str | None = None,
        actor: AccessContext | None = None,
    ) -> HttpAnswer:
        """Check the envelope, run the handler of its action, package the reply (never raises).
        ``transport_subject``: the TLS client certificate subject of the connection (RFC 4514);
        ``client_address``: the peer's address (for the trace). ``actor``: the caller ``admit`` already
        verified from this very envelope's header while its body was still arriving (the credential is not
        verified twice: a OneTimeUse assertion would be refused as replayed). Each request is counted in
        /metrics by transaction and outcome, with its duration."""
        started = time.perf_counter()
        seen = _Seen()
        try:
            answer = self._handle(envelope, multipart, transport_subject, seen, actor, client_address)
        except SoapFault as fault:
            seen.outcome = "fault"
            answer = fault_answer(fault)
        except Exception:
            log.exception("SOAP request failed outside its handler")
            seen.outcome = "fault"
            answer = fault_answer(SoapFault(FaultCode.RECEIVER, "internal server error"))
        metrics.observe_request(seen.transaction, seen.outcome, time.perf_counter() - started)
        return answer

    def _handle(
        self,
        envelope: bytes,
        multipart: MultipartMessage | None,
        transport_subject: str | None,
        seen: _Seen,
        actor: AccessContext | None = None,
        client_address: str | None = None,
    ) -> HttpAnswer:
        request = read_envelope(envelope, multipart=multipart)
        request = dataclasses.replace(request, transport_subject=transport_subject)
        log.info(
            "SOAP %s message %s, TLS client %s",
            request.action,
            request.message_id or "-",
            transport_subject or "-",
        )
        route = self.routes.get(request.action)
        seen.transaction = TRANSACTIONS.get(request.action, "unknown") if route is not None else "unknown"
        if route is None:
            raise SoapFault(
                FaultCode.SENDER,
                f"the action {request.action!r} is not supported by this endpoint",
                subcode=ACTION_NOT_SUPPORTED,
                problem_action=request.action,
                relates_to=request.message_id,
            )
        try:
            try:
                actor = actor or self._authenticate(request)
            except SoapFault as fault:
                metrics.refused("authentication")
                # a refused identity is traced too (no actor: the credential was not accepted)
                refused = self._audit(route, request, None, client_address)
                self._finish(refused, AuditOutcome.SERIOUS_FAILURE, fault.reason)
                raise
            request = dataclasses.replace(request, actor=actor)
            audit = self._audit(route, request, actor, client_address)
            reply = self._run(route, request, audit)
            self._finish(audit, *outcome_of(reply.body))
            seen.outcome = _outcome(reply.body)
        except AuditUnavailable:
            raise SoapFault(
                FaultCode.RECEIVER, "the request could not be traced", relates_to=request.message_id
            ) from None
        xml = write_envelope(route.response_action, reply.body, relates_to=request.message_id)
        if request.mtom or reply.parts:
            package = mtom_response(xml, reply.parts, action=route.response_action)
            return HttpAnswer(200, package.content_type, package.body, package.content_length)
        return HttpAnswer(200, f'{SOAP12_CONTENT_TYPE}; action="{route.response_action}"', xml, len(xml))

    def admit(
        self,
        header: etree._Element | None,
        transport_subject: str | None = None,
        client_address: str | None = None,
    ) -> AccessContext | None:
        """Credentials first (issue 14, item 6): the endpoint calls this with the envelope's ``env:Header``
        as soon as it is parsed, before the Body or the MTOM parts are read, so an anonymous or forged
        request is refused having cost a few kilobytes. The verified actor, None when the decision is left
        to ``handle`` (an action this router does not serve: that fault comes first), or the refusal as a
        ``SoapFault`` (counted in /metrics)."""
        request = SoapRequest(
            action=wsa_text(header, "Action") or "",
            message_id=wsa_text(header, "MessageID"),
            body=etree.Element("placeholder"),
            header=header,
        )
        route = self.routes.get(request.action)
        if route is None:
            return None
        try:
            return self._authenticate(request)
        except SoapFault as fault:
            refused = self._audit(route, request, None, client_address)  # traced as handle traces it
            self._finish(refused, AuditOutcome.SERIOUS_FAILURE, fault.reason)
            # the request line ``handle`` would have logged: who knocked, refused before the body was read
            log.info(
                "SOAP %s message %s, TLS client %s",
                request.action,
                request.message_id or "-",
                transport_subject or "-",
            )
            metrics.refused("authentication")
            raise

    def _authenticate(self, request: SoapRequest) -> AccessContext:
        # No identity, no transaction (soap.security): without access control nothing is served.
        access = self.services.access
        if access is None:
            log.error("no access control is configured (Services.access): every request is refused")
            raise SoapFault(
                FaultCode.RECEIVER,
                "the server is not configured to authenticate requests",
                relates_to=request.message_id,
            )
        return authenticate(access, request)

    def _audit(
        self, route: Route, request: SoapRequest, actor: AccessContext | None, client_address: str | None
    ) -> RequestAudit | None:
        """The request's audit; None for a route that is no IHE transaction (test frames only: every route
        of ``ROUTES`` names its transaction)."""
        kind = EVENT_KINDS.get(route.transaction)
        if kind is None:
            return None
        entities = []
        if kind.action is AuditAction.EXECUTE:  # a query: its raw request
            entities.append(AuditEntity(EntityRole.QUERY, request.action, query=etree.tostring(request.body)))
        if actor is not None and actor.credential_id:
            entities.append(AuditEntity(EntityRole.TOKEN, actor.credential_id))
        if request.message_id:
            entities.append(AuditEntity(EntityRole.REQUEST_ID, request.message_id))
        client = ClientInfo(
            lps_name=actor.lps_name if actor is not None else None,
            lps_version=actor.lps_version if actor is not None else None,
            tls_subject=request.transport_subject,
            address=client_address,
        )
        return RequestAudit(self.services, route.transaction, actor, client, entities=entities)

    @staticmethod
    def _finish(audit: RequestAudit | None, outcome: AuditOutcome, description: str | None) -> None:
        if audit is not None:
            audit.finish(outcome, description)

    def _run(self, route: Route, request: SoapRequest, audit: RequestAudit | None) -> Reply:
        services = audit.bind(self.services) if audit is not None else self.services
        services = services.for_reading() if route.readonly else services
        try:
            return route.handler(request, services)
        except SoapFault as fault:
            self._finish(audit, AuditOutcome.SERIOUS_FAILURE, fault.reason)
            raise fault.with_relates_to(fault.relates_to or request.message_id) from None
        except AuditUnavailable:
            raise
        except Exception:
            log.exception("handler for %s failed", request.action)
            self._finish(audit, AuditOutcome.MAJOR_FAILURE, "internal server error")
            raise SoapFault(
                FaultCode.RECEIVER, "internal server error", relates_to=request.message_id
            ) from None


#: The /metrics label of each action (a bounded set: never the client's text).
TRANSACTIONS: Mapping[str, str] = {
    SoapAction.REGISTER: "ITI-42",
    SoapAction.PROVIDE_AND_REGISTER: "ITI-41",
    SoapAction.RETRIEVE: "ITI-43",
    SoapAction.STORED_QUERY: "ITI-18",
    SoapAction.MULTI_PATIENT_QUERY: "ITI-51",
    SoapAction.UPDATE: "ITI-57",
    SoapAction.DELETE: "ITI-62",
}
_METRIC_OUTCOMES = {"Success": "success", "PartialSuccess": "partial", "Failure": "failure"}


@dataclass(slots=True)
class _Seen:
    """What /metrics records of one request, filled in as the router learns it."""

    transaction: str = "unknown"
    outcome: str = "fault"


def _outcome(body: etree._Element) -> str:
    """success / partial / failure from the response's ebRS status (the body's, or its RegistryResponse's)."""
    status = body.get("status")
    if status is None:
        nested = next(body.iterchildren("{*}RegistryResponse"), None)
        status = nested.get("status") if nested is not None else None
    return _METRIC_OUTCOMES.get((status or "").rsplit(":", 1)[-1], "unknown")


#: RegistryErrors that say the server failed, not the request (a major failure in the trace).
_INTERNAL_ERRORS = frozenset({ErrorCode.REGISTRY_ERROR.value, ErrorCode.REPOSITORY_ERROR.value})
_OUTCOMES = {
    ResponseStatus.SUCCESS.value: AuditOutcome.SUCCESS,
    ResponseStatus.PARTIAL_SUCCESS.value: AuditOutcome.MINOR_FAILURE,
}


def outcome_of(body: etree._Element) -> tuple[AuditOutcome, str | None]:
    """The trace outcome of a reply body: its (or its RegistryResponse's) status and RegistryErrors."""
    status = body.get("status")
    if status is None:
        response = body.find(f".//{{{RS}}}RegistryResponse")
        status = response.get("status") if response is not None else None
    errors = [
        e for e in body.iter(f"{{{RS}}}RegistryError") if not (e.get("severity") or "").endswith(":Warning")
    ]
    outcome = _OUTCOMES.get(status or "")
    if outcome is None:
        internal = any(e.get("errorCode") in _INTERNAL_ERRORS for e in errors)
        outcome = AuditOutcome.MAJOR_FAILURE if internal else AuditOutcome.SERIOUS_FAILURE
    if not errors:
        return outcome, None
    text = "; ".join(f"{e.get('errorCode')}: {e.get('codeContext', '')}" for e in errors)
    return outcome, text[:2000]


def fault_answer(fault: SoapFault) -> HttpAnswer:
    """The HTTP answer carrying ``fault`` (status per the SOAP 1.2 HTTP binding)."""
    body, content_type = render_fault(fault)
    return HttpAnswer(fault.http_status, content_type, body, len(body))


__all__ = ["ROUTES", "Handler", "HttpAnswer", "Route", "Router", "fault_answer"]
