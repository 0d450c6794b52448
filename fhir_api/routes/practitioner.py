"""Practitioner search (IHE mCSD ITI-90 subset): a patient finds the professional he wants to block.

``GET /fhir/Practitioner?name=N&address-city=C`` or ``...&address-postalcode=P`` (one place, required), with a
patient or legal representative token only (others: 403). The directory is the Annuaire Santé extract an
administrator loaded (``xds-server professionals load``); the match rules are core.professionals (accents
and case ignored, each word of ``name`` begins a word of the name). The answer shows what a patient may know:
the IDNPS (the public identifier the block list holds), name, profession (TRE_G15) and the communes where
he works in the searched place; at most ``wiring.professionals.MAX_MATCHES`` (``_count`` lowers it), with a
warning when more matched (refine the search: the directory is not listed page by page). Blocking is then
``PUT /fhir/Consent/blocked-{IDNPS}`` (routes/record_settings.py). Each search is traced (ITI-90).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import search_url, searchset
from fhir_api.formats import fhir_response
from fhir_api.outcome import FhirError, OutcomeIssue
from fhir_api.router import Fhir, FhirInteraction, SearchParam, fhir_api_router
from fhir_api.search import SearchRequest, search_request
from xds_server.core.professionals import Professional, ProfessionalSearch, SearchError
from xds_server.wiring.professionals import (
    MAX_MATCHES,
    Matches,
    may_search_professionals,
    search_professionals,
)

router = fhir_api_router()

PS_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.1"
PROFESSION_SYSTEM: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
SEARCH_PARAMS: Final = (
    SearchParam(
        "name",
        "string",
        "The professional's name (family and/or given); accents and case ignored, each word a prefix",
        "http://hl7.org/fhir/SearchParameter/Practitioner-name",
    ),
    SearchParam(
        "address-city",
        "string",
        "The commune where he works (this or address-postalcode is required)",
        "http://hl7.org/fhir/SearchParameter/individual-address-city",
    ),
    SearchParam(
        "address-postalcode",
        "string",
        "The postal code where he works (five digits)",
        "http://hl7.org/fhir/SearchParameter/individual-address-postalcode",
    ),
)


def practitioner_resource(professional: Professional) -> dict[str, Any]:
    """What a patient sees of a professional: identifier, name, profession, the communes listed."""
    name: dict[str, Any] = {"family": professional.family_name}
    if professional.given_name:
        name["given"] = [professional.given_name]
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": professional.national_id,
        "identifier": [{"system": PS_SYSTEM, "value": professional.national_id}],
        "active": True,
        "name": [name],
        "qualification": [
            {
                "code": {
                    "coding": [
                        {
                            "system": PROFESSION_SYSTEM,
                            "code": professional.profession_code,
                            "display": professional.profession,
                        }
                    ]
                }
            }
        ],
    }
    if professional.communes:
        resource["address"] = [{"use": "work", "city": commune} for commune in professional.communes]
    return resource


def _single(search: SearchRequest, name: str) -> str | None:
    found = search.values(name)
    if any(modifier is not None for modifier, _ in found):
        raise FhirError.single(400, "not-supported", f"{name}: no modifier is supported")
    if len(found) > 1:
        raise FhirError.invalid(f"{name}: give it once")
    return found[0][1] if found else None


_SEARCH = FhirInteraction(
    "Practitioner",
    "search-type",
    search=SEARCH_PARAMS,
    documentation="Find a professional by name and place (patient and legal representative tokens only), "
    "to block or unblock him with Consent/blocked-{IDNPS}",
    audit="ITI-90",
)


@router.get("/Practitioner", summary="Find a professional (mCSD subset)", openapi_extra=_SEARCH.extra())
async def search_practitioners(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    actor = fhir.authenticated
    if not may_search_professionals(actor):
        raise FhirError.single(
            403, "forbidden", "only a patient or his legal representative searches the professionals"
        )
    search.only_known(p.name for p in SEARCH_PARAMS)
    try:
        wanted = ProfessionalSearch.of(
            _single(search, "name") or "",
            _single(search, "address-city"),
            _single(search, "address-postalcode"),
        )
    except SearchError as error:
        raise FhirError.invalid(str(error)) from None
    limit = min(search.count(), MAX_MATCHES)

    def run() -> Matches | None:
        with fhir.services.for_reading().transaction() as work:
            return search_professionals(actor, work, wanted, limit=limit)

    matches = (await run_in_threadpool(run) if limit > 0 else None) or Matches((), False)
    warnings = list(search.warnings)
    if matches.more:
        warnings.append(
            OutcomeIssue(
                "too-costly",
                f"more than {limit} professionals match: give more of the name, or the postal code",
                severity="warning",
            )
        )
    found = [practitioner_resource(p) for p in matches.professionals]
    self_link = search_url(fhir.base, "Practitioner", search.pairs())
    total = None if matches.more else len(found)
    bundle = searchset(fhir.base, found, self_link=self_link, total=total, warnings=warnings)
    return fhir_response(bundle, fhir.format)


__all__ = ["practitioner_resource", "router"]
