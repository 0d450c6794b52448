"""ITI-66 Find Document Lists and List read (IHE MHD Document Responder, PDSm).

``GET /fhir/List?...`` and ``POST /fhir/List/_search`` answer a searchset Bundle of SubmissionSets and/or
Folders (list_search.py); ``GET /fhir/List/{id}`` one List. Unknown and hidden ids answer the same 404.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import page_bundle
from fhir_api.formats import fhir_response
from fhir_api.list_search import compile_search, find_page, read_list
from fhir_api.outcome import FhirError
from fhir_api.paging import PAGE_PARAMETER
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from fhir_api.routes.document_reference import MHD_RESPONDER, PDSM_RESPONDER
from fhir_api.search import SearchRequest, search_request

router = fhir_api_router()

_HL7: Final = "http://hl7.org/fhir/SearchParameter/"
_MHD: Final = "https://profiles.ihe.net/ITI/MHD/SearchParameter/"
PROFILES: Final = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.SubmissionSet",
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.Folder",
)
SEARCH_PARAMS: Final = (
    SearchParam("_id", "token", "entryUUID without urn:uuid:", _HL7 + "Resource-id"),
    SearchParam("_lastUpdated", "date", "as date", _HL7 + "Resource-lastUpdated"),
    SearchParam("code", "token", "submissionset or folder (MHDlistTypes)", _HL7 + "clinical-code"),
    SearchParam("date", "date", "submissionTime / lastUpdateTime", _HL7 + "clinical-date"),
    SearchParam("identifier", "token", "uniqueId or entryUUID", _HL7 + "clinical-identifier"),
    SearchParam("patient", "reference", "Patient/{OID-value}", _HL7 + "clinical-patient"),
    SearchParam("patient.identifier", "token", "urn:oid:AUTHORITY|ID"),
    SearchParam("source.given", "string", "SubmissionSet authorPerson XCN.3"),
    SearchParam("source.family", "string", "SubmissionSet authorPerson XCN.2"),
    SearchParam("status", "token", "current or retired", _HL7 + "List-status"),
    SearchParam("designationType", "token", "contentTypeCode / codeList", _MHD + "List-DesignationType"),
    SearchParam("sourceId", "token", "SubmissionSet sourceId", _MHD + "List-SourceId"),
    SearchParam(
        "isArchived",
        "token",
        "PDSm archive flag (true/false)",
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/SearchParameter/PDSm-isArchived",
    ),
)
_SEARCH = FhirInteraction(
    "List",
    "search-type",
    search=SEARCH_PARAMS,
    instantiates=(MHD_RESPONDER, PDSM_RESPONDER),
    profiles=PROFILES,
    documentation="ITI-66 Find Document Lists (ITI-18 FindSubmissionSets / FindFolders)",
)
_READ = FhirInteraction("List", "read", instantiates=(MHD_RESPONDER,), profiles=PROFILES)


async def _search(fhir: FhirRequest, search: SearchRequest) -> Response:
    plan = compile_search(search, fhir.services.profile)
    page = await run_in_threadpool(
        find_page, fhir.services, fhir.actor, plan, page=search.first(PAGE_PARAMETER), count=search.count()
    )
    return fhir_response(page_bundle(fhir.base, "List", search, page), fhir.format)


@router.get("/List", summary="ITI-66 Find Document Lists", openapi_extra=_SEARCH.extra())
async def search_lists(fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]) -> Response:
    return await _search(fhir, search)


@router.post("/List/_search", summary="ITI-66 Find Document Lists (form body)", openapi_extra=_SEARCH.extra())
async def search_lists_post(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    return await _search(fhir, search)


@router.get("/List/{logical_id}", summary="List read", openapi_extra=_READ.extra())
async def read_list_route(logical_id: str, fhir: Fhir) -> Response:
    found = await run_in_threadpool(read_list, fhir.services, fhir.actor, logical_id)
    if found is None:
        raise FhirError.not_found(f"List/{logical_id} is not known")
    return fhir_response(found, fhir.format)


__all__ = ["router"]
