"""ITI-67 Find Document References and DocumentReference read (IHE MHD Document Responder, PDSm).

``GET /fhir/DocumentReference?...`` and ``POST /fhir/DocumentReference/_search`` (form body) answer a
searchset Bundle (document_search.py compiles the parameters to ITI-18 FindDocuments and pages the
result); ``GET /fhir/DocumentReference/{id}`` one DocumentReference. A document the actor may not see and
an unknown id answer the same 404.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import page_bundle
from fhir_api.document_search import compile_search, find_page, read_document
from fhir_api.formats import fhir_response
from fhir_api.outcome import FhirError
from fhir_api.paging import PAGE_PARAMETER
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from fhir_api.search import SearchRequest, search_request

router = fhir_api_router()

MHD_RESPONDER: Final = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder"
PDSM_RESPONDER: Final = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/CapabilityStatement/PDSm-GestionnaireDePartageDeDocuments"
)
PROFILES: Final = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.DocumentReference",
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference",
)
_HL7: Final = "http://hl7.org/fhir/SearchParameter/"
_PDSM: Final = "https://interop.esante.gouv.fr/ig/fhir/pdsm/SearchParameter/"

SEARCH_PARAMS: Final = (
    SearchParam("_id", "token", "entryUUID without urn:uuid:", _HL7 + "Resource-id"),
    SearchParam(
        "_lastUpdated",
        "date",
        "submissionTime of the registering SubmissionSet",
        _HL7 + "Resource-lastUpdated",
    ),
    SearchParam("author.given", "string", "XCN.3 of an authorPerson (exact, case-sensitive)"),
    SearchParam("author.family", "string", "XCN.2 of an authorPerson (exact, case-sensitive)"),
    SearchParam("category", "token", "classCode", _HL7 + "DocumentReference-category"),
    SearchParam(
        "creation",
        "date",
        "creationTime",
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation",
    ),
    SearchParam(
        "date", "date", "submissionTime of the registering SubmissionSet", _HL7 + "DocumentReference-date"
    ),
    SearchParam("event", "token", "eventCodeList (repeat for AND)", _HL7 + "DocumentReference-event"),
    SearchParam("facility", "token", "healthcareFacilityTypeCode", _HL7 + "DocumentReference-facility"),
    SearchParam("format", "token", "formatCode", _HL7 + "DocumentReference-format"),
    SearchParam("identifier", "token", "uniqueId, entryUUID or logicalId", _HL7 + "clinical-identifier"),
    SearchParam("patient", "reference", "Patient/{OID-value}", _HL7 + "clinical-patient"),
    SearchParam("patient.identifier", "token", "urn:oid:AUTHORITY|ID (INS: urn:oid:1.2.250.1.213.1.4.8|NIR)"),
    SearchParam(
        "period", "date", "service time overlap (serviceStart/StopTime)", _HL7 + "DocumentReference-period"
    ),
    SearchParam(
        "related",
        "reference",
        "referenceIdList (system|value or a whole CXi)",
        _HL7 + "DocumentReference-related",
    ),
    SearchParam(
        "security-label",
        "token",
        "confidentialityCode (repeat for AND)",
        _HL7 + "DocumentReference-security-label",
    ),
    SearchParam("setting", "token", "practiceSettingCode", _HL7 + "DocumentReference-setting"),
    SearchParam("status", "token", "current or superseded", _HL7 + "DocumentReference-status"),
    SearchParam("type", "token", "typeCode", _HL7 + "clinical-type"),
    SearchParam("isArchived", "token", "PDSm archive flag (true/false)", _PDSM + "PDSm-isArchived"),
    SearchParam(
        "period-start", "date", "serviceStartTime (PDSm)", _PDSM + "PDSm-DocumentReference-period-start"
    ),
    SearchParam("period-end", "date", "serviceStopTime (PDSm)", _PDSM + "PDSm-DocumentReference-period-end"),
)

_SEARCH = FhirInteraction(
    "DocumentReference",
    "search-type",
    search=SEARCH_PARAMS,
    instantiates=(MHD_RESPONDER, PDSM_RESPONDER),
    profiles=PROFILES,
    documentation="ITI-67 Find Document References (ITI-18 FindDocuments on the registry)",
)
_READ = FhirInteraction("DocumentReference", "read", instantiates=(MHD_RESPONDER,), profiles=PROFILES)


async def _search(fhir: FhirRequest, search: SearchRequest) -> Response:
    plan = compile_search(search, fhir.services.profile)
    page = await run_in_threadpool(
        find_page,
        fhir.services,
        fhir.actor,
        plan,
        base=fhir.base,
        page=search.first(PAGE_PARAMETER),
        count=search.count(),
    )
    return fhir_response(page_bundle(fhir.base, "DocumentReference", search, page), fhir.format)


@router.get("/DocumentReference", summary="ITI-67 Find Document References", openapi_extra=_SEARCH.extra())
async def search_documents(fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]) -> Response:
    return await _search(fhir, search)


@router.post(
    "/DocumentReference/_search",
    summary="ITI-67 Find Document References (form body)",
    openapi_extra=_SEARCH.extra(),
)
async def search_documents_post(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    return await _search(fhir, search)


@router.get("/DocumentReference/{logical_id}", summary="DocumentReference read", openapi_extra=_READ.extra())
async def read_document_reference(logical_id: str, fhir: Fhir) -> Response:
    found = await run_in_threadpool(read_document, fhir.services, fhir.actor, logical_id, fhir.base)
    if found is None:
        raise FhirError.not_found(f"DocumentReference/{logical_id} is not known")
    return fhir_response(found, fhir.format)


__all__ = ["MHD_RESPONDER", "PDSM_RESPONDER", "router"]
