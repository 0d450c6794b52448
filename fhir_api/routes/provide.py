"""ITI-65 Provide Document Bundle: ``POST /fhir`` with a transaction Bundle (JSON or XML).

Glue, like soap/iti41.py: read the bundle into the core Submission and staged documents
(fhir_api/provide_bundle.py), then run the SAME use case as ITI-41 (``core.usecases.provide``: the documents
made durable, then the ITI-42 register use case with the DMP rules, in one registry transaction). Before any
document is made durable, the checks that need no write run here: the DMP record gate
(``precheck_submission``), the patient's presence in the directory, hash/size against the bytes and the
registry's own metadata validation; so a refused bundle leaves neither registry rows nor blobs. A failure
inside the registry transaction (a uniqueId already registered, a relationship to an unknown or hidden
document) is found by a rehearsal of the registration in a transaction that is always rolled back, also
before any document is stored. Only what changes between the rehearsal and the registration (a concurrent
submission of the same uniqueId) can fail after the documents are durable: every row is rolled back and the
documents wait for ``gc``, exactly as for ITI-41 (another request may reference the same content-addressed
blob meanwhile, so a failed request never deletes one).

Answer: a ``transaction-response`` Bundle, one entry per request entry in order: ``201 Created`` with the
location of what was created (``List/{id}``, ``DocumentReference/{id}``, ``Binary/{id}`` = the document's
ITI-68 address), ``200 OK`` for the PATCH that supersedes a replaced DocumentReference, a Folder PUT and a
Patient entry (nothing of theirs is created). Registry warnings go in the first entry's
``response.outcome``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.formats import fhir_response, parse_resource, request_format
from fhir_api.outcome import FhirError, issue_of, outcome_json
from fhir_api.provide_bundle import (
    COMPREHENSIVE,
    PDSM,
    UNCONTAINED,
    BundleReader,
    ProvideRequest,
    locations,
)
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, fhir_api_router
from xds_server.core.errors import ErrorCode, Issue, XdsError, raise_if_errors
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import Submission
from xds_server.core.query import EVERYTHING, DocumentCriteria, QueryPort
from xds_server.core.query.criteria import AssociationCriteria, FolderCriteria
from xds_server.core.repository import attach_documents
from xds_server.core.submission import RegistrationPlan
from xds_server.core.usecases.provide import provide_and_register
from xds_server.core.usecases.register import register_plan
from xds_server.core.validation import validate_submission
from xds_server.core.vocabulary import AssociationType, Status
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import check_submission, precheck_submission

router = fhir_api_router()

TRANSACTION = "ITI-65"
#: The validation rules of the ITI-41 this is translated to.
VALIDATED_AS = "ITI-41"
RECIPIENT = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient"
RECIPIENT_COMPREHENSIVE = RECIPIENT + ".Comprehensive"
RECIPIENT_UNCONTAINED = RECIPIENT + ".UnContained"
PDSM_SERVER = "https://interop.esante.gouv.fr/ig/fhir/pdsm/CapabilityStatement/PDSm-DocumentRecipient"

_INTERACTION = FhirInteraction(
    None,
    "transaction",
    instantiates=(RECIPIENT, RECIPIENT_COMPREHENSIVE, RECIPIENT_UNCONTAINED, PDSM_SERVER),
    profiles=(COMPREHENSIVE, UNCONTAINED, PDSM),
    documentation="ITI-65 Provide Document Bundle (MHD Comprehensive / UnContained, PDSm): translated to "
    "ITI-41 and registered atomically",
)


class _Lookup:
    """The registry reads resolving a bundle needs (any status, whole registry: the DMP rules decide later
    what the actor may reference, and answer a hidden target like an absent one)."""

    def __init__(self, work: UnitOfWork) -> None:
        if work.queries is None:
            raise RuntimeError("UnitOfWork.queries is not wired")
        self.queries: QueryPort = work.queries

    def document_by_unique_id(self, unique_id: str) -> str | None:
        rows = self.queries.find_documents(
            DocumentCriteria(unique_ids=frozenset({unique_id}), statuses=frozenset({Status.APPROVED.value})),
            scope=EVERYTHING,
            limit=2,
            with_xml=False,
        )
        return rows[0].entry_uuid if rows else None

    def folder_by_unique_id(self, unique_id: str) -> str | None:
        rows = self.queries.find_folders(
            FolderCriteria(unique_ids=frozenset({unique_id}), latest_only=True),
            scope=EVERYTHING,
            limit=2,
            with_xml=False,
        )
        return rows[0].entry_uuid if rows else None

    def folder_members(self, folder_uuid: str) -> frozenset[str]:
        rows = self.queries.find_associations(
            AssociationCriteria(
                sources=frozenset({folder_uuid}), types=frozenset({AssociationType.HAS_MEMBER.value})
            ),
            scope=EVERYTHING,
            limit=100_000,
            with_xml=False,
        )
        return frozenset(r.target for r in rows if r.target)


def _patient_checks(services: Services, work: UnitOfWork, request: ProvideRequest) -> None:
    """The SubmissionSet's patient must be in the directory (XDSUnknownPatientId, as the registry says it,
    but before any document is stored) and every Patient entry of the bundle must be that patient."""
    package = request.submission.submission_set
    if package is None or not package.patient_id:
        return
    try:
        patient = canonical_patient_id(package.patient_id, services.profile)
    except IdentifierError:
        return  # validation reports the id itself
    if work.patients.get(patient) is None:
        raise XdsError.single(
            ErrorCode.UNKNOWN_PATIENT_ID,
            f"patient id {patient} is not known to the registry",
            package.entry_uuid,
        )
    for cx in request.patients:
        try:
            other = canonical_patient_id(cx, services.profile)
        except IdentifierError as error:
            raise XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, str(error)) from None
        if other != patient:
            raise XdsError.single(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                f"the Patient of the bundle ({other}) is not the SubmissionSet's patient ({patient})",
            )


class _RolledBack(Exception):
    """Ends the rehearsal transaction: everything it wrote is rolled back."""


def _rehearse(
    services: Services,
    request: ProvideRequest,
    register: Callable[..., RegistrationPlan],
) -> None:
    """Run the registration once in a transaction that is always rolled back, before any document is made
    durable: every registry rule (validation, DMP rules, uniqueIds, relationship targets, Folders) answers
    now, so a bundle the registry refuses leaves no blob either. The real registration runs it again in its
    own transaction (something may have changed in between: then, as for ITI-41, its documents wait for
    ``gc``)."""
    attached = attach_documents(
        request.submission,
        [d.measured() for d in request.documents],
        repository_unique_id=services.settings.repository_unique_id,
    )
    raise_if_errors(validate_submission(attached, services.profile, transaction=VALIDATED_AS))
    try:
        with services.transaction() as work:
            register(attached, store=work)
            raise _RolledBack
    except _RolledBack:
        pass


def provide(fhir: FhirRequest, bundle: Mapping[str, Any]) -> tuple[ProvideRequest, RegistrationPlan]:
    services = fhir.services
    blobs = services.blobs
    if blobs is None:
        raise XdsError.single(ErrorCode.REPOSITORY_ERROR, "this server has no document repository")
    with services.for_reading().transaction() as work:
        request = BundleReader(bundle, spool_dir=services.spool_dir, registry=_Lookup(work)).read()
    try:
        precheck_submission(services, fhir.actor, request.submission)
        with services.for_reading().transaction() as work:
            _patient_checks(services, work, request)

        def register(attached: Submission, *, store: UnitOfWork) -> RegistrationPlan:
            check_submission(services, fhir.actor, store, attached)
            return register_plan(
                attached,
                store=store.registry,
                profile=services.profile,
                clock=services.clock,
                ids=services.ids,
                transaction=VALIDATED_AS,
            )

        _rehearse(services, request, register)
        plan = provide_and_register(
            request.submission,
            request.documents,
            blobs=blobs,
            repository_unique_id=services.settings.repository_unique_id,
            transaction=services.transaction,
            register=register,
        )
    finally:
        request.discard()
    return request, plan


def response_bundle(fhir: FhirRequest, request: ProvideRequest, plan: RegistrationPlan) -> dict[str, Any]:
    entries = locations(request, plan.final_id)
    warnings: tuple[Issue, ...] = tuple(w for w in plan.warnings if not w.is_error)
    if warnings and entries:
        entries[0]["response"]["outcome"] = outcome_json(issue_of(w) for w in warnings)
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "link": [{"relation": "self", "url": fhir.base}],
        "entry": entries,
    }


async def _transaction(fhir: FhirRequest, request: Request) -> Response:
    body = await request.body()
    resource = parse_resource(body, request_format(request))
    if resource.get("resourceType") != "Bundle":
        raise FhirError.invalid(
            f"POST on the base takes a transaction Bundle (ITI-65), not a {resource.get('resourceType')}"
        )
    provided, plan = await run_in_threadpool(provide, fhir, resource)
    return fhir_response(response_bundle(fhir, provided, plan), fhir.format)


@router.post("", summary="ITI-65 Provide Document Bundle (transaction)", openapi_extra=_INTERACTION.extra())
async def transaction(fhir: Fhir, request: Request) -> Response:
    return await _transaction(fhir, request)


@router.post("/", include_in_schema=False)
async def transaction_slash(fhir: Fhir, request: Request) -> Response:
    return await _transaction(fhir, request)


__all__ = ["TRANSACTION", "provide", "router"]
