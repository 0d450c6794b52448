"""Patient Identity Feed FHIR (ITI-104, PIXm Patient Identity Source -> the registry): conditional update.

``PUT /fhir/Patient?identifier=SYSTEM|VALUE`` with a Patient creates the patient (201, Location) or updates
it (200); the answer is the Patient as the registry now holds it. The same rules as the HL7 feed
(core.patient_feed): the registry's id is the identifier of the domain's assigning authority among
``Patient.identifier`` (``urn:oid:OID`` systems), the others are kept as cross-references, with name[0],
birthDate and gender. The URL's identifier must be one of the Patient's.

A merge is the subsumed Patient sent with ``active: false`` and ``link: [{type: replaced-by, other: Patient
?identifier=SYSTEM|VALUE or Patient/{id}}]``: its documents move to the surviving patient, its id stops
naming a patient, the two records' settings combine (core.patient_feed.merge_patients), and the answer shows
it inactive with its link. ``GET /fhir/Patient`` (PDQm, routes/patient.py) then finds the surviving patient
only: a merged id answers like an unknown one, as on the SOAP face.

Who may feed: ``wiring.access.may_feed_patients`` (any authenticated actor in the ``ihe`` profile, a system
actor only in the DMP profiles). Errors are OperationOutcomes: 400 for a request the rules refuse (no
identifier of the domain, a bad INS, a merge into itself), 403, 409 for an id that was merged away.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date
from typing import Any, Final

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.audit import request_trail
from fhir_api.formats import fhir_response, parse_resource, request_format
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id, patient_resource
from fhir_api.outcome import FhirError, OutcomeIssue
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, fhir_api_router
from fhir_api.search import Token
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.patient_feed import (
    Demographics,
    FedPatient,
    FeedOutcome,
    FeedProblem,
    FeedRefused,
    PatientFeedStore,
    Sex,
    merge_patients,
    pick_patient_id,
    register_patient,
)
from xds_server.wiring.access import may_feed_patients
from xds_server.wiring.audit import note_feed

router = fhir_api_router()

PIXM_SOURCE: Final = "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager"
_GENDER_TO_SEX: Final = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}
_STATUS: Final = {
    FeedProblem.NO_DOMAIN_ID: (400, "invalid"),
    FeedProblem.INVALID_ID: (400, "invalid"),
    FeedProblem.SAME_ID: (400, "invalid"),
    FeedProblem.INVALID_FIELD: (400, "invalid"),
    FeedProblem.MERGED_ID: (409, "conflict"),
}


def _refused(refusal: FeedRefused) -> FhirError:
    status, code = _STATUS[refusal.problem]
    return FhirError(status, [OutcomeIssue(code, refusal.message)])


def _cx(system: str, value: str) -> str | None:
    """The CX of an identifier with an ``urn:oid:`` system; None for other systems (cross-references)."""
    try:
        return cx_of_identifier(system, value)
    except IdentifierError:
        return None


def _url_identifier(request: Request) -> tuple[str, str]:
    names = set(request.query_params.keys())
    if names != {"identifier"} or len(request.query_params.getlist("identifier")) != 1:
        raise FhirError.invalid(
            "a Patient conditional update takes exactly one search parameter: identifier=SYSTEM|VALUE"
        )
    token = Token.parse(request.query_params["identifier"])
    if not token.system or not token.code:
        raise FhirError.invalid("identifier must be SYSTEM|VALUE (the system as urn:oid:OID)")
    return token.system, token.code


def _identifiers(resource: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for identifier in resource.get("identifier") or []:
        system, value = str(identifier.get("system", "")).strip(), str(identifier.get("value", "")).strip()
        if value:
            found.append((system, value))
    return found


def _demographics(resource: dict[str, Any]) -> Demographics:
    names = resource.get("name") or [{}]
    first = names[0]
    gender = resource.get("gender")
    try:
        birth = (
            date.fromisoformat(resource["birthDate"]) if len(resource.get("birthDate", "")) == 10 else None
        )
    except ValueError:
        raise FhirError.invalid(f"Patient.birthDate {resource.get('birthDate')!r} is not a date") from None
    return Demographics(
        family=first.get("family") or None,
        given=tuple(g for g in first.get("given") or () if g),
        birth_date=birth,
        sex=_GENDER_TO_SEX.get(gender) if gender else None,
    )


def _survivor_of(fhir: FhirRequest, resource: dict[str, Any]) -> str | None:
    """The canonical id a ``replaced-by`` link names (``Patient?identifier=SYSTEM|VALUE`` or ``Patient/{id}``,
    relative or absolute), or None when the Patient has no such link."""
    links = [link for link in resource.get("link") or [] if link.get("type") == "replaced-by"]
    if not links:
        return None
    if len(links) > 1:
        raise FhirError.invalid("a Patient can be replaced by one Patient only")
    reference = str((links[0].get("other") or {}).get("reference", "")).strip()
    path = reference
    if "://" in path:  # absolute: what follows the base
        marker = path.find("/Patient")
        path = path[marker + 1 :] if marker >= 0 else path
    try:
        if path.startswith("Patient?identifier="):
            token = Token.parse(path.removeprefix("Patient?identifier="))
            cx = cx_of_identifier(token.system or "", token.code)
        elif path.startswith("Patient/"):
            cx = cx_of_logical_id(path.removeprefix("Patient/"))
        else:
            raise IdentifierError("syntax", "expected Patient?identifier=SYSTEM|VALUE or Patient/{id}")
        return canonical_patient_id(cx, fhir.services.profile)
    except IdentifierError as error:
        raise FhirError.invalid(f"Patient.link.other {reference!r}: {error}") from None


def _fed(fhir: FhirRequest, resource: dict[str, Any], url_identifier: tuple[str, str]) -> FedPatient:
    identifiers = _identifiers(resource)
    if url_identifier not in identifiers:
        raise FhirError.invalid(
            f"the identifier of the URL ({url_identifier[0]}|{url_identifier[1]}) is not one of the Patient's"
        )
    domain_forms = [_cx(system, value) or "" for system, value in identifiers]
    try:
        position, patient_id = pick_patient_id(domain_forms, fhir.services.profile, "Patient.identifier")
    except FeedRefused as refusal:
        raise _refused(refusal) from None
    references = tuple(f"{s}|{v}" for i, (s, v) in enumerate(identifiers) if i != position)
    # an update states the whole Patient: what it leaves out is cleared (FHIR update semantics)
    return FedPatient(patient_id, tuple(dict.fromkeys(references)), _demographics(resource), complete=True)


def _apply(fhir: FhirRequest, fed: FedPatient, survivor: str | None) -> tuple[FeedOutcome, dict[str, Any]]:
    factory = fhir.services.feed_transaction
    if factory is None:
        raise FhirError.single(501, "not-supported", "this server takes no patient identity feed")
    trail = request_trail(fhir.request)
    subsumed = fed.patient_id if survivor is not None else None
    transaction: AbstractContextManager[PatientFeedStore] = factory()
    with transaction as store:
        try:
            if survivor is None:
                result = register_patient(store, fed)
            else:
                result = merge_patients(store, FedPatient(survivor), fed.patient_id)
        except FeedRefused as refusal:
            if trail is not None:
                note_feed(trail, None, survivor or fed.patient_id, subsumed)
            raise _refused(refusal) from None
        if trail is not None:  # before the commit: the trace is written in this transaction
            note_feed(trail, result.outcome, result.patient_id, subsumed)
        stored = store.get(fed.patient_id)
    assert stored is not None  # just written in this transaction
    return result.outcome, patient_resource(stored)


_UPDATE = FhirInteraction(
    "Patient",
    "update",
    conditional_update=True,
    instantiates=(PIXM_SOURCE,),
    documentation="Patient Identity Feed FHIR (ITI-104): conditional update by identifier; a merge is the "
    "subsumed Patient with active=false and a replaced-by link",
)


@router.put("/Patient", summary="Patient identity feed (ITI-104)", openapi_extra=_UPDATE.extra())
async def feed_patient(request: Request, fhir: Fhir) -> Response:
    if not may_feed_patients(fhir.services, fhir.actor):
        raise FhirError.single(403, "forbidden", "this actor may not feed the patient directory")
    url_identifier = _url_identifier(request)
    resource = parse_resource(await request.body(), request_format(request))
    if resource.get("resourceType") != "Patient":
        raise FhirError.invalid(f"the body is a {resource.get('resourceType')}, a Patient is expected")
    fed = _fed(fhir, resource, url_identifier)
    survivor = _survivor_of(fhir, resource)
    if survivor is not None and resource.get("active") is not False:
        raise FhirError.invalid("a Patient replaced by another (merge) must have active = false")
    outcome, answer = await run_in_threadpool(_apply, fhir, fed, survivor)
    if outcome is FeedOutcome.CREATED:
        location = fhir.url(f"Patient/{answer['id']}")
        return fhir_response(answer, fhir.format, 201, headers={"Location": location})
    return fhir_response(answer, fhir.format)


__all__ = ["router"]
