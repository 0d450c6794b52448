"""Tiny ebRIM 3.0 text builders for focused codec tests (valid by default, each piece easy to break)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from xds_server.core.vocabulary import ClassificationNode, ClassificationScheme, IdentificationScheme
from xds_server.ebxml.namespaces import LCM, RIM
from xds_server.xmlparse import parse_xml


def _attrs(**attributes: str | None) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in attributes.items() if v is not None)


def slot(name: str, *values: str) -> str:
    inner = "".join(f"<rim:Value>{escape(v)}</rim:Value>" for v in values)
    return f"<rim:Slot name={quoteattr(name)}><rim:ValueList>{inner}</rim:ValueList></rim:Slot>"


def name(*values: str, tag: str = "Name") -> str:
    inner = "".join(f"<rim:LocalizedString value={quoteattr(v)}/>" for v in values)
    return f"<rim:{tag}>{inner}</rim:{tag}>"


def classification(body: str = "", **attributes: str | None) -> str:
    return f"<rim:Classification{_attrs(**attributes)}>{body}</rim:Classification>"


def code(owner: str, scheme: str, value: str = "C1", coding: str = "1.2.3", display: str = "Display") -> str:
    return classification(
        slot("codingScheme", coding) + name(display),
        classifiedObject=owner,
        classificationScheme=scheme,
        nodeRepresentation=value,
        id=f"{owner}-{scheme[-4:]}-{value}",
    )


def external_identifier(owner: str | None, scheme: str, value: str | None, id: str = "ei") -> str:
    attrs = _attrs(id=id, registryObject=owner, identificationScheme=scheme, value=value)
    return f"<rim:ExternalIdentifier{attrs}>{name('XDS identifier')}</rim:ExternalIdentifier>"


def extrinsic(body: str = "", id: str | None = "Document01", **attributes: str | None) -> str:
    attributes.setdefault("mimeType", "text/plain")
    attributes.setdefault("objectType", "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1")
    return f"<rim:ExtrinsicObject{_attrs(id=id, **attributes)}>{body}</rim:ExtrinsicObject>"


def document(id: str = "Document01", extra: str = "") -> str:
    """A complete DocumentEntry."""
    de = ClassificationScheme
    return extrinsic(
        slot("creationTime", "20240101")
        + slot("languageCode", "fr-FR")
        + slot("sourcePatientId", "P1^^^&1.2&ISO")
        + name("Title")
        + code(id, de.DE_CLASS_CODE)
        + code(id, de.DE_CONFIDENTIALITY_CODE, "N")
        + code(id, de.DE_FORMAT_CODE)
        + code(id, de.DE_HEALTHCARE_FACILITY_TYPE_CODE)
        + code(id, de.DE_PRACTICE_SETTING_CODE)
        + code(id, de.DE_TYPE_CODE)
        + external_identifier(id, IdentificationScheme.DE_PATIENT_ID, "P1^^^&1.2&ISO", f"{id}-pid")
        + external_identifier(id, IdentificationScheme.DE_UNIQUE_ID, "1.2.3.4", f"{id}-uid")
        + extra,
        id=id,
    )


def marker(owner: str, node: str = ClassificationNode.SUBMISSION_SET, id: str | None = None) -> str:
    return classification(classifiedObject=owner, classificationNode=node, id=id or f"{owner}-marker")


def package(body: str = "", id: str | None = "SubmissionSet01", **attributes: str | None) -> str:
    return f"<rim:RegistryPackage{_attrs(id=id, **attributes)}>{body}</rim:RegistryPackage>"


def submission_set(id: str = "SubmissionSet01", extra: str = "", nested_marker: bool = True) -> str:
    return package(
        slot("submissionTime", "20240101120000")
        + (marker(id) if nested_marker else "")
        + code(id, ClassificationScheme.SS_CONTENT_TYPE_CODE)
        + external_identifier(id, IdentificationScheme.SS_UNIQUE_ID, "1.2.3.5", f"{id}-uid")
        + external_identifier(id, IdentificationScheme.SS_SOURCE_ID, "1.2.3", f"{id}-src")
        + external_identifier(id, IdentificationScheme.SS_PATIENT_ID, "P1^^^&1.2&ISO", f"{id}-pid")
        + extra,
        id=id,
    )


def association(
    source: str = "SubmissionSet01",
    target: str = "Document01",
    body: str | None = None,
    id: str | None = "as1",
    type: str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
) -> str:
    body = slot("SubmissionSetStatus", "Original") if body is None else body
    attrs = _attrs(id=id, associationType=type, sourceObject=source, targetObject=target)
    return f"<rim:Association{attrs}>{body}</rim:Association>"


def object_list(*objects: str) -> str:
    return f'<rim:RegistryObjectList xmlns:rim="{RIM}">{"".join(objects)}</rim:RegistryObjectList>'


def request(*objects: str) -> etree._Element:
    """``lcm:SubmitObjectsRequest`` around the given objects, parsed by the hardened parser."""
    text = (
        f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">'
        f"<rim:RegistryObjectList>{''.join(objects)}</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"
    )
    return parse_xml(text.encode())


def valid(*extra_objects: str) -> etree._Element:
    """A complete submission: SS, one DE, the HasMember association, plus ``extra_objects``."""
    return request(submission_set(), document(), association(), *extra_objects)
