"""ITI-43 Retrieve Document Set: ``xdsb:RetrieveDocumentSetRequest`` -> ``xdsb:RetrieveDocumentSetResponse``
with one MTOM part per returned document (xds-rules.md §(d)).

Glue only: read the DocumentRequests, run the core ``retrieve`` use case (which consults the registry for
every request inside one transaction), then answer with an ``rs:RegistryResponse`` (Success, PartialSuccess
or Failure, with its RegistryErrorList) and one ``xdsb:DocumentResponse`` per document whose
``xdsb:Document`` is an ``xop:Include`` of a part that the router streams from the blob store after the
transaction has ended.

The per-document access hook of the use case (``core.usecases.retrieve.Authorize``) comes from the DMP
rules (``wiring.access.retrieve_authorizer``): a document hidden from the actor is refused exactly like an
unknown uniqueId, and an actor refused the whole record gets the policy's RegistryError for the request.
"""

from __future__ import annotations

import functools
import logging

from lxml import etree

from xds_server.core.blobs import BlobStore, DocumentIndex
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.usecases.retrieve import DocumentRequest, RetrieveResult, retrieve
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.namespaces import RS, XDSB, XOP
from xds_server.ebxml.responses import registry_response
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.mtom import OutgoingPart, cid_href, new_content_id
from xds_server.soap.services import Reply
from xds_server.wiring import Services
from xds_server.wiring.access import retrieve_authorizer

log = logging.getLogger(__name__)

_REQUEST = f"{{{XDSB}}}RetrieveDocumentSetRequest"
_NSMAP = {"xdsb": XDSB, "rs": RS, "xop": XOP}


def _x(local: str) -> str:
    return f"{{{XDSB}}}{local}"


def handle(request: SoapRequest, services: Services) -> Reply:
    try:
        requests = read_requests(request.body)
        result = _retrieve(requests, services, request)
    except XdsError as error:
        return Reply(retrieve_response(RetrieveResult((), error.issues), [], []))
    except Exception:
        log.exception("ITI-43 failed unexpectedly")
        issue = Issue(ErrorCode.REPOSITORY_ERROR, "internal repository error")
        return Reply(retrieve_response(RetrieveResult((), (issue,)), [], []))
    blobs = services.blobs
    assert blobs is not None  # _retrieve checked it
    content_ids = [new_content_id() for _ in result.documents]
    parts = [
        OutgoingPart(
            content_id=cid,
            media_type=found.mime_type or "application/octet-stream",
            open=functools.partial(blobs.open, found.key),
            size=found.document.size,
        )
        for cid, found in zip(content_ids, result.documents, strict=True)
    ]
    return Reply(retrieve_response(result, content_ids, requests), parts)


def _retrieve(requests: list[DocumentRequest], services: Services, request: SoapRequest) -> RetrieveResult:
    blobs: BlobStore | None = services.blobs
    if blobs is None:
        raise XdsError.single(ErrorCode.REPOSITORY_ERROR, "this server has no document repository")
    with services.transaction() as work:
        index: DocumentIndex = work.documents
        authorize = retrieve_authorizer(services, request.actor, work, requests)
        return retrieve(
            requests,
            index=index,
            blobs=blobs,
            repository_unique_id=services.settings.repository_unique_id,
            authorize=authorize,
        )


def read_requests(body: etree._Element) -> list[DocumentRequest]:
    if body.tag != _REQUEST:
        raise XdsError.single(
            ErrorCode.REPOSITORY_ERROR,
            "ITI-43 expects xdsb:RetrieveDocumentSetRequest in the SOAP Body, found "
            f"{etree.QName(body).localname}",
        )
    requests = []
    for element in body.iterchildren(_x("DocumentRequest")):
        home = element.findtext(_x("HomeCommunityId"))
        requests.append(
            DocumentRequest(
                repository_unique_id=(element.findtext(_x("RepositoryUniqueId")) or "").strip(),
                document_unique_id=(element.findtext(_x("DocumentUniqueId")) or "").strip(),
                home_community_id=home.strip() if home else None,
            )
        )
    return requests


def retrieve_response(
    result: RetrieveResult, content_ids: list[str], requests: list[DocumentRequest]
) -> etree._Element:
    """``xdsb:RetrieveDocumentSetResponse``: the RegistryResponse, then one DocumentResponse per document."""
    status = result.status
    if not result.documents and not result.issues:
        status = ResponseStatus.SUCCESS
    response = etree.Element(_x("RetrieveDocumentSetResponse"), nsmap=_NSMAP)
    response.append(registry_response(status, list(result.issues)))
    for content_id, found in zip(content_ids, result.documents, strict=True):
        document = etree.SubElement(response, _x("DocumentResponse"))
        if found.request.home_community_id:
            etree.SubElement(document, _x("HomeCommunityId")).text = found.request.home_community_id
        etree.SubElement(document, _x("RepositoryUniqueId")).text = found.request.repository_unique_id
        etree.SubElement(document, _x("DocumentUniqueId")).text = found.document.unique_id
        etree.SubElement(document, _x("mimeType")).text = found.mime_type
        content = etree.SubElement(document, _x("Document"))
        etree.SubElement(content, f"{{{XOP}}}Include").set("href", cid_href(content_id))
    return response


__all__ = ["handle", "read_requests", "retrieve_response"]
