"""Reading the answers: a SOAP response (plain or MTOM) into its envelope and parts, then the
RegistryResponse (status and errors), the AdhocQueryResponse (DocumentEntries) or the
RetrieveDocumentSetResponse (documents and their bytes). A SOAP fault becomes ``SoapFault``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from xds_server.core.metadata import AnyObject, DocumentEntry
from xds_server.ebxml.codec import decode_object
from xds_server.ebxml.namespaces import QUERY, RIM, RS, SOAP12, XDSB, XOP
from xds_server.xmlparse import XmlRejected, parse_xml

NS: Final = {"env": SOAP12, "rs": RS, "rim": RIM, "query": QUERY, "xdsb": XDSB, "xop": XOP}
SUCCESS: Final = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_CONTENT_ID = re.compile(rb"^content-id:\s*<?([^>\r\n]+)>?", re.IGNORECASE | re.MULTILINE)


class ResponseError(ValueError):
    """The answer is not a SOAP message this client understands."""


@dataclass(frozen=True, slots=True)
class SoapFault(Exception):
    code: str
    subcode: str | None
    reason: str

    def __str__(self) -> str:
        sub = f" ({self.subcode})" if self.subcode else ""
        return f"SOAP fault {self.code}{sub}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RegistryError:
    code: str
    context: str
    location: str
    severity: str

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        return f"{self.code}: {self.context}{where}"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    errors: tuple[RegistryError, ...]

    @property
    def success(self) -> bool:
        return self.status == SUCCESS

    @property
    def status_name(self) -> str:
        return self.status.rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class RetrievedDocument:
    unique_id: str
    repository_unique_id: str
    mime_type: str
    content: bytes


def split_parts(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes]]:
    """The SOAP envelope of a response and its MTOM parts by Content-ID (a plain SOAP body has none)."""
    if not content_type.lower().startswith("multipart/"):
        return body, {}
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise ResponseError("multipart answer without a boundary")
    delimiter = b"--" + found.group(1).encode()
    parts: list[tuple[str | None, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        headers, _, payload = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content_id = _CONTENT_ID.search(headers)
        parts.append((content_id.group(1).decode() if content_id else None, payload.removesuffix(b"\r\n")))
    if not parts:
        raise ResponseError("multipart answer without parts")
    return parts[0][1], {cid: data for cid, data in parts[1:] if cid}


def parse_envelope(data: bytes) -> etree._Element:
    """The SOAP Body's first child; SoapFault when the answer is a fault."""
    try:
        root = parse_xml(data)
    except XmlRejected as error:
        raise ResponseError(f"the answer is not XML: {error.reason}") from None
    body = root.find("env:Body", NS)
    if body is None or len(body) == 0:
        raise ResponseError("the answer has no SOAP Body")
    fault = body.find("env:Fault", NS)
    if fault is not None:
        raise SoapFault(
            fault.findtext("env:Code/env:Value", "", NS),
            fault.findtext("env:Code/env:Subcode/env:Value", None, NS),
            fault.findtext("env:Reason/env:Text", "", NS),
        )
    return body[0]


def outcome(element: etree._Element) -> Outcome:
    """Status and RegistryErrors of a RegistryResponse, or of the response that carries one."""
    response = (
        element
        if etree.QName(element).localname == "RegistryResponse"
        else element.find("rs:RegistryResponse", NS)
    )
    holder = response if response is not None else element
    errors = tuple(
        RegistryError(
            e.get("errorCode", ""), e.get("codeContext", ""), e.get("location", ""), e.get("severity", "")
        )
        for e in holder.iter(f"{{{RS}}}RegistryError")
    )
    return Outcome(holder.get("status", ""), errors)


def registry_objects(response: etree._Element) -> list[AnyObject]:
    """The LeafClass objects of an AdhocQueryResponse."""
    found = response.find("rim:RegistryObjectList", NS)
    return [decode_object(element) for element in found] if found is not None else []


def documents_found(response: etree._Element) -> list[DocumentEntry]:
    return [o for o in registry_objects(response) if isinstance(o, DocumentEntry)]


def retrieved(response: etree._Element, parts: dict[str, bytes]) -> list[RetrievedDocument]:
    """The documents of a RetrieveDocumentSetResponse (MTOM parts or inline base64)."""
    documents = []
    for element in response.iterfind("xdsb:DocumentResponse", NS):
        holder = element.find("xdsb:Document", NS)
        include = holder.find("xop:Include", NS) if holder is not None else None
        if include is not None:
            content_id = include.get("href", "").removeprefix("cid:")
            if content_id not in parts:
                raise ResponseError(f"the answer refers to a missing MTOM part {content_id}")
            content = parts[content_id]
        else:
            content = base64.b64decode((holder.text or "") if holder is not None else "")
        documents.append(
            RetrievedDocument(
                element.findtext("xdsb:DocumentUniqueId", "", NS),
                element.findtext("xdsb:RepositoryUniqueId", "", NS),
                element.findtext("xdsb:mimeType", "", NS),
                content,
            )
        )
    return documents


__all__ = [
    "NS",
    "SUCCESS",
    "Outcome",
    "RegistryError",
    "ResponseError",
    "RetrievedDocument",
    "SoapFault",
    "documents_found",
    "outcome",
    "parse_envelope",
    "registry_objects",
    "retrieved",
    "split_parts",
]
