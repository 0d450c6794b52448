"""ITI-41 Provide and Register Document Set-b: ``xdsb:ProvideAndRegisterDocumentSetRequest`` ->
``rs:RegistryResponse``.

Glue only: find the documents of the request, decode the SubmitObjectsRequest (ebxml), run the core
``provide_and_register`` use case (core/usecases/provide.py: check + complete the metadata, make the blobs
durable, then the ITI-42 ``register`` use case in one registry transaction), encode the answer. In the DMP
profiles the record-level write gate (``wiring.access.precheck_submission``: binding, record state, block
list) runs first, in a read-only transaction, so that a refused upload stores no blob; every DMP rule runs
again in the registry transaction (``check_submission``).

Documents (xds-rules.md §(d)): each ``xdsb:Document id=`` holds either one ``xop:Include`` whose ``href`` is a
``cid:`` URL of a part of this MTOM message (``MultipartMessage.resolve``: no ``http:``/``file:``, no unknown
or twice-used part), or the document in base64 text (non-MTOM form, PnrNoXop), decoded to a spool file here.
A part that no Include names is refused, as is anything that is not one of those two forms; all of these are
reported as XDSRepositoryMetadataError in a Failure response, like the other repository checks.

Every failure is a RegistryResponse with status Failure (nothing registered); an unexpected exception is
logged and answered with one XDSRepositoryError.
"""

from __future__ import annotations

import contextlib
import os

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError, raise_if_errors
from xds_server.core.metadata import Submission
from xds_server.core.usecases.provide import IncomingDocument, provide_and_register
from xds_server.core.validation import validate_submission
from xds_server.ebxml.codec import decode_submission
from xds_server.ebxml.namespaces import LCM, XDSB, XOP
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.iti42 import checked_register
from xds_server.soap.mtom import MtomError, MultipartMessage, SpooledPart, spool_base64
from xds_server.soap.replies import check_submission_size, registry_reply
from xds_server.soap.services import Reply
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import precheck_submission

TRANSACTION = "ITI-41"
_REQUEST = f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest"
_SUBMIT_OBJECTS_REQUEST = f"{{{LCM}}}SubmitObjectsRequest"
_DOCUMENT = f"{{{XDSB}}}Document"
_INCLUDE = f"{{{XOP}}}Include"


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one ProvideAndRegisterDocumentSetRequest (see the module docstring)."""
    return Reply(provide_response(request, services))


def provide_response(request: SoapRequest, services: Services) -> etree._Element:
    inline: list[SpooledPart] = []

    def run() -> tuple[Issue, ...]:
        submission_element, documents = _read_request(request, services, inline)
        submission = decode_submission(submission_element)
        blobs = services.blobs
        if blobs is None:
            raise XdsError.single(ErrorCode.REPOSITORY_ERROR, "this server has no document repository")
        # a record that refuses the actor refuses the upload before any blob is made durable
        precheck_submission(services, request.actor, submission)
        # the metadata rules first: a submission they refuse stores no document; their warnings go to
        # the register use case, which then does not validate the same submission again
        validated: dict[int, tuple[Issue, ...]] = {}

        def validate(attached: Submission) -> None:
            warnings = validate_submission(attached, services.profile, transaction=TRANSACTION)
            validated[id(attached)] = raise_if_errors(warnings)

        def register(attached: Submission, store: UnitOfWork) -> tuple[Issue, ...]:
            return checked_register(
                services,
                request,
                store,
                attached,
                transaction=TRANSACTION,
                validated=validated.get(id(attached)),
            )

        return provide_and_register(
            submission,
            documents,
            blobs=blobs,
            repository_unique_id=services.settings.repository_unique_id,
            transaction=services.transaction,
            register=register,
            validate=validate,
        )

    internal = Issue(ErrorCode.REPOSITORY_ERROR, "internal repository error; nothing was registered")
    try:
        return registry_reply(TRANSACTION, run, internal)
    finally:
        for part in inline:  # stored blobs were moved away; what is left is garbage
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part.path)


def _read_request(
    request: SoapRequest, services: Services, inline: list[SpooledPart]
) -> tuple[etree._Element, list[IncomingDocument]]:
    body = request.body
    if body.tag != _REQUEST:
        raise _metadata_error(
            "ITI-41 expects xdsb:ProvideAndRegisterDocumentSetRequest in the SOAP Body, found "
            f"{etree.QName(body).localname}"
        )
    submission = body.find(_SUBMIT_OBJECTS_REQUEST)
    if submission is None:
        raise _metadata_error("ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest")
    check_submission_size(services, submission)  # before any inline document is spooled
    documents: list[IncomingDocument] = []
    issues: list[Issue] = []
    for index, element in enumerate(body.iterchildren(_DOCUMENT), start=1):
        doc_id = (element.get("id") or "").strip()
        if not doc_id:
            issues.append(_issue(f"xdsb:Document number {index} has no id attribute"))
            continue
        try:
            part = _document_part(element, doc_id, request.multipart, services, inline)
        except MtomError as error:
            issues.append(_issue(str(error), doc_id))
            continue
        documents.append(
            IncomingDocument(doc_id, part.path, part.sha1, part.size, part.media_type, part.sha256 or None)
        )
    if request.multipart is not None:
        for content_id in request.multipart.unreferenced():
            issues.append(_issue(f"MIME part <{content_id}> is not referenced by any xdsb:Document"))
    if issues:
        raise XdsError(issues)
    return submission, documents


def _document_part(
    element: etree._Element,
    doc_id: str,
    multipart: MultipartMessage | None,
    services: Services,
    inline: list[SpooledPart],
) -> SpooledPart:
    children = [child for child in element if isinstance(child.tag, str)]
    text = (element.text or "").strip()
    if children:
        if len(children) != 1 or children[0].tag != _INCLUDE or text or (children[0].tail or "").strip():
            raise MtomError(f"xdsb:Document {doc_id!r} must hold one xop:Include or base64 text")
        if multipart is None:
            raise MtomError(f"xdsb:Document {doc_id!r} uses xop:Include but the request is not MTOM/XOP")
        return multipart.resolve(children[0].get("href") or "")
    part = spool_base64(
        "".join(str(piece) for piece in element.itertext()),
        services.spool_dir,
        content_id=f"inline:{doc_id}",
        media_type="application/octet-stream",
    )
    inline.append(part)
    return part


def _issue(message: str, location: str = "") -> Issue:
    return Issue(ErrorCode.REPOSITORY_METADATA_ERROR, message, location)


def _metadata_error(message: str) -> XdsError:
    return XdsError([_issue(message)])


__all__ = ["TRANSACTION", "handle", "provide_response"]
