"""ITI-68 Retrieve Document: ``GET /fhir/Binary/{id}``, the URL every DocumentReference's
``content.attachment.url`` names (``id`` = the entryUUID without ``urn:uuid:``).

It is ITI-43 behind another face: the entry's repositoryUniqueId + uniqueId become one ``DocumentRequest``,
decided by ``wiring.access.retrieve_authorizer`` and served by ``core.usecases.retrieve`` in one read
transaction, then the bytes are streamed from the blob store after it (bounded memory, as ITI-43's MTOM
parts) with ``Content-Type`` = the entry's mimeType.

Answers (MHD ITI-68 leaves the choice between some of them):
* 200: the entry exists, the actor may see it, its bytes are here. A superseded (Deprecated) document is
  still served: XDS retrieves deprecated documents, and a consumer following ``relatesTo`` must be able to
  read the version a replacement points at.
* 404: unknown id, a document the actor may not see, another patient's document; in the DMP profiles also a
  removed one (ITI-62 deletes the metadata: the registry no longer holds what the policy would judge, and
  telling "this id once existed" to an actor who may never have been allowed to see it is what the
  concealment rule forbids).
* 410 Gone: a removed document in the ``ihe`` profile (any authenticated actor may see everything there, so
  the answer reveals nothing; the repository remembers removals in ``deleted_document``), and an entry that
  exists and is visible but whose content is not available from this repository (registered by ITI-42 for
  another repositoryUniqueId, or its blob missing): MHD's "deprecated / unavailable".
* 406: an ``Accept`` header that admits neither the document's mimeType nor ``*/*`` (no transformation).
* the record-level refusals of ITI-43 (a professional outside the care team ...): the policy's error, the
  same for every id, before any document is looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fhir_api.formats import accept_entries
from fhir_api.mapping.document_reference import entry_uuid_of
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, fhir_api_router
from fhir_api.routes.document_reference import MHD_RESPONDER
from xds_server.core.blobs import BlobStore
from xds_server.core.errors import ErrorCode
from xds_server.core.metadata import DocumentEntry
from xds_server.core.policy import AccessContext
from xds_server.core.query import EVERYTHING, DocumentCriteria
from xds_server.core.usecases.retrieve import DocumentRequest, RetrievedDocument, retrieve
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import query_scope, retrieve_authorizer
from xds_server.wiring.reads import decoded

router = fhir_api_router()

#: the blob is read a chunk at a time, each read a hop to a worker thread (StreamingResponse of a plain
#: iterator): a MiB, as ITI-43's MTOM parts (soap.mtom), bounds the memory and keeps the hops few; 64 KiB
#: served 1 GiB at a third of a plain file-to-socket copy (bench/retrieve.py)
CHUNK: Final = 1024 * 1024
_READ = FhirInteraction(
    "Binary",
    "read",
    instantiates=(MHD_RESPONDER,),
    documentation="ITI-68 Retrieve Document: the document's bytes with its mimeType",
)


def _gone(logical_id: str) -> FhirError:
    return FhirError.single(410, "not-found", f"the content of Binary/{logical_id} is not available")


def _unknown(logical_id: str) -> FhirError:
    return FhirError.not_found(f"Binary/{logical_id} is not known")


def locate(services: Services, actor: AccessContext | None, logical_id: str) -> RetrievedDocument:
    """The authorised document of ``Binary/{logical_id}`` (FhirError / XdsError otherwise)."""
    blobs = services.blobs
    if blobs is None:
        raise FhirError.single(404, "not-found", "this server has no document repository")
    with services.for_reading().transaction() as work:
        entry: DocumentEntry | None = None
        if work.queries is not None:
            rows = work.queries.find_documents(
                DocumentCriteria(entry_uuids=frozenset({entry_uuid_of(logical_id)})),
                scope=EVERYTHING,
                limit=2,
                with_xml=True,
            )
            found = decoded(rows[0]) if rows else None
            entry = found if isinstance(found, DocumentEntry) else None
        request = DocumentRequest(
            (entry.repository_unique_id or "") if entry else "", (entry.unique_id or "") if entry else ""
        )
        # the record-level decision first, for every id alike: nothing tells which ids exist
        authorize = retrieve_authorizer(services, actor, work, [request])
        if entry is None or not entry.unique_id:
            if (
                entry is None
                and _conceals_nothing(services)
                and work.documents.removed(entry_uuid_of(logical_id))
            ):
                raise _gone(logical_id)
            raise _unknown(logical_id)
        stored = work.documents.documents({entry.unique_id}, services.settings.repository_unique_id)
        mine = next((d for d in stored if d.entry_uuid == entry.entry_uuid), None)
        if mine is not None and authorize(request, mine) is not None:
            raise _unknown(logical_id)  # hidden from this actor: exactly as unknown
        if mine is None:
            # not held by this repository (another repositoryUniqueId): visible? then "unavailable"
            raise _gone(logical_id) if _visible(services, actor, work, entry) else _unknown(logical_id)
        result = retrieve(
            [request],
            index=work.documents,
            blobs=blobs,
            repository_unique_id=services.settings.repository_unique_id,
            authorize=authorize,
        )
    if result.documents:
        return result.documents[0]
    codes = {issue.code for issue in result.issues}
    if ErrorCode.REPOSITORY_ERROR in codes:
        raise _gone(logical_id)
    raise _unknown(logical_id)


def _conceals_nothing(services: Services) -> bool:
    """The ``ihe`` profile: any authenticated actor may see every document, so "it was removed" tells him
    nothing he could not have read. The DMP profiles answer a removed document like an unknown one."""
    return services.access is not None and not services.access.enforces_dmp


def _visible(services: Services, actor: AccessContext | None, work: UnitOfWork, entry: DocumentEntry) -> bool:
    """Whether the actor's scope (a Get* query's: his token's record) shows this entry (410 or 404)."""
    if work.queries is None:
        return False
    scope = query_scope(services, actor, work, ())
    rows = work.queries.find_documents(
        DocumentCriteria(entry_uuids=frozenset({entry.entry_uuid})), scope=scope, limit=2, with_xml=False
    )
    return bool(rows)


def acceptable(accept: str | None, mime_type: str) -> bool:
    """Whether an Accept header admits ``mime_type`` (absent header: yes)."""
    if not accept or not accept.strip():
        return True
    major = mime_type.split("/", 1)[0].lower()
    admitted = ("*/*", f"{major}/*", mime_type.lower())
    return any(media in admitted for media, _quality in accept_entries(accept))


def _stream(blobs: BlobStore, key: str) -> Iterator[bytes]:
    handle = blobs.open(key)
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


@router.get("/Binary/{logical_id}", summary="ITI-68 Retrieve Document", openapi_extra=_READ.extra())
async def retrieve_document(logical_id: str, fhir: Fhir, request: Request) -> Response:
    found = await run_in_threadpool(locate, fhir.services, fhir.actor, logical_id)
    mime_type = found.mime_type or "application/octet-stream"
    if not acceptable(request.headers.get("accept"), mime_type):
        raise FhirError.single(
            406, "not-supported", f"the document is {mime_type}; this server does not transform documents"
        )
    blobs = fhir.services.blobs
    assert blobs is not None  # locate checked it
    headers = {}
    if found.document.size is not None:
        headers["Content-Length"] = str(found.document.size)
    return StreamingResponse(_stream(blobs, found.key), media_type=mime_type, headers=headers)


__all__ = ["acceptable", "locate", "router"]
