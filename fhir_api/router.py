"""The FHIR face on ``/fhir``: one APIRouter whose routes answer FHIR resources and OperationOutcomes only.

Theory of operation.
* Every route is a ``FhirRoute``: whatever a handler raises becomes an OperationOutcome in the negotiated
  format (``FhirError`` with its status; ``XdsError`` through ``outcome.from_xds_error``; FastAPI's parameter
  validation as 400; anything else logged and answered 500 ``exception`` without details). A bad request never
  ends as a stack trace or a bare Starlette error page.
* A handler gets a ``FhirRequest`` (``Depends(fhir_request)``): the services, the answer's format, the
  absolute base URL, and the verified actor (``fhir_api.auth``; 401 before the body is read). Public routes
  (``/metadata``) use ``public_request``, which does not authenticate.
* Each route declares what it is in FHIR terms in ``openapi_extra["x-fhir"]`` (``FhirInteraction``): resource
  type, interaction, search parameters, the IHE/PDSm CapabilityStatements it implements.
  ``GET /fhir/metadata`` builds the CapabilityStatement from the routes actually mounted (capability.py),
  so it cannot claim an interaction the server does not serve.
* Route modules live in ``fhir_api/routes/`` and are listed in ``routes.ROUTERS``; each exposes ``router``.
  ``build_face()`` mounts them; the composition root keeps the ``FhirFace`` in ``app.state.fhir_face``.
* Unknown paths under /fhir answer 404 and a known path with another method 405, both as OperationOutcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from fhir_api.audit import AuditUnavailable, close_audit, open_audit, transaction_of
from fhir_api.auth import authenticate
from fhir_api.formats import Format, fhir_response, response_format
from fhir_api.outcome import FhirError, OutcomeIssue, from_xds_error, outcome_json
from xds_server import metrics
from xds_server.core.errors import XdsError
from xds_server.core.policy import AccessContext
from xds_server.wiring import Services

log = logging.getLogger(__name__)

PREFIX = "/fhir"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """A search parameter as the CapabilityStatement lists it."""

    name: str
    type: str  # FHIR search-param-type: token, reference, date, string, uri ...
    documentation: str = ""
    definition: str | None = None


@dataclass(frozen=True, slots=True)
class FhirInteraction:
    """What a route is, in FHIR terms (read by capability.py)."""

    #: the resource type, or None for a system-level interaction (``transaction``)
    resource: str | None
    #: FHIR restful-interaction code: read, search-type, transaction, update, patch, create ...
    interaction: str
    search: tuple[SearchParam, ...] = ()
    #: canonical URLs of the CapabilityStatements (IHE actors, PDSm) this route helps implement
    instantiates: tuple[str, ...] = ()
    #: profiles of the resource this route serves or accepts
    profiles: tuple[str, ...] = ()
    conditional_update: bool = False
    documentation: str = ""
    #: the IHE transaction its trace is recorded as (core.audit.EVENT_KINDS); None: fhir_api.audit decides
    audit: str | None = None
    #: for ``interaction="operation"``: the operation's name (without $) and its definition's canonical URL
    operation: tuple[str, str] | None = None

    def extra(self) -> dict[str, Any]:
        """For ``openapi_extra``."""
        return {"x-fhir": self}


def interaction_of(route: APIRoute) -> FhirInteraction | None:
    extra = route.openapi_extra or {}
    found = extra.get("x-fhir")
    return found if isinstance(found, FhirInteraction) else None


def _error_response(request: Request, error: FhirError) -> Response:
    try:
        fmt = response_format(request)
    except FhirError:
        fmt = Format.JSON
    return fhir_response(outcome_json(error.issues), fmt, error.status, headers=error.headers or None)


def error_answer(request: Request, error: Exception) -> Response:
    """The OperationOutcome answer for anything a FHIR handler raised."""
    if isinstance(error, FhirError):
        return _error_response(request, error)
    if isinstance(error, XdsError):
        return _error_response(request, from_xds_error(error))
    if isinstance(error, RequestValidationError):
        issues = [
            OutcomeIssue(
                "invalid", f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            )
            for e in error.errors()[:20]
        ]
        return _error_response(request, FhirError(400, issues or [OutcomeIssue("invalid", "bad request")]))
    log.exception("FHIR %s %s failed", request.method, request.url.path, exc_info=error)
    return _error_response(request, FhirError.single(500, "exception", "internal server error"))


def _count(request: Request, status: int, seconds: float) -> None:
    """/metrics: the FHIR request by IHE transaction (or ``FHIR <interaction>``) and outcome class."""
    transaction = transaction_of(request) or "FHIR"
    outcome = "success" if status < 400 else "failure" if status < 500 else "error"
    metrics.observe_request(transaction, outcome, seconds)


class FhirRoute(APIRoute):
    """An APIRoute whose failures are OperationOutcomes (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            # every answer is traced before it leaves (fhir_api.audit); no trace, no answer
            started = time.perf_counter()
            try:
                response = await handler(request)
                description = None
            except Exception as error:
                response = error_answer(request, error)
                description = str(error)[:2000] or None
            try:
                await close_audit(request, response.status_code, description)
            except AuditUnavailable:
                response = _error_response(
                    request, FhirError.single(500, "exception", "the request could not be traced")
                )
            _count(request, response.status_code, time.perf_counter() - started)
            return response

        return fhir_handler


def fhir_api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter for a route module (every route a FhirRoute)."""
    return APIRouter(route_class=FhirRoute, **kwargs)


@dataclass(slots=True)
class FhirRequest:
    """What a FHIR handler needs about its request."""

    services: Services
    format: Format
    #: absolute base of the FHIR face, no trailing slash (``XDS_FHIR_BASE_URL`` or the request's own)
    base: str
    request: Request
    actor: AccessContext | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> AccessContext:
        if self.actor is None:  # routes that need an actor use fhir_request, which always sets it
            raise FhirError.single(401, "login", "this request needs 'Authorization: Bearer <token>'")
        return self.actor

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"


def base_url(request: Request, services: Services) -> str:
    configured = services.settings.fhir_base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + PREFIX


def public_request(request: Request) -> FhirRequest:
    services: Services = request.app.state.services
    return FhirRequest(services, response_format(request), base_url(request, services), request)


def fhir_request(request: Request) -> FhirRequest:
    """The authenticated request (401 before anything else when the bearer token is missing or bad)."""
    public = public_request(request)
    public.actor = authenticate(request, public.services)
    public.services = open_audit(request, public.services, public.actor)
    return public


Fhir = Annotated[FhirRequest, Depends(fhir_request)]
PublicFhir = Annotated[FhirRequest, Depends(public_request)]


def _route_modules() -> Sequence[APIRouter]:
    # imported here: the route modules import this module (FhirRoute, Fhir)
    from fhir_api.routes import ROUTERS

    return ROUTERS


@dataclass(frozen=True, slots=True)
class FhirFace:
    """The mounted FHIR face: its router (prefix ``/fhir``) and the routes it serves, with their FHIR
    interactions (the CapabilityStatement reads them from ``app.state.fhir_face``)."""

    router: APIRouter
    routes: tuple[APIRoute, ...]

    @property
    def interactions(self) -> list[FhirInteraction]:
        return [i for i in (interaction_of(r) for r in self.routes) if i is not None]


def build_face() -> FhirFace:
    """The whole FHIR face: /metadata, every route module, and the 404/405 catch-all, under ``/fhir``."""
    from fhir_api.capability import router as capability_router

    modules = [capability_router, *_route_modules()]
    served = tuple(r for module in modules for r in module.routes if isinstance(r, APIRoute))
    # the prefix is given per module: a system-level route (``POST /fhir``, ITI-65) has the empty path
    api = APIRouter(route_class=FhirRoute, tags=["FHIR R4 (IHE MHD)"])
    for module in modules:
        api.include_router(module, prefix=PREFIX)

    @api.api_route(
        PREFIX + "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
        include_in_schema=False,
    )
    async def not_served(request: Request, path: str) -> Response:
        relative = "/" + path
        if any(r.path_regex.match(relative) for r in served):
            raise FhirError.single(405, "not-supported", f"{request.method} is not allowed on /fhir/{path}")
        raise FhirError.not_found(f"/fhir/{path} is not served by this server")

    return FhirFace(api, served)


__all__ = [
    "PREFIX",
    "Fhir",
    "FhirFace",
    "FhirInteraction",
    "FhirRequest",
    "FhirRoute",
    "PublicFhir",
    "SearchParam",
    "base_url",
    "build_face",
    "error_answer",
    "fhir_api_router",
    "fhir_request",
    "interaction_of",
    "public_request",
]
