"""``GET /fhir/metadata``: the CapabilityStatement, built from the routes actually mounted.

Every FHIR route declares its interaction in ``openapi_extra["x-fhir"]`` (router.FhirInteraction); this
module groups them by resource type, so the statement lists exactly the interactions, search parameters,
profiles and IHE/PDSm CapabilityStatements (``instantiates``) the server serves. It is public: a client
discovers the server before it has a token (FHIR R4 §3.1.0.3 ``capabilities``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from fastapi import Request, Response

from fhir_api.formats import fhir_response
from fhir_api.router import FhirFace, FhirInteraction, PublicFhir, fhir_api_router
from xds_server import __version__

FHIR_VERSION: Final = "4.0.1"
#: Order of the interaction codes as FHIR lists them (restful-interaction value set).
_ORDER: Final = ("read", "vread", "update", "patch", "delete", "history-instance", "create", "search-type")

router = fhir_api_router()


def capability_statement(interactions: Iterable[FhirInteraction], base: str, date: str) -> dict[str, Any]:
    """The CapabilityStatement (R4 JSON shape) of these interactions."""
    interactions = list(interactions)
    instantiates = sorted({url for i in interactions for url in i.instantiates})
    resources: dict[str, dict[str, Any]] = {}
    system: list[dict[str, Any]] = []
    for item in interactions:
        if item.resource is None:
            entry = {"code": item.interaction}
            if item.documentation:
                entry["documentation"] = item.documentation
            if entry not in system:
                system.append(entry)
            continue
        resource = resources.setdefault(
            item.resource,
            {"type": item.resource, "interaction": [], "searchParam": [], "supportedProfile": []},
        )
        if item.interaction == "operation" and item.operation is not None:
            name, definition = item.operation
            operations = resource.setdefault("operation", [])
            if all(o["name"] != name for o in operations):
                operations.append({"name": name, "definition": definition})
            continue
        codes = [i["code"] for i in resource["interaction"]]
        if item.interaction not in codes:
            declared_interaction: dict[str, Any] = {"code": item.interaction}
            if item.documentation:
                declared_interaction["documentation"] = item.documentation
            resource["interaction"].append(declared_interaction)
        for param in item.search:
            if all(p["name"] != param.name for p in resource["searchParam"]):
                declared: dict[str, Any] = {"name": param.name, "type": param.type}
                if param.definition:
                    declared["definition"] = param.definition
                if param.documentation:
                    declared["documentation"] = param.documentation
                resource["searchParam"].append(declared)
        for profile in item.profiles:
            if profile not in resource["supportedProfile"]:
                resource["supportedProfile"].append(profile)
        if item.conditional_update:
            resource["conditionalUpdate"] = True
    rest_resources = []
    for name in sorted(resources):
        resource = resources[name]
        resource["interaction"].sort(
            key=lambda i: _ORDER.index(i["code"]) if i["code"] in _ORDER else len(_ORDER)
        )
        for key in ("searchParam", "supportedProfile"):
            if not resource[key]:
                del resource[key]
        rest_resources.append(resource)
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "OAuth",
                        }
                    ]
                }
            ],
            "description": "Authorization: Bearer JWT (IHE IUA; Pro Santé Connect claims). TLS recommended "
            "(ATNA secure node).",
        },
        "resource": rest_resources,
    }
    if system:
        rest["interaction"] = system
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "xds-server",
        "kind": "instance",
        "software": {"name": "xds-server", "version": __version__},
        "implementation": {
            "description": "IHE XDS.b registry/repository with an IHE MHD facade",
            "url": base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/fhir+xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }
    if instantiates:
        statement["instantiates"] = instantiates
    return statement


@router.get("/metadata", summary="CapabilityStatement (public)")
def metadata(fhir: PublicFhir, request: Request) -> Response:
    today = fhir.services.clock.now().date().isoformat()
    face: FhirFace = request.app.state.fhir_face
    statement = capability_statement(face.interactions, fhir.base, today)
    return fhir_response(statement, fhir.format)


__all__ = ["FHIR_VERSION", "capability_statement", "router"]
