"""What an ITI-41 needs from a CDA R2 document, read from its header (HL7 CDA R2, CI-SIS "volet structuration
minimale" for the French identifiers).

Read: ``ClinicalDocument/id`` (the XDS uniqueId: root, or ``root^extension``), ``code`` (typeCode), ``title``,
``effectiveTime`` (creationTime), ``confidentialityCode``, ``languageCode``, the patient
(``recordTarget/patientRole/id``: the INS is the one under an INS authority, else the first id), the first
``author`` (``assignedAuthor/id`` = IDNPS under 1.2.250.1.71.4.2.1, its name, profession ``code`` and
organisation), ``documentationOf/serviceEvent/effectiveTime`` (service start and stop) and the body kind
(structured, or a non-XML body with its media type). The document is parsed with the server's hardened
parser (no DTD, no entity expansion, no network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from xds_server.xmlparse import XmlRejected, parse_xml

HL7: Final = "urn:hl7-org:v3"
NS: Final = {"cda": HL7}
#: Assigning authorities of the INS (NIR, test NIR, test NIA), in order of preference.
INS_AUTHORITIES: Final = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
PS_NATIONAL_ID_OID: Final = "1.2.250.1.71.4.2.1"


class CdaError(ValueError):
    """The file is not a CDA R2 document this client can describe."""


@dataclass(frozen=True, slots=True)
class CdaCode:
    code: str
    system: str
    display: str = ""


@dataclass(frozen=True, slots=True)
class CdaAuthor:
    national_id: str | None
    id_root: str | None
    family: str = ""
    given: str = ""
    profession: CdaCode | None = None
    organisation_id: str | None = None
    organisation_name: str = ""


@dataclass(frozen=True, slots=True)
class CdaHeader:
    unique_id: str | None
    type_code: CdaCode | None
    title: str
    creation_time: str | None
    confidentiality: CdaCode | None
    language: str | None
    patient_id: str | None  # CX: ext^^^&root&ISO
    author: CdaAuthor | None
    service_start: str | None
    service_stop: str | None
    body_media_type: str | None  # None: a structured body


def _code(element: etree._Element | None) -> CdaCode | None:
    if element is None or not element.get("code"):
        return None
    return CdaCode(element.get("code", ""), element.get("codeSystem", ""), element.get("displayName", ""))


_TS = re.compile(r"(\d{4,14})(?:\.\d+)?(?:([+-])(\d{2})(\d{2}))?")


def _time(value: str | None) -> str | None:
    """A CDA TS as an XDS DTM: converted to UTC when it states an offset and a time of day (XDS times are
    UTC), the fraction of a second dropped; a bare date stays as it is."""
    match = _TS.fullmatch((value or "").strip())
    if match is None:
        return None
    digits, sign, hours, minutes = match.groups()
    if sign is None or len(digits) < 12:
        return digits
    local = datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S")
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (1 if sign == "+" else -1)
    return (local - offset).strftime("%Y%m%d%H%M%S")[: len(digits)]


def _attribute(parent: etree._Element | None, path: str, name: str) -> str | None:
    found = parent.find(path, NS) if parent is not None else None
    return found.get(name) if found is not None else None


def _cx(element: etree._Element) -> str:
    extension, root = element.get("extension", ""), element.get("root", "")
    return f"{extension}^^^&{root}&ISO"


def _patient(root: etree._Element) -> str | None:
    ids = root.findall("cda:recordTarget/cda:patientRole/cda:id", NS)
    for authority in INS_AUTHORITIES:
        for element in ids:
            if element.get("root") == authority and element.get("extension"):
                return _cx(element)
    named = [e for e in ids if e.get("extension") and e.get("root")]
    return _cx(named[0]) if named else None


def _author(root: etree._Element) -> CdaAuthor | None:
    assigned = root.find("cda:author/cda:assignedAuthor", NS)
    if assigned is None:
        return None
    identifier = assigned.find("cda:id", NS)
    person = assigned.find("cda:assignedPerson/cda:name", NS)
    organisation = assigned.find("cda:representedOrganization", NS)
    organisation_id = organisation.find("cda:id", NS) if organisation is not None else None

    def text(parent: etree._Element | None, path: str) -> str:
        found = parent.find(path, NS) if parent is not None else None
        return (found.text or "").strip() if found is not None else ""

    return CdaAuthor(
        national_id=identifier.get("extension") if identifier is not None else None,
        id_root=identifier.get("root") if identifier is not None else None,
        family=text(person, "cda:family"),
        given=text(person, "cda:given"),
        profession=_code(assigned.find("cda:code", NS)),
        organisation_id=organisation_id.get("extension") if organisation_id is not None else None,
        organisation_name=text(organisation, "cda:name"),
    )


def read_header(data: bytes) -> CdaHeader:
    """The header facts of a CDA R2 document; CdaError when it is not one."""
    try:
        root = parse_xml(data)
    except XmlRejected as error:
        raise CdaError(f"not well-formed XML: {error.reason}") from None
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        raise CdaError(f"the root element is {etree.QName(root).localname!r}, not a CDA ClinicalDocument")
    identifier = root.find("cda:id", NS)
    unique_id = None
    if identifier is not None and identifier.get("root"):
        extension = identifier.get("extension")
        unique_id = identifier.get("root", "") + (f"^{extension}" if extension else "")
    title = root.find("cda:title", NS)
    language = root.find("cda:languageCode", NS)
    service = root.find("cda:documentationOf/cda:serviceEvent/cda:effectiveTime", NS)
    body = root.find("cda:component/cda:nonXMLBody/cda:text", NS)
    return CdaHeader(
        unique_id=unique_id,
        type_code=_code(root.find("cda:code", NS)),
        title=(title.text or "").strip() if title is not None else "",
        creation_time=_time(_attribute(root, "cda:effectiveTime", "value")),
        confidentiality=_code(root.find("cda:confidentialityCode", NS)),
        language=language.get("code") if language is not None else None,
        patient_id=_patient(root),
        author=_author(root),
        service_start=_time(_attribute(service, "cda:low", "value")),
        service_stop=_time(_attribute(service, "cda:high", "value")),
        body_media_type=(body.get("mediaType") or "application/octet-stream") if body is not None else None,
    )


def looks_like_cda(data: bytes) -> bool:
    """A cheap sniff: XML whose first element is a ClinicalDocument (read_header decides for real)."""
    head = data[:4096].lstrip()
    return head.startswith(b"<") and b"ClinicalDocument" in head


__all__ = ["CdaAuthor", "CdaCode", "CdaError", "CdaHeader", "looks_like_cda", "read_header"]
