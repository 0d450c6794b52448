"""PDSm metadata update (flux 03/04): ``PATCH /fhir/DocumentReference?identifier=...`` with a JSON Patch,
run as ITI-57 Update Document Set.

Theory of operation (PDSm 3.1.1 "mise à jour des métadonnées"; ITI TF-2b 3.57; dmp-rules.md masking):

1. The body is a JSON Patch (RFC 6902, ``application/json-patch+json``; other patch formats: 415). It is
   applied, with the ``jsonpatch`` library, to the DocumentReference this server shows for the latest version
   of the document (fhir-read's output mapping), so paths and indices are those of that representation.
   A malformed patch, or one that does not apply (failed ``test``, missing path) is a 422.
2. The patched resource may differ from the current one in ``status``, ``securityLabel`` and the PDSm
   ``isArchived`` extension only; any other change is 405 (PDSm). A status other than current/superseded
   and a result that is no longer a valid DocumentReference are 422.
3. The conditional ``identifier`` (``SYSTEM|VALUE`` or ``VALUE``) names the document by uniqueId
   (masterIdentifier), entryUUID or DMP logical id (the ``urn:uuid:`` identifiers); among the latest
   versions, none matching is 404 and several documents 412 (FHIR conditional update).
4. The changes become ONE ITI-57 SubmissionSet (patient = the document's; sourceId = this repository's
   uniqueId; contentTypeCode = the document's classCode; author = the actor): a securityLabel or isArchived
   change is a new version of the DocumentEntry (new entryUUID, same logical id, PreviousVersion = the
   version read), a status change an UpdateAvailabilityStatus (Approved <-> Deprecated) of it. The same
   DMP rules as a SOAP ITI-57 run first (``wiring.access.check_update``: masking by the author, his
   structure or the administrator doctors; other changes by the author and his structure; deprecation by
   the author and his structure), then the same ``update_plan`` use case, all in one transaction.
5. A document the actor may not address (another patient's record, or one the DMP rules hide from him)
   answers exactly like an unknown identifier (404, same text).

Answer: 200 and the DocumentReference of the new latest version.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Final

import jsonpatch
import jsonpointer
import orjson
from fastapi import Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from fhir_api.document_search import load_resources
from fhir_api.formats import fhir_response, model_class
from fhir_api.mapping.codes import coding_scheme, from_oid_uri
from fhir_api.mapping.document_reference import ARCHIVED_SLOT, IS_ARCHIVED_EXTENSION, STATUS_FROM_FHIR
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, fhir_api_router
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Code, DocumentEntry, Slot, Submission
from xds_server.core.policy import AccessContext
from xds_server.core.query import EVERYTHING, DocumentCriteria
from xds_server.core.query.fetch import Fetcher
from xds_server.core.vocabulary import ObjectType
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import directory_visible
from xds_server.wiring.documents import update_entry, update_submission
from xds_server.wiring.reads import decoded

router = fhir_api_router()

JSON_PATCH: Final = "application/json-patch+json"
PDSM_SERVER = "https://interop.esante.gouv.fr/ig/fhir/pdsm/CapabilityStatement/PDSm-DocumentRecipient"
PDSM_DOCUMENT_REFERENCE = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference"
)
#: The IDNPS assigning authority (a professional's national id in an XCN).
PS_NATIONAL_ID_OID: Final = "1.2.250.1.71.4.2.1"
_BOTH_TYPES: Final = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})
#: check_update's answers for a version or status target that does not exist for the actor.
_ABSENT: Final = frozenset({ErrorCode.METADATA_VERSION_ERROR, ErrorCode.METADATA_UPDATE_ERROR})

_INTERACTION = FhirInteraction(
    "DocumentReference",
    "patch",
    instantiates=(PDSM_SERVER,),
    profiles=(PDSM_DOCUMENT_REFERENCE,),
    documentation="PDSm metadata update (conditional PATCH by identifier, JSON Patch): status, securityLabel "
    "(masking) and isArchived only; run as ITI-57",
)


def _not_found(identifier: str) -> FhirError:
    return FhirError.not_found(f"no DocumentReference matches identifier={identifier}")


def _identifier_criteria(value: str) -> list[DocumentCriteria]:
    """The criteria an identifier token names: uniqueId (masterIdentifier), or an entryUUID / logical id."""
    system, sep, code = value.partition("|")
    text = (code if sep else system).strip()
    if not text:
        raise FhirError.invalid("identifier needs a value (SYSTEM|VALUE or VALUE)")
    if text.startswith("urn:uuid:"):
        uuids = frozenset({text.lower()})
        return [DocumentCriteria(logical_ids=uuids), DocumentCriteria(entry_uuids=uuids)]
    return [DocumentCriteria(unique_ids=frozenset({from_oid_uri(text)}))]


def _latest(work: UnitOfWork, identifier: str) -> DocumentEntry:
    """The latest version of the one document the identifier names (404 none, 412 several)."""
    if work.queries is None:
        raise RuntimeError("UnitOfWork.queries is not wired")
    found: dict[str, Any] = {}
    for criteria in _identifier_criteria(identifier):
        rows = work.queries.find_documents(
            dataclasses.replace(criteria, latest_only=True, object_types=_BOTH_TYPES),
            scope=EVERYTHING,
            limit=10,
            with_xml=True,
        )
        for row in rows:
            found[row.entry_uuid] = row
    entries = [decoded(row) for row in found.values()]
    documents = {e.logical_id or e.entry_uuid: e for e in entries if isinstance(e, DocumentEntry)}
    if not documents:
        raise _not_found(identifier)
    if len(documents) > 1:
        raise FhirError.single(
            412,
            "multiple-matches",
            f"identifier={identifier} names {len(documents)} documents: be more precise",
        )
    return next(iter(documents.values()))


def _without_updatable(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource minus what PDSm lets a PATCH change."""
    rest = {k: v for k, v in resource.items() if k not in ("status", "securityLabel")}
    extensions = [e for e in rest.get("extension", ()) if e.get("url") != IS_ARCHIVED_EXTENSION]
    if extensions:
        rest["extension"] = extensions
    else:
        rest.pop("extension", None)
    return rest


