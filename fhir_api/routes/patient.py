"""Patient read and search (PDQm ITI-78 subset): the registry's patient directory as FHIR Patients.

``GET /fhir/Patient/{id}``, ``GET /fhir/Patient?identifier=SYSTEM|VALUE`` (also ``_id``), ``POST
/fhir/Patient/_search``. An identifier is canonicalised as the SOAP face does (``canonical_patient_id`` with
the profile), so every accepted spelling finds one patient. What an actor may see of the directory is
``wiring.access.directory_visible``; a patient he may not see answers exactly like an unknown one (404 on
read, no match on search).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import search_url, searchset
from fhir_api.formats import fhir_response
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id, patient_resource
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from fhir_api.search import SearchRequest, Token, or_values, search_request
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.wiring.access import directory_visible

router = fhir_api_router()

PDQM_SUPPLIER = "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier"
SEARCH_PARAMS = (
    SearchParam(
        "identifier",
        "token",
        "The patient identifier: SYSTEM|VALUE with the assigning authority as urn:oid:OID (INS: "
        "urn:oid:1.2.250.1.213.1.4.8|NIR)",
        "http://hl7.org/fhir/SearchParameter/Patient-identifier",
    ),
    SearchParam("_id", "token", "Logical id (OID-value)", "http://hl7.org/fhir/SearchParameter/Resource-id"),
)


def _canonical(fhir: FhirRequest, cx: str) -> str | None:
    try:
        return canonical_patient_id(cx, fhir.services.profile)
    except IdentifierError:
        return None


def _find(fhir: FhirRequest, patient_ids: list[str]) -> list[dict[str, object]]:
    found = []
    with fhir.services.for_reading().transaction() as work:
        for patient_id in dict.fromkeys(patient_ids):
            stored = work.patients.stored(patient_id)
            if stored is None or not directory_visible(
                fhir.services, fhir.actor, patient_id, stored.state.value
            ):
                continue
            found.append(patient_resource(stored))
    return found


@router.get(
    "/Patient/{logical_id}",
    summary="Patient read",
    openapi_extra=FhirInteraction("Patient", "read", instantiates=(PDQM_SUPPLIER,)).extra(),
)
def read_patient(logical_id: str, fhir: Fhir) -> Response:
    try:
        cx = cx_of_logical_id(logical_id)
    except IdentifierError:
        raise FhirError.not_found(f"Patient/{logical_id} is not known") from None
    canonical = _canonical(fhir, cx)
    found = _find(fhir, [canonical]) if canonical else []
    if not found:
        raise FhirError.not_found(f"Patient/{logical_id} is not known")
    return fhir_response(found[0], fhir.format)


def _candidates(fhir: FhirRequest, search: SearchRequest) -> list[str] | None:
    """Canonical patient ids the search names (AND across parameters, OR within one); None: no filter."""
    selected: set[str] | None = None
    for name, to_cx in (
        ("identifier", lambda v: cx_of_identifier(Token.parse(v).system or "", Token.parse(v).code)),
        ("_id", cx_of_logical_id),
    ):
        for _modifier, value in search.values(name):
            names: set[str] = set()
            for alternative in or_values(value):
                try:
                    canonical = _canonical(fhir, to_cx(alternative))
                except IdentifierError:
                    canonical = None
                if canonical:
                    names.add(canonical)
            selected = names if selected is None else selected & names
    return None if selected is None else sorted(selected)


async def _search(fhir: FhirRequest, search: SearchRequest) -> Response:
    search.only_known(p.name for p in SEARCH_PARAMS)
    candidates = _candidates(fhir, search)
    if candidates is None:
        raise FhirError.invalid("a Patient search needs identifier or _id (the directory is not listed)")
    found = await run_in_threadpool(_find, fhir, candidates)
    found = found[: search.count()]
    self_link = search_url(fhir.base, "Patient", search.pairs())
    bundle = searchset(fhir.base, found, self_link=self_link, total=len(found), warnings=search.warnings)
    return fhir_response(bundle, fhir.format)


_SEARCH = FhirInteraction("Patient", "search-type", search=SEARCH_PARAMS, instantiates=(PDQM_SUPPLIER,))


@router.get("/Patient", summary="Patient search (PDQm subset)", openapi_extra=_SEARCH.extra())
async def search_patients(fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]) -> Response:
    return await _search(fhir, search)


@router.post("/Patient/_search", summary="Patient search (form body)", openapi_extra=_SEARCH.extra())
async def search_patients_post(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    return await _search(fhir, search)


__all__ = ["router"]
