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

import hashlib
import re
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


_ID_NAMESPACE_BYTES: Final = _ID_NAMESPACE.bytes


def generated_id(owner: str, role: str, index: int) -> str:
    """Deterministic id of the ``index``-th (1-based) ``role`` child of ``owner``: the version 5 UUID
    ``uuid.uuid5(_ID_NAMESPACE, f"{owner}|{role}|{index}")``, computed without building UUID objects (it
    runs for every Classification and ExternalIdentifier the registry writes)."""
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + f"{owner}|{role}|{index}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def child_ids(owner: str, classifications: int, identifiers: int) -> list[str]:
    """``generated_id`` of the first ``classifications`` Classifications of ``owner``, then of its first
    ``identifiers`` ExternalIdentifiers (the bulk generator fills templates with them): each role's prefix
    is hashed once and its state copied; the version and variant digits are set on the hex string."""
    out: list[str] = []
    for role, count in (("classification", classifications), ("external-identifier", identifiers)):
        if not count:
            continue
        prefix = hashlib.sha1(_ID_NAMESPACE_BYTES + f"{owner}|{role}|".encode())
        for index in range(1, count + 1):
            state = prefix.copy()
            state.update(b"%d" % index)
            h = state.hexdigest()
            out.append(f"urn:uuid:{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}")
    return out


# The RFC 4122 variant digit (10xx) of each hex digit of a digest (``generated_id``'s byte edit).
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


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
    """The canonical serialisation the registry stores per object: a str, no XML declaration.

    Written as text by ``_Text`` (about ten times faster than building the lxml tree and serialising it,
    the registry's write hot path); the bytes are exactly lxml's serialisation of ``encode_object(obj)``
    (tests/ebxml/test_encoding.py checks the two over generated objects). A value with a character lxml
    escapes otherwise or refuses (controls, non-characters) takes the lxml road, which decides."""
    try:
        return _Text(obj).xml()
    except _Unusual:
        return etree.tostring(_encode(obj, None), encoding="unicode")


# ---- the same serialisation, as text ------------------------------------------------------------------

_RIM_DECL = f' xmlns:rim="{RIM}"'
# Characters lxml refuses or writes as character references: a value holding one is handed to lxml.
_UNUSUAL = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Anything needing attention at all: one search on the common path, where nothing does.
_SPECIAL = re.compile('[&<>"\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]')


class _Unusual(Exception):
    """A value needs lxml's own judgement (control characters, non-characters)."""


