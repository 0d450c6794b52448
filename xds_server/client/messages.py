"""Request messages of a Document Source / Consumer: SOAP 1.2 envelopes with WS-Addressing (and, when
given, a WS-Security header holding a SAML assertion), the ITI-41, ITI-42, ITI-18 and ITI-43 bodies, and
the MTOM/XOP package ITI-41 and ITI-43 travel in (ITI TF-2 3.41, 3.42, 3.18, 3.43; ITI TF-2 Appendix V).

Everything here returns bytes or lxml elements and does no I/O: tests, benchmarks, ``examples/`` and the
``xds-server send | find | get`` commands build their messages here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from lxml import etree

from xds_server.core.metadata import Submission
from xds_server.core.vocabulary import SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.ebxml.namespaces import LCM, QUERY, RIM, SOAP12, WSA, XDSB, XOP

WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
FIND_DOCUMENTS: Final = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS: Final = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


def message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def envelope(
    action: str,
    body: etree._Element,
    security: bytes | None = None,
    to: str | None = None,
    *,
    message: str | None = None,
) -> bytes:
    """A SOAP 1.2 envelope: wsa:Action (mustUnderstand), wsa:MessageID, wsa:To, ReplyTo anonymous, then the
    ``wsse:Security`` block holding ``security`` (a serialised saml2:Assertion) when given."""
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    action_element = etree.SubElement(header, f"{{{WSA}}}Action")
    action_element.set(f"{{{SOAP12}}}mustUnderstand", "true")
    action_element.text = str(action)
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = message or message_id()
    if to:
        etree.SubElement(header, f"{{{WSA}}}To").text = to
    reply = etree.SubElement(header, f"{{{WSA}}}ReplyTo")
    etree.SubElement(reply, f"{{{WSA}}}Address").text = "http://www.w3.org/2005/08/addressing/anonymous"
    if security is not None:
        block = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        block.set(f"{{{SOAP12}}}mustUnderstand", "true")
        block.append(etree.fromstring(security))
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


# -- MTOM/XOP -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Package:
    """An HTTP request body and its Content-Type."""

    content_type: str
    body: bytes


def mtom(root: bytes, attachments: Mapping[str, tuple[str, bytes]], action: str) -> Package:
    """The MTOM/XOP package: the envelope as the root part, each ``content_id -> (mime type, bytes)`` as a
    binary part (the envelope refers to them with ``xop:Include href="cid:..."``)."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    start = f"<root.{uuid.uuid4().hex}@xds-server>"
    parts = [
        (
            f"--{boundary}\r\n"
            f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"; '
            f'action="{action}"\r\n'
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {start}\r\n\r\n"
        ).encode()
        + root
    ]
    for content_id, (mime_type, data) in attachments.items():
        parts.append(
            f"--{boundary}\r\nContent-Type: {mime_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{content_id}>\r\n\r\n".encode()
            + data
        )
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="{start}"; '
        f'start-info="application/soap+xml"; action="{action}"'
    )
    return Package(content_type, body)


def plain(root: bytes, action: str) -> Package:
    return Package(f'application/soap+xml; charset=UTF-8; action="{action}"', root)


# -- transaction bodies ---------------------------------------------------------------------------------


def register_request(submission: Submission) -> etree._Element:
    """ITI-42 ``lcm:SubmitObjectsRequest``."""
    return encode_submission(submission)


def provide_and_register_request(submission: Submission, documents: Mapping[str, str]) -> etree._Element:
    """ITI-41 ``xdsb:ProvideAndRegisterDocumentSetRequest``: the SubmitObjectsRequest, then one
    ``xdsb:Document`` per DocumentEntry id -> MTOM Content-ID (an ``xop:Include``)."""
    request = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
    request.append(encode_submission(submission))
    for document_id, content_id in documents.items():
        document = etree.SubElement(request, f"{{{XDSB}}}Document", id=document_id)
        include = etree.SubElement(document, f"{{{XOP}}}Include", nsmap={"xop": XOP})
        include.set("href", f"cid:{content_id}")
    return request


