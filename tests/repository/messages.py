"""Builders of ITI-41 / ITI-43 SOAP messages for the repository tests.

The metadata comes from the NIST PnrXop/Xop request (ebRIM 3.0, validated by NIST): its DocumentEntry is
copied once per document with fresh ids and uniqueIds, so every request is a real-world one.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

TESTKIT = Path(__file__).resolve().parents[2] / "conformance" / "nist-testkit" / "tests"
PDF = TESTKIT / "12029" / "submit" / "my_document.pdf"
NIST_PATIENT = "SR7^^^&1.2.260&ISO"

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
PNR = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"


def new_oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _nist_request() -> etree._Element:
    body = (TESTKIT / "PnrXop" / "Xop" / "body.txt").read_bytes()
    start = body.index(b"<?xml")
    end = body.index(b"</soapenv:Envelope>") + len(b"</soapenv:Envelope>")
    envelope = etree.fromstring(body[start:end])
    request = envelope.find(f"{{{SOAP}}}Body/{{{XDSB}}}ProvideAndRegisterDocumentSetRequest")
    assert request is not None
    return request


_TEMPLATE = _nist_request()


@dataclass
class Doc:
    content: bytes
    mime_type: str = "text/plain"
    doc_id: str = ""
    unique_id: str = ""
    hash: str | None = None
    size: str | None = None
    #: "xop" (MIME part), "inline" (base64 text) or "none" (no xdsb:Document element)
    form: str = "xop"
    content_id: str = ""

    def __post_init__(self) -> None:
        self.doc_id = self.doc_id or f"Doc_{uuid.uuid4().hex[:8]}"
        self.unique_id = self.unique_id or new_oid()
        self.content_id = self.content_id or f"{uuid.uuid4().hex}@urn:ihe:iti:xds-b:2007"


def _slot(name: str, value: str) -> etree._Element:
    slot = etree.Element(f"{{{RIM}}}Slot", name=name)
    etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = value
    return slot


def provide_request(
    docs: list[Doc], *, patient: str = NIST_PATIENT, extra_entries: int = 0
) -> etree._Element:
    """``xdsb:ProvideAndRegisterDocumentSetRequest`` with one DocumentEntry per ``Doc`` (plus
    ``extra_entries`` entries that have no document)."""
    request = copy.deepcopy(_TEMPLATE)
    object_list = request.find(f"{{{LCM}}}SubmitObjectsRequest/{{{RIM}}}RegistryObjectList")
    assert object_list is not None
    template = object_list.find(f"{{{RIM}}}ExtrinsicObject")
    association = object_list.find(f"{{{RIM}}}Association")
    assert template is not None and association is not None
    object_list.remove(template)
    object_list.remove(association)
    for element in request.findall(f"{{{XDSB}}}Document"):
        request.remove(element)
    for element in object_list.iter(f"{{{RIM}}}ExternalIdentifier"):
        if element.get("identificationScheme") == SS_UNIQUE_ID:
            element.set("value", new_oid())
    for element in object_list.iter(f"{{{RIM}}}ExternalIdentifier"):
        if element.get("value") == NIST_PATIENT:
            element.set("value", patient)

    entries = [*docs, *(Doc(b"", doc_id=f"NoDoc{i}", form="none") for i in range(extra_entries))]
    for index, doc in enumerate(entries):
        entry = copy.deepcopy(template)
        entry.set("id", doc.doc_id)
        entry.set("mimeType", doc.mime_type)
        for element in entry.iter():
            for attribute in ("classifiedObject", "registryObject"):
                if element.get(attribute) == "Document01":
                    element.set(attribute, doc.doc_id)
            if element is not entry and element.get("id"):
                element.set("id", f"{element.get('id')}_{index}")
            if element.get("identificationScheme") == DE_UNIQUE_ID:
                element.set("value", doc.unique_id)
            if element.get("value") == NIST_PATIENT:
                element.set("value", patient)
        for slot in entry.findall(f"{{{RIM}}}Slot"):
            if slot.get("name") in ("hash", "size", "repositoryUniqueId"):
                entry.remove(slot)
        if doc.hash is not None:
            entry.insert(0, _slot("hash", doc.hash))
        if doc.size is not None:
            entry.insert(0, _slot("size", doc.size))
        object_list.insert(index, entry)
        member = copy.deepcopy(association)
        member.set("id", f"assoc_{index}")
        member.set("targetObject", doc.doc_id)
        object_list.append(member)
    for doc in docs:
        if doc.form == "none":
            continue
        element = etree.SubElement(request, f"{{{XDSB}}}Document", id=doc.doc_id)
        if doc.form == "xop":
            etree.SubElement(element, f"{{{XOP}}}Include", href=f"cid:{doc.content_id.replace(':', '%3A')}")
        else:
            import base64

            element.text = base64.b64encode(doc.content).decode()
    return request


def retrieve_request(repository: str, *unique_ids: str, home: str | None = None) -> etree._Element:
    request = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB})
    for unique_id in unique_ids:
        document = etree.SubElement(request, f"{{{XDSB}}}DocumentRequest")
        if home:
            etree.SubElement(document, f"{{{XDSB}}}HomeCommunityId").text = home
        etree.SubElement(document, f"{{{XDSB}}}RepositoryUniqueId").text = repository
        etree.SubElement(document, f"{{{XDSB}}}DocumentUniqueId").text = unique_id
    return request


def envelope(action: str, body: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    act = etree.SubElement(header, f"{{{WSA}}}Action")
    act.text = action
    act.set(f"{{{SOAP}}}mustUnderstand", "1")
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    etree.SubElement(header, f"{{{WSA}}}To").text = "http://localhost/xds/repository"
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


BOUNDARY = "MIMEBoundary_test_0123456789"


def mtom(root: bytes, parts: list[tuple[str, str, bytes]], *, action: str = PNR) -> tuple[bytes, str]:
    """(body, Content-Type) of an MTOM request: the root, then ``(content_id, media_type, bytes)`` parts."""
    crlf = b"\r\n"
    out = [
        b"--" + BOUNDARY.encode(),
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
        b"Content-Transfer-Encoding: binary",
        b"Content-ID: <root.message@cxf.apache.org>",
        b"",
        root,
    ]
    for content_id, media_type, data in parts:
        out += [
            b"--" + BOUNDARY.encode(),
            f"Content-Type: {media_type}".encode(),
            b"Content-Transfer-Encoding: binary",
            f"Content-ID: <{content_id}>".encode(),
            b"",
            data,
        ]
    body = crlf.join(out) + crlf + b"--" + BOUNDARY.encode() + b"--" + crlf
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"; '
        f'start="<root.message@cxf.apache.org>"; start-info="application/soap+xml"; action="{action}"'
    )
    return body, content_type


def pnr_message(docs: list[Doc], **kwargs: object) -> tuple[bytes, str]:
    root = envelope(PNR, provide_request(docs, **kwargs))  # type: ignore[arg-type]
    parts = [(d.content_id, d.mime_type, d.content) for d in docs if d.form == "xop"]
    return mtom(root, parts)