def _t(value: str) -> str:
    if _SPECIAL.search(value) is None:
        return value
    if _UNUSUAL.search(value):
        raise _Unusual
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _a(value: str) -> str:
    if _SPECIAL.search(value) is None:
        return value
    if _UNUSUAL.search(value):
        raise _Unusual
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class _Text:
    """``_Builder`` and ``_start``/``_entity``/``_association`` again, appending text instead of elements:
    same children in the same order, same attributes in the same order, same generated ids."""

    def __init__(self, obj: AnyObject) -> None:
        self.obj = obj
        self.out: list[str] = []
        self.owner = obj.entry_uuid
        self.classifications = 0
        self.identifiers = 0

    def xml(self) -> str:
        obj = self.obj
        if isinstance(obj, DocumentEntry):
            self._start("ExtrinsicObject", obj, obj.object_type, f' mimeType="{_a(obj.mime_type)}"')
            start = len(self.out)
            self._entity(obj, DOCUMENT_ENTRY, None)
            if len(self.out) == start:  # no child: lxml writes an empty element
                self.out[-1] = self.out[-1][:-1] + "/>"
            else:
                self.out.append("</rim:ExtrinsicObject>")
        elif isinstance(obj, SubmissionSet | Folder):
            self._start("RegistryPackage", obj, ObjectType.REGISTRY_PACKAGE.value, "")
            if isinstance(obj, SubmissionSet):
                self._entity(obj, SUBMISSION_SET, ClassificationNode.SUBMISSION_SET.value)
            else:
                self._entity(obj, FOLDER, ClassificationNode.FOLDER.value)
            self.out.append("</rim:RegistryPackage>")
        else:
            self._association(obj)
        return "".join(self.out)

    def _start(self, tag: str, obj: RegistryObject, object_type: str, extra: str) -> None:
        parts = [f'<rim:{tag}{_RIM_DECL} id="{_a(obj.entry_uuid)}"']
        if obj.home is not None:
            parts.append(f' home="{_a(obj.home)}"')
        if obj.logical_id is not None:
            parts.append(f' lid="{_a(obj.logical_id)}"')
        if object_type:
            parts.append(f' objectType="{_a(object_type)}"')
        if obj.status is not None:
            parts.append(f' status="{_a(obj.status)}"')
        parts.append(extra)
        parts.append(">")
        self.out.append("".join(parts))

    def _slot(self, name: str, values: Iterable[str]) -> None:
        inner = "".join(
            f"<rim:Value>{_t(value)}</rim:Value>" if value else "<rim:Value></rim:Value>" for value in values
        )
        value_list = f"<rim:ValueList>{inner}</rim:ValueList>" if inner else "<rim:ValueList/>"
        self.out.append(f'<rim:Slot name="{_a(name)}">{value_list}</rim:Slot>')

    def _slots(self, slots: Iterable[Slot]) -> None:
        for slot in slots:
            self._slot(slot.name, slot.values)

    def _localized(self, tag: str, text: LocalizedText | None) -> None:
        if text is None:
            return
        attributes = f' xml:lang="{_a(text.lang)}"' if text.lang is not None else ""
        if text.charset is not None:
            attributes += f' charset="{_a(text.charset)}"'
        self.out.append(f'<rim:{tag}><rim:LocalizedString{attributes} value="{_a(text.value)}"/></rim:{tag}>')

    def _header(self, obj: RegistryObject) -> None:
        self._localized("Name", obj.title)
        self._localized("Description", obj.comments)
        if obj.version is not None:
            self.out.append(f'<rim:VersionInfo versionName="{_a(obj.version)}"/>')

    def _classification(self, attributes: str) -> None:
        """Opens a Classification (the caller closes it, or ``_close`` makes it empty)."""
        self.classifications += 1
        identifier = generated_id(self.owner, "classification", self.classifications)
        self.out.append(
            f'<rim:Classification id="{identifier}" objectType="{ObjectType.CLASSIFICATION.value}"'
            f"{attributes}"
        )

    def _node(self, node: str, display: str = "") -> None:
        self._classification(f' classifiedObject="{_a(self.owner)}" classificationNode="{_a(node)}"')
        if display:
            self.out.append(">")
            self._localized("Name", LocalizedText(display))
            self.out.append("</rim:Classification>")
        else:
            self.out.append("/>")

    def _code(self, scheme: str, code: Code) -> None:
        if not code.code and not code.scheme:
            self._node(scheme, code.display)
            return
        self._classification(
            f' classificationScheme="{_a(scheme)}" classifiedObject="{_a(self.owner)}"'
            f' nodeRepresentation="{_a(code.code)}">'
        )
        self._slot(SlotName.CODING_SCHEME, (code.scheme,))
        if code.display:
            self._localized("Name", LocalizedText(code.display))
        self.out.append("</rim:Classification>")

    def _author(self, scheme: str, author: Author) -> None:
        start = len(self.out)
        self._classification(
            f' classificationScheme="{_a(scheme)}" classifiedObject="{_a(self.owner)}" nodeRepresentation=""'
        )
        for slot_name, attr in AUTHOR_SLOTS.items():
            value: str | tuple[str, ...] | None = getattr(author, attr)
            if isinstance(value, str):
                self._slot(slot_name, (value,))
            elif value:
                self._slot(slot_name, value)
        self._slots(author.extra_slots)
        if len(self.out) == start + 1:
            self.out.append("/>")
        else:
            self.out.insert(start + 1, ">")
            self.out.append("</rim:Classification>")

    def _identifier(self, scheme: str, value: str, name: str) -> None:
        self.identifiers += 1
        identifier = generated_id(self.owner, "external-identifier", self.identifiers)
        self.out.append(
            f'<rim:ExternalIdentifier id="{identifier}" objectType="{ObjectType.EXTERNAL_IDENTIFIER.value}"'
            f' registryObject="{_a(self.owner)}" identificationScheme="{_a(scheme)}" value="{_a(value)}">'
        )
        self._localized("Name", LocalizedText(name))
        self.out.append("</rim:ExternalIdentifier>")

    def _entity(
        self, obj: DocumentEntry | SubmissionSet | Folder, spec: KindSpec, marker: str | None
    ) -> None:
        for slot_name, attr in spec.single_slots.items():
            single: str | None = getattr(obj, attr)
            if single is not None:
                self._slot(slot_name, (single,))
        for slot_name, attr in spec.multi_slots.items():
            multi: tuple[str, ...] = getattr(obj, attr)
            if multi:
                self._slot(slot_name, multi)
        self._slots(obj.extra_slots)
        self._header(obj)
        if marker is not None:
            self._node(marker)
        if spec.author_scheme is not None and not isinstance(obj, Folder):
            for author in obj.authors:
                self._author(spec.author_scheme, author)
        for scheme, attr in spec.single_codes.items():
            code: Code | None = getattr(obj, attr)
            if code is not None:
                self._code(scheme, code)
        for scheme, attr in spec.multi_codes.items():
            codes: tuple[Code, ...] = getattr(obj, attr)
            for each in codes:
                self._code(scheme, each)
        for key, other in obj.other_classifications:
            self._code(key, other)
        for scheme, (attr, name) in spec.identifiers.items():
            identifier: str | None = getattr(obj, attr)
            if identifier is not None:
                self._identifier(scheme, identifier, name)

    def _association(self, obj: Association) -> None:
        extra = (
            f' associationType="{_a(obj.association_type)}" sourceObject="{_a(obj.source)}"'
            f' targetObject="{_a(obj.target)}"'
        )
        self._start("Association", obj, ObjectType.ASSOCIATION.value, extra)
        start = len(self.out)
        self._slots(obj.slots)
        self._slots(obj.extra_slots)
        self._header(obj)
        if obj.documentation is not None:
            self._code(ClassificationScheme.ASSOCIATION_DOCUMENTATION.value, obj.documentation)
        if len(self.out) == start:  # no child: lxml writes an empty element
            self.out[-1] = self.out[-1][:-1] + "/>"
        else:
            self.out.append("</rim:Association>")


def encode_submission(submission: Submission) -> etree._Element:
    """``lcm:SubmitObjectsRequest``: SubmissionSets, DocumentEntries, Folders, Associations in model order."""
    request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    object_list = etree.SubElement(request, rim("RegistryObjectList"))
    for obj in submission.objects():
        _encode(obj, object_list)
    return request


__all__ = ["child_ids", "encode_object", "encode_object_xml", "encode_submission", "generated_id"]
