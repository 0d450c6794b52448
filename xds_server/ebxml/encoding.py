"""Core model -> ebRIM 3.0 (the encoding half of ``codec``).

Output is canonical so that the same object always gives the same bytes (the storage layer keeps this XML
and stored queries send it back verbatim):

* child order is ebRIM 3.0's: Slot*, Name, Description, VersionInfo, Classification*, ExternalIdentifier*;
  typed slots come first in the order of ``tables``, then ``extra_slots`` in their original order;
* every element carries the ``objectType`` the spec gives it;
* Classifications and ExternalIdentifiers get ids derived from the owner id, their role and their position
  (``urn:uuid:`` version 5), because the model does not keep the submitter's ids: encoding stays a pure
  function of the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Final

from lxml import etree

from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    LocalizedText,
    RegistryObject,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.vocabulary import ClassificationNode, ClassificationScheme, ObjectType, SlotName
from xds_server.ebxml.namespaces import LCM, RIM, RIM_NSMAP, XML_LANG, lcm, rim
from xds_server.ebxml.tables import AUTHOR_SLOTS, DOCUMENT_ENTRY, FOLDER, SUBMISSION_SET, KindSpec

#: Namespace of the generated Classification/ExternalIdentifier ids (fixed forever: ids must be stable).
_ID_NAMESPACE: Final = uuid.UUID("438d8d47-a393-41bc-9ded-5f9a6da6247c")


def generated_id(owner: str, role: str, index: int) -> str:
    """Deterministic id of the ``index``-th (1-based) ``role`` child of ``owner``."""
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, f'{owner}|{role}|{index}')}"


class _Builder:
    """Appends the children of one registry object, numbering Classifications and ExternalIdentifiers."""

    def __init__(self, element: etree._Element, owner: str) -> None:
        self.element = element
        self.owner = owner
        self.classifications = 0
        self.identifiers = 0

    def slot(self, name: str, values: Iterable[str], parent: etree._Element | None = None) -> None:
        slot = etree.SubElement(self.element if parent is None else parent, rim("Slot"), name=name)
        value_list = etree.SubElement(slot, rim("ValueList"))
        for value in values:
            etree.SubElement(value_list, rim("Value")).text = value

    def slots(self, slots: Iterable[Slot], parent: etree._Element | None = None) -> None:
        for slot in slots:
            self.slot(slot.name, slot.values, parent)

    def localized(self, tag: str, text: LocalizedText | None, parent: etree._Element | None = None) -> None:
        if text is None:
            return
        holder = etree.SubElement(self.element if parent is None else parent, rim(tag))
        string = etree.SubElement(holder, rim("LocalizedString"))
        if text.lang is not None:
            string.set(XML_LANG, text.lang)
        if text.charset is not None:
            string.set("charset", text.charset)
        string.set("value", text.value)

    def header(self, obj: RegistryObject) -> None:
        """Name, Description, VersionInfo (after the Slots, before the Classifications)."""
        self.localized("Name", obj.title)
        self.localized("Description", obj.comments)
        if obj.version is not None:
            etree.SubElement(self.element, rim("VersionInfo"), versionName=obj.version)

    def classification(self) -> etree._Element:
        self.classifications += 1
        return etree.SubElement(
            self.element,
            rim("Classification"),
            id=generated_id(self.owner, "classification", self.classifications),
            objectType=ObjectType.CLASSIFICATION.value,
        )

    def node(self, node: str, display: str = "") -> None:
        element = self.classification()
        element.set("classifiedObject", self.owner)
        element.set("classificationNode", node)
        if display:
            self.localized("Name", LocalizedText(display), element)

    def code(self, scheme: str, code: Code) -> None:
        if not code.code and not code.scheme:
            self.node(scheme, code.display)  # see decoding: an empty Code marks a classificationNode
            return
        element = self.classification()
        element.set("classificationScheme", scheme)
        element.set("classifiedObject", self.owner)
        element.set("nodeRepresentation", code.code)
        self.slot(SlotName.CODING_SCHEME, (code.scheme,), element)
        if code.display:
            self.localized("Name", LocalizedText(code.display), element)

    def author(self, scheme: str, author: Author) -> None:
        element = self.classification()
        element.set("classificationScheme", scheme)
        element.set("classifiedObject", self.owner)
        element.set("nodeRepresentation", "")
        for slot_name, attr in AUTHOR_SLOTS.items():
            value: str | tuple[str, ...] | None = getattr(author, attr)
            if isinstance(value, str):
                self.slot(slot_name, (value,), element)
            elif value:
                self.slot(slot_name, value, element)
        self.slots(author.extra_slots, element)

    def identifier(self, scheme: str, value: str, name: str) -> None:
        self.identifiers += 1
        element = etree.SubElement(
            self.element,
            rim("ExternalIdentifier"),
            id=generated_id(self.owner, "external-identifier", self.identifiers),
            objectType=ObjectType.EXTERNAL_IDENTIFIER.value,
            registryObject=self.owner,
            identificationScheme=scheme,
            value=value,
        )
        self.localized("Name", LocalizedText(name), element)


def _start(tag: str, obj: RegistryObject, object_type: str, parent: etree._Element | None) -> etree._Element:
    element = (
        etree.Element(rim(tag), nsmap=RIM_NSMAP) if parent is None else etree.SubElement(parent, rim(tag))
    )
    element.set("id", obj.entry_uuid)
    if obj.home is not None:
        element.set("home", obj.home)
    if obj.logical_id is not None:
        element.set("lid", obj.logical_id)
    if object_type:
        element.set("objectType", object_type)
    if obj.status is not None:
        element.set("status", obj.status)
    return element


def _entity(
    obj: DocumentEntry | SubmissionSet | Folder, spec: KindSpec, element: etree._Element, marker: str | None
) -> etree._Element:
    """Everything after the attributes, driven by the same table the decoder uses."""
    build = _Builder(element, obj.entry_uuid)
    for slot_name, attr in spec.single_slots.items():
        single: str | None = getattr(obj, attr)
        if single is not None:
            build.slot(slot_name, (single,))
    for slot_name, attr in spec.multi_slots.items():
        multi: tuple[str, ...] = getattr(obj, attr)
        if multi:
            build.slot(slot_name, multi)
    build.slots(obj.extra_slots)
    build.header(obj)
    if marker is not None:
        build.node(marker)
    if spec.author_scheme is not None and not isinstance(obj, Folder):
        for author in obj.authors:
            build.author(spec.author_scheme, author)
    for scheme, attr in spec.single_codes.items():
        code: Code | None = getattr(obj, attr)
        if code is not None:
            build.code(scheme, code)
    for scheme, attr in spec.multi_codes.items():
        codes: tuple[Code, ...] = getattr(obj, attr)
        for each in codes:
            build.code(scheme, each)
    for key, other in obj.other_classifications:
        build.code(key, other)
    for scheme, (attr, name) in spec.identifiers.items():
        identifier: str | None = getattr(obj, attr)
        if identifier is not None:
            build.identifier(scheme, identifier, name)
    return element


def _association(obj: Association, parent: etree._Element | None) -> etree._Element:
    element = _start("Association", obj, ObjectType.ASSOCIATION.value, parent)
    element.set("associationType", obj.association_type)
    element.set("sourceObject", obj.source)
    element.set("targetObject", obj.target)
    build = _Builder(element, obj.entry_uuid)
    build.slots(obj.slots)
    build.slots(obj.extra_slots)
    build.header(obj)
    if obj.documentation is not None:
        build.code(ClassificationScheme.ASSOCIATION_DOCUMENTATION.value, obj.documentation)
    return element


def _encode(obj: AnyObject, parent: etree._Element | None) -> etree._Element:
    if isinstance(obj, DocumentEntry):
        element = _start("ExtrinsicObject", obj, obj.object_type, parent)
        element.set("mimeType", obj.mime_type)
        return _entity(obj, DOCUMENT_ENTRY, element, None)
    if isinstance(obj, SubmissionSet):
        element = _start("RegistryPackage", obj, ObjectType.REGISTRY_PACKAGE.value, parent)
        return _entity(obj, SUBMISSION_SET, element, ClassificationNode.SUBMISSION_SET.value)
    if isinstance(obj, Folder):
        element = _start("RegistryPackage", obj, ObjectType.REGISTRY_PACKAGE.value, parent)
        return _entity(obj, FOLDER, element, ClassificationNode.FOLDER.value)
    return _association(obj, parent)


def encode_object(obj: AnyObject) -> etree._Element:
    """One registry object as a standalone rim element (declaring only the rim prefix)."""
    return _encode(obj, None)


def encode_object_xml(obj: AnyObject) -> str:
    """The canonical serialisation the registry stores per object: a str, no XML declaration."""
    return etree.tostring(_encode(obj, None), encoding="unicode")


def encode_submission(submission: Submission) -> etree._Element:
    """``lcm:SubmitObjectsRequest``: SubmissionSets, DocumentEntries, Folders, Associations in model order."""
    request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    object_list = etree.SubElement(request, rim("RegistryObjectList"))
    for obj in submission.objects():
        _encode(obj, object_list)
    return request


__all__ = ["encode_object", "encode_object_xml", "encode_submission", "generated_id"]