def _archived(resource: dict[str, Any]) -> bool | None:
    for extension in resource.get("extension", ()):
        if extension.get("url") == IS_ARCHIVED_EXTENSION:
            value = extension.get("valueBoolean")
            if not isinstance(value, bool):
                raise FhirError.invalid("the isArchived extension carries valueBoolean", status=422)
            return value
    return None


def _labels(resource: dict[str, Any]) -> tuple[Code, ...]:
    codes = []
    for concept in resource.get("securityLabel", ()):
        for coding in concept.get("coding", ()):
            if not coding.get("code") or not coding.get("system"):
                raise FhirError.invalid("every securityLabel coding has a system and a code", status=422)
            codes.append(
                Code(
                    str(coding["code"]), coding_scheme(str(coding["system"])), str(coding.get("display", ""))
                )
            )
    return tuple(codes)


def _apply(current: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    try:
        patched: dict[str, Any] = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(current))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as error:
        raise FhirError.invalid(f"the JSON Patch does not apply: {error}", status=422) from None
    if not isinstance(patched, dict):
        raise FhirError.invalid("the JSON Patch does not leave a DocumentReference", status=422)
    try:
        model_class("DocumentReference").model_validate(patched)
    except (ValidationError, ValueError) as error:
        raise FhirError.invalid(f"the patched DocumentReference is not valid: {error}", status=422) from None
    return patched


def _submission(
    services: Services,
    actor: AccessContext | None,
    entry: DocumentEntry,
    status: str | None,
    labels: tuple[Code, ...] | None,
    archived: bool | None,
) -> Submission:
    """The ITI-57 request for these changes (None: unchanged): ``wiring.documents.update_submission``
    (a new version keeps the other slots, the archive flag included unless it changes)."""
    slots = None
    if archived is not None:
        kept = tuple(s for s in entry.extra_slots if s.name != ARCHIVED_SLOT)
        slots = (*kept, Slot(ARCHIVED_SLOT, ("true" if archived else "false",)))
    return update_submission(services, actor, [(entry, status, labels, slots)])


def update_document(fhir: FhirRequest, identifier: str, operations: list[Any]) -> dict[str, Any]:
    services = fhir.services
    with services.transaction() as work:
        entry = _latest(work, identifier)
        if not entry.patient_id or not directory_visible(services, fhir.actor, entry.patient_id, "activated"):
            raise _not_found(identifier)
        if work.queries is None:
            raise RuntimeError("UnitOfWork.queries is not wired")
        fetch = Fetcher(
            work.queries, scope=EVERYTHING, cap=services.settings.query_result_limit, with_xml=True
        )
        shown = load_resources(fetch, [entry.entry_uuid], fhir.base)
        if not shown:
            raise _not_found(identifier)
        current = shown[0]
        patched = _apply(current, operations)
        if _without_updatable(patched) != _without_updatable(current):
            raise FhirError.single(
                405,
                "not-supported",
                "a PDSm metadata update may change status, securityLabel and the isArchived extension only",
            )
        new_status = STATUS_FROM_FHIR.get(str(patched.get("status")))
        if new_status is None:
            raise FhirError.invalid("status must be current or superseded", status=422)
        labels = _labels(patched)
        archived = _archived(patched)
        submission = _submission(
            services,
            fhir.actor,
            entry,
            new_status if patched.get("status") != current.get("status") else None,
            labels if labels != _labels(current) else None,
            archived if archived != _archived(current) else None,
        )
        if not submission.documents and not submission.associations:
            return current  # nothing changes: no new version
        try:
            id_map = update_entry(services, fhir.actor, work, submission)
        except XdsError as error:
            if all(i.code in _ABSENT for i in error.issues if i.is_error):
                raise _not_found(identifier) from None
            raise
        latest = id_map.get("Document01", entry.entry_uuid)
        updated = load_resources(fetch, [latest], fhir.base)
    return updated[0] if updated else current


def _operations(body: bytes, content_type: str | None) -> list[Any]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != JSON_PATCH:
        raise FhirError.single(
            415,
            "not-supported",
            f"a metadata update is a JSON Patch ({JSON_PATCH}), not {media or 'nothing'}",
        )
    try:
        operations = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise FhirError.invalid(f"the JSON Patch is not JSON: {error}", status=422) from None
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise FhirError.invalid("a JSON Patch is an array of operations", status=422)
    return operations


@router.patch(
    "/DocumentReference",
    summary="PDSm metadata update (conditional PATCH by identifier)",
    openapi_extra=_INTERACTION.extra(),
)
async def patch_document_reference(fhir: Fhir, request: Request) -> Response:
    identifiers = request.query_params.getlist("identifier")
    if len(identifiers) != 1:
        raise FhirError.invalid("a conditional PATCH names its DocumentReference by one identifier=...")
    operations = _operations(await request.body(), request.headers.get("content-type"))
    resource = await run_in_threadpool(update_document, fhir, identifiers[0], operations)
    return fhir_response(resource, fhir.format)


__all__ = ["JSON_PATCH", "router", "update_document"]