def provide_and_register_inline(submission: Submission, documents: Mapping[str, bytes]) -> etree._Element:
    """ITI-41 with each document inline (base64 in ``xdsb:Document``): a plain ``application/soap+xml``
    request, for small documents (``examples/``, ``xds-server demo``)."""
    request = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
    request.append(encode_submission(submission))
    for document_id, content in documents.items():
        document = etree.SubElement(request, f"{{{XDSB}}}Document", id=document_id)
        document.text = base64.b64encode(content).decode("ascii")
    return request


def provide_and_register(
    submission: Submission, documents: Mapping[str, tuple[str, bytes]], security: bytes | None = None
) -> Package:
    """The whole ITI-41 request: ``documents`` maps each DocumentEntry id to (mime type, content)."""
    content_ids = {document_id: f"{uuid.uuid4().hex}@xds-server" for document_id in documents}
    body = provide_and_register_request(submission, content_ids)
    root = envelope(SoapAction.PROVIDE_AND_REGISTER, body, security)
    parts = {content_ids[d]: documents[d] for d in documents}
    return mtom(root, parts, SoapAction.PROVIDE_AND_REGISTER)


def quoted(values: Sequence[str]) -> str:
    """An ebRS list parameter: ``('a','b')`` (quotes inside a value doubled)."""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def stored_query(
    query_id: str, parameters: Mapping[str, str], return_type: str = "LeafClass"
) -> etree._Element:
    """ITI-18 ``query:AdhocQueryRequest``; ``parameters`` as the slots spell them: ``'x'``, ``('a','b')``."""
    request = etree.Element(f"{{{QUERY}}}AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(
        request, f"{{{QUERY}}}ResponseOption", returnComposedObjects="true", returnType=return_type
    )
    adhoc = etree.SubElement(request, f"{{{RIM}}}AdhocQuery", id=query_id)
    for name, value in parameters.items():
        slot = etree.SubElement(adhoc, f"{{{RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = value
    return request


def find_documents(
    patient_id: str,
    *,
    statuses: Sequence[str] = (APPROVED,),
    class_codes: Sequence[str] = (),
    type_codes: Sequence[str] = (),
    created_from: str | None = None,
    created_to: str | None = None,
    return_type: str = "LeafClass",
) -> etree._Element:
    """FindDocuments for one patient; codes as ``code^^system``."""
    parameters = {
        "$XDSDocumentEntryPatientId": "'" + patient_id.replace("'", "''") + "'",
        "$XDSDocumentEntryStatus": quoted(statuses),
    }
    if class_codes:
        parameters["$XDSDocumentEntryClassCode"] = quoted(class_codes)
    if type_codes:
        parameters["$XDSDocumentEntryTypeCode"] = quoted(type_codes)
    if created_from:
        parameters["$XDSDocumentEntryCreationTimeFrom"] = created_from
    if created_to:
        parameters["$XDSDocumentEntryCreationTimeTo"] = created_to
    return stored_query(FIND_DOCUMENTS, parameters, return_type)


def retrieve_request(repository_unique_id: str, unique_ids: Sequence[str]) -> etree._Element:
    """ITI-43 ``xdsb:RetrieveDocumentSetRequest``."""
    request = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB})
    for unique_id in unique_ids:
        document = etree.SubElement(request, f"{{{XDSB}}}DocumentRequest")
        etree.SubElement(document, f"{{{XDSB}}}RepositoryUniqueId").text = repository_unique_id
        etree.SubElement(document, f"{{{XDSB}}}DocumentUniqueId").text = unique_id
    return request


__all__ = [
    "APPROVED",
    "DEPRECATED",
    "FIND_DOCUMENTS",
    "GET_DOCUMENTS",
    "LCM",
    "WSSE",
    "Package",
    "envelope",
    "find_documents",
    "message_id",
    "mtom",
    "plain",
    "provide_and_register",
    "provide_and_register_inline",
    "provide_and_register_request",
    "quoted",
    "register_request",
    "retrieve_request",
    "stored_query",
]
