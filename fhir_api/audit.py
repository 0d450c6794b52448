"""The FHIR face's audit hook: every FHIR transaction, allowed or refused, leaves one trace (wiring/audit.py).

One place for the whole face: ``open_audit`` (called by ``router.fhir_request`` once the caller is known)
opens the request's ``RequestAudit`` and gives the handler services bound to it (a write transaction then
records the success trace with the change it commits; the DMP rules note the patient and documents on the
trail); ``close_audit`` (called by ``router.FhirRoute`` with the answer about to be sent) traces whatever
was not yet traced, with the outcome of the HTTP status, BEFORE the answer leaves. A request refused before
its caller is known (401) is traced without a user. A trace that cannot be written turns the answer into a
500 OperationOutcome (fail closed).

Which IHE transaction a route is: ``FhirInteraction.audit`` when the route declares it, else the table
below by (resource, interaction); any other FHIR interaction is traced as the generic ``REST`` kind.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from xds_server.core.audit import AuditEntity, AuditOutcome, ClientInfo, EntityRole, Trail
from xds_server.core.policy import AccessContext
from xds_server.wiring import Services
from xds_server.wiring.audit import AuditUnavailable, RequestAudit

__all__ = [
    "AuditUnavailable",
    "close_audit",
    "open_audit",
    "outcome_of_status",
    "request_trail",
    "transaction_of",
]

#: {(resource type, interaction): IHE transaction}
TRANSACTIONS: dict[tuple[str | None, str], str] = {
    (None, "transaction"): "ITI-65",
    ("List", "search-type"): "ITI-66",
    ("List", "read"): "ITI-66",
    ("DocumentReference", "search-type"): "ITI-67",
    ("DocumentReference", "read"): "ITI-67",
    ("DocumentReference", "patch"): "PATIENT-API",
    ("Binary", "read"): "ITI-68",
    ("Patient", "read"): "ITI-78",
    ("Patient", "search-type"): "ITI-78",
    ("Patient", "patch"): "PATIENT-API",
    ("Patient", "update"): "ITI-104",
    ("Consent", "read"): "PATIENT-API",
    ("Consent", "search-type"): "PATIENT-API",
    ("Consent", "update"): "PATIENT-API",
    ("Consent", "delete"): "PATIENT-API",
    ("AuditEvent", "search-type"): "ITI-81",
}
_STATE = "xds_audit"


def transaction_of(request: Request) -> str | None:
    """The IHE transaction the matched route is traced as; None for routes that are no transaction
    (``/metadata``, unmatched paths)."""
    from fhir_api.router import interaction_of  # the router imports this module

    route = request.scope.get("route")
    interaction = interaction_of(route) if route is not None else None
    if interaction is None or interaction.interaction == "capabilities":
        return None
    declared = getattr(interaction, "audit", None)
    if declared:
        return str(declared)
    return TRANSACTIONS.get((interaction.resource, interaction.interaction), "REST")


def _client(request: Request, actor: AccessContext | None) -> ClientInfo:
    tls = request.scope.get("extensions", {}).get("tls", {})
    return ClientInfo(
        lps_name=actor.lps_name if actor is not None else None,
        lps_version=actor.lps_version if actor is not None else None,
        tls_subject=tls.get("client_cert_name") if isinstance(tls, dict) else None,
        address=request.client.host if request.client is not None else None,
    )


def _open(
    request: Request, services: Services, actor: AccessContext | None, transaction: str
) -> RequestAudit:
    entities = []
    if request.method == "GET" and request.url.query:  # a search: the raw query (BALP Query entity)
        entities.append(
            AuditEntity(
                EntityRole.QUERY, request.url.path, query=f"{request.url.path}?{request.url.query}".encode()
            )
        )
    if actor is not None and actor.credential_id:
        entities.append(AuditEntity(EntityRole.TOKEN, actor.credential_id))
    request_id = request.headers.get("x-request-id")
    if request_id:
        entities.append(AuditEntity(EntityRole.REQUEST_ID, request_id[:256]))
    audit = RequestAudit(services, transaction, actor, _client(request, actor), entities=entities)
    setattr(request.state, _STATE, audit)
    return audit


def request_trail(request: Request) -> Trail | None:
    """The trail of the request's trace (None for a route that is no transaction): for a handler whose
    change the DMP rules do not see (the patient identity feed) to note what it touched."""
    audit: RequestAudit | None = getattr(request.state, _STATE, None)
    return audit.trail if audit is not None else None


def open_audit(request: Request, services: Services, actor: AccessContext) -> Services:
    """The services the handler gets: bound to the request's audit (unchanged for a route that is no
    transaction)."""
    transaction = transaction_of(request)
    if transaction is None:
        return services
    return _open(request, services, actor, transaction).bind(services)


def outcome_of_status(status: int) -> AuditOutcome:
    if status < 400:
        return AuditOutcome.SUCCESS
    return AuditOutcome.SERIOUS_FAILURE if status < 500 else AuditOutcome.MAJOR_FAILURE


async def close_audit(request: Request, status: int, description: str | None = None) -> None:
    """Trace the request (when its handler's change did not already): raise AuditUnavailable when the
    trace cannot be committed."""
    audit: RequestAudit | None = getattr(request.state, _STATE, None)
    if audit is None:
        transaction = transaction_of(request)
        services: Services | None = getattr(request.app.state, "services", None)
        if transaction is None or services is None:
            return
        audit = _open(request, services, None, transaction)  # refused before the caller was known
    outcome = outcome_of_status(status)
    if description is None and outcome is not AuditOutcome.SUCCESS:
        description = f"HTTP {status}"
    await run_in_threadpool(audit.finish, outcome, description)
