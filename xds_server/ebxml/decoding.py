"""ebRIM 3.0 -> core model (the decoding half of ``codec``).

Theory of operation. A SubmitObjectsRequest is a flat ``rim:RegistryObjectList`` whose meaning comes from
conventions (ITI TF-3 4.2.3, 4.2.5):

* a ``rim:RegistryPackage`` is a SubmissionSet or a Folder only through a Classification whose
  ``classificationNode`` is the SS or Folder node and whose ``classifiedObject`` is the package; that
  Classification may sit inside the package or at the top of the list;
* coded attributes are Classifications with a ``classificationScheme`` (which attribute), a
  ``nodeRepresentation`` (the code), a single-valued ``codingScheme`` Slot and a Name (display name);
  authors are Classifications of the author scheme whose Slots hold the author parts;
* identifiers (patientId, uniqueId, sourceId) are ExternalIdentifiers keyed by ``identificationScheme``.

Any Classification or ExternalIdentifier found at the top of the list is attached to the object it names, as
if it had been nested there. Decoding never stops: every structural fault the model cannot represent (a
second value in a single-valued slot, a Classification naming another object, a package that is neither SS
nor Folder, an unknown element ...) becomes a ``DecodeProblem`` whose location starts with the object id and
names the attribute; validation turns each one into an XDSRegistryMetadataError. What the model *can*
represent (an empty mimeType, a missing required slot) is left for validation to judge.

Classifications the model has no field for go to ``other_classifications`` as ``(key, Code)``: for a
``classificationScheme`` classification the key is the scheme, for a ``classificationNode`` one (such as
limitedMetadata) the key is the node and the Code is empty (``code == scheme == ""``), which is how the
encoder tells the two apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from xds_server.core.metadata import (
    Association,
    Author,
    Code,
    DecodeProblem,
    DocumentEntry,
    Folder,
    LocalizedText,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.vocabulary import ClassificationNode, ClassificationScheme, SlotName
from xds_server.ebxml.namespaces import XDSB, XML_LANG, lcm, rim, rs
from xds_server.ebxml.tables import (
    AUTHOR_SLOTS,
    DOCUMENT_ENTRY,
    FOLDER,
    SCHEME_NAMES,
    SUBMISSION_SET,
    KindSpec,
    kind_name,
    schemes_of,
)

T_REGISTRY_OBJECT_LIST = rim("RegistryObjectList")
T_EXTRINSIC_OBJECT = rim("ExtrinsicObject")
T_REGISTRY_PACKAGE = rim("RegistryPackage")
T_ASSOCIATION = rim("Association")
T_CLASSIFICATION = rim("Classification")
T_EXTERNAL_IDENTIFIER = rim("ExternalIdentifier")
T_OBJECT_REF = rim("ObjectRef")
T_SLOT = rim("Slot")
T_VALUE_LIST = rim("ValueList")
T_VALUE = rim("Value")
T_NAME = rim("Name")
T_DESCRIPTION = rim("Description")
T_LOCALIZED_STRING = rim("LocalizedString")
T_VERSION_INFO = rim("VersionInfo")
T_CONTENT_VERSION_INFO = rim("ContentVersionInfo")
T_SUBMIT_OBJECTS_REQUEST = lcm("SubmitObjectsRequest")
T_REQUEST_SLOT_LIST = rs("RequestSlotList")
T_PROVIDE_AND_REGISTER = f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest"

_PACKAGE_NODES = frozenset({ClassificationNode.SUBMISSION_SET.value, ClassificationNode.FOLDER.value})


def at(owner: str, what: str) -> str:
    """A problem location: ``object-id: Part`` and, inside a part, ``object-id: Part / Subpart``."""
    return f"{owner} / {what}" if ": " in owner else f"{owner}: {what}"


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _elements(parent: etree._Element) -> Iterable[etree._Element]:
    """Child elements only (comments and processing instructions are not metadata)."""
    return (child for child in parent if isinstance(child.tag, str))


class _Problems:
    def __init__(self) -> None:
        self.items: list[DecodeProblem] = []

    def add(self, location: str, message: str) -> None:
        self.items.append(DecodeProblem(location, message))


@dataclass(slots=True)
class _Parts:
    """The children of one registry object, sorted by role."""

    slots: list[etree._Element] = field(default_factory=list)
    name: etree._Element | None = None
    description: etree._Element | None = None
    version_info: etree._Element | None = None
    classifications: list[etree._Element] = field(default_factory=list)
    identifiers: list[etree._Element] = field(default_factory=list)


def _split(element: etree._Element, owner: str, problems: _Problems) -> _Parts:
    parts = _Parts()
    for child in _elements(element):
        tag = child.tag
        if tag == T_SLOT:
            parts.slots.append(child)
        elif tag == T_CLASSIFICATION:
            parts.classifications.append(child)
        elif tag == T_EXTERNAL_IDENTIFIER:
            parts.identifiers.append(child)
        elif tag in (T_NAME, T_DESCRIPTION, T_VERSION_INFO):
            attr = {T_NAME: "name", T_DESCRIPTION: "description", T_VERSION_INFO: "version_info"}[tag]
            if getattr(parts, attr) is not None:
                problems.add(at(owner, local_name(child)), f"more than one {local_name(child)} element")
            else:
                setattr(parts, attr, child)
        elif tag == T_CONTENT_VERSION_INFO:
            pass  # ebRIM repository item versioning: XDS does not use it
        else:
            problems.add(at(owner, local_name(child)), f"unexpected element {child.tag} (not kept)")
    return parts


def _slot(element: etree._Element, owner: str, problems: _Problems) -> Slot | None:
    name = element.get("name")
    if not name:
        problems.add(at(owner, "Slot"), "Slot without a name (not kept)")
        return None
    values: list[str] = []
    for value_list in _elements(element):
        if value_list.tag != T_VALUE_LIST:
            problems.add(at(owner, f"Slot {name}"), f"unexpected element {value_list.tag} in a Slot")
            continue
        for value in _elements(value_list):
            if value.tag == T_VALUE:
                values.append(value.text or "")
            else:
                problems.add(at(owner, f"Slot {name}"), f"unexpected element {value.tag} in a ValueList")
    return Slot(name, tuple(values))


def _slots(elements: Sequence[etree._Element], owner: str, problems: _Problems) -> list[Slot]:
    """Slots in document order; ebRIM forbids two Slots of one name on an object, so a repeat is a problem."""
    seen: set[str] = set()
    out: list[Slot] = []
    for element in elements:
        slot = _slot(element, owner, problems)
        if slot is None:
            continue
        if slot.name in seen:
            problems.add(
                at(owner, f"Slot {slot.name}"), "the Slot appears more than once (only the first is kept)"
            )
            continue
        seen.add(slot.name)
        out.append(slot)
    return out


def _single(slot: Slot, owner: str, problems: _Problems) -> str | None:
    if len(slot.values) > 1:
        problems.add(
            at(owner, f"Slot {slot.name}"),
            f"single-valued Slot has {len(slot.values)} values: {', '.join(slot.values)}",
        )
    return slot.values[0] if slot.values else None


def _localized(element: etree._Element | None, owner: str, problems: _Problems) -> LocalizedText | None:
    if element is None:
        return None
    strings = [c for c in _elements(element) if c.tag == T_LOCALIZED_STRING]
    if not strings:
        return None
    if len(strings) > 1:
        problems.add(
            at(owner, local_name(element)),
            f"{len(strings)} LocalizedStrings; XDS allows one (only the first is kept)",
        )
    first = strings[0]
    return LocalizedText(first.get("value") or "", first.get(XML_LANG), first.get("charset"))


def _common(element: etree._Element, entry_uuid: str, parts: _Parts, problems: _Problems) -> dict[str, Any]:
    """Attributes every registry object shares (RegistryObject in the model)."""
    version = parts.version_info.get("versionName") if parts.version_info is not None else None
    return {
        "entry_uuid": entry_uuid,
        "logical_id": element.get("lid"),
        "version": version,
        "status": element.get("status"),
        "home": element.get("home"),
        "title": _localized(parts.name, entry_uuid, problems),
        "comments": _localized(parts.description, entry_uuid, problems),
    }


def _owned(element: etree._Element, attribute: str, owner: str, where: str, problems: _Problems) -> bool:
    """A nested Classification/ExternalIdentifier must name its owner; naming another object is refused."""
    named = element.get(attribute)
    if named is None:
        problems.add(where, f"{attribute} missing")
        return True
    if named != owner:
        problems.add(where, f"{attribute} {named!r} names another object than {owner!r} (not kept)")
        return False
    return True


def _classification_location(owner: str, element: etree._Element, index: int) -> str:
    return at(owner, f"Classification {element.get('id') or f'#{index}'}")


def _code(element: etree._Element, where: str, problems: _Problems) -> Code:
    """A coded Classification: nodeRepresentation, one codingScheme value, Name as display name."""
    code = element.get("nodeRepresentation")
    if code is None:
        problems.add(where, "nodeRepresentation (the code) missing")
    parts = _split(element, where, problems)
    scheme: str | None = None
    for slot in _slots(parts.slots, where, problems):
        if slot.name != SlotName.CODING_SCHEME:
            problems.add(
                at(where, f"Slot {slot.name}"), "unexpected Slot in a coded Classification (not kept)"
            )
            continue
        if len(slot.values) != 1:
            problems.add(
                at(where, "Slot codingScheme"),
                f"codingScheme must have exactly one value, got {len(slot.values)}",
            )
        scheme = slot.values[0] if slot.values else ""
    if scheme is None:
        problems.add(where, "coded Classification without a codingScheme Slot")
    if parts.classifications or parts.identifiers:
        problems.add(where, "nested Classification/ExternalIdentifier inside a Classification (not kept)")
    name = _localized(parts.name, where, problems)
    return Code(code or "", scheme or "", name.value if name else "")


def _author(element: etree._Element, where: str, problems: _Problems) -> Author:
    if element.get("nodeRepresentation"):
        problems.add(where, "an author Classification must have an empty nodeRepresentation")
    parts = _split(element, where, problems)
    if parts.classifications or parts.identifiers:
        problems.add(where, "nested Classification/ExternalIdentifier inside an author (not kept)")
    fields: dict[str, Any] = {}
    extra: list[Slot] = []
    for slot in _slots(parts.slots, where, problems):
        attr = AUTHOR_SLOTS.get(slot.name)
        if attr is None:
            extra.append(slot)
        elif attr == "person":
            fields[attr] = _single(slot, where, problems)
        else:
            fields[attr] = slot.values
    return Author(**fields, extra_slots=tuple(extra))


def _nested_then_loose(
    nested: Sequence[etree._Element], loose: Sequence[etree._Element]
) -> list[tuple[etree._Element, bool]]:
    return [(e, True) for e in nested] + [(e, False) for e in loose]


def _entity_slots(
    slots: Sequence[etree._Element], spec: KindSpec, owner: str, fields: dict[str, Any], problems: _Problems
) -> None:
    extra: list[Slot] = []
    for slot in _slots(slots, owner, problems):
        if slot.name in spec.single_slots:
            fields[spec.single_slots[slot.name]] = _single(slot, owner, problems)
        elif slot.name in spec.multi_slots:
            fields[spec.multi_slots[slot.name]] = slot.values
        else:
            extra.append(slot)
    fields["extra_slots"] = tuple(extra)


def _entity_classifications(
    classifications: list[tuple[etree._Element, bool]],
    spec: KindSpec,
    owner: str,
    fields: dict[str, Any],
    problems: _Problems,
) -> None:
    authors: list[Author] = []
    multi: dict[str, list[Code]] = defaultdict(list)
    other: list[tuple[str, Code]] = []
    for index, (classification, is_nested) in enumerate(classifications, 1):
        where = _classification_location(owner, classification, index)
        if is_nested and not _owned(classification, "classifiedObject", owner, where, problems):
            continue
        node = classification.get("classificationNode")
        scheme = classification.get("classificationScheme")
        if node is not None and scheme is not None:
            problems.add(where, "both classificationNode and classificationScheme (treated as scheme)")
        if scheme is None:
            if node is None:
                problems.add(where, "neither classificationScheme nor classificationNode (not kept)")
            elif spec is DOCUMENT_ENTRY or node not in _PACKAGE_NODES:  # package markers are the kind
                name = _localized(_split(classification, where, problems).name, where, problems)
                other.append((node, Code("", "", name.value if name else "")))
        elif scheme == spec.author_scheme:
            authors.append(_author(classification, where, problems))
        elif scheme in spec.single_codes:
            attr = spec.single_codes[scheme]
            code = _code(classification, where, problems)
            if fields.get(attr) is not None:
                problems.add(where, f"{attr} given more than once (only the first is kept)")
            else:
                fields[attr] = code
        elif scheme in spec.multi_codes:
            multi[spec.multi_codes[scheme]].append(_code(classification, where, problems))
        else:
            if scheme in SCHEME_NAMES and not SCHEME_NAMES[scheme].startswith(f"{kind_name(spec)}."):
                # a known XDS scheme of another kind (a contentTypeCode on a DocumentEntry ...): say which
                problems.add(
                    where,
                    f"classificationScheme {scheme} ({SCHEME_NAMES[scheme]}) does not belong on a "
                    f"{kind_name(spec)}; expected one of: {', '.join(schemes_of(spec))}",
                )
            other.append((scheme, _code(classification, where, problems)))
    for attr, codes in multi.items():
        fields[attr] = tuple(codes)
    if spec.author_scheme is not None:
        fields["authors"] = tuple(authors)
    fields["other_classifications"] = tuple(other)


def _entity_identifiers(
    identifiers: list[tuple[etree._Element, bool]],
    spec: KindSpec,
    owner: str,
    fields: dict[str, Any],
    problems: _Problems,
) -> None:
    for index, (identifier, is_nested) in enumerate(identifiers, 1):
        where = at(owner, f"ExternalIdentifier {identifier.get('id') or f'#{index}'}")
        if is_nested and not _owned(identifier, "registryObject", owner, where, problems):
            continue
        scheme = identifier.get("identificationScheme")
        value = identifier.get("value")
        if value is None:
            problems.add(where, "ExternalIdentifier without a value (not kept)")
            continue
        target = spec.identifiers.get(scheme or "")
        if target is None:
            problems.add(where, f"identificationScheme {scheme!r} is not defined for this object (not kept)")
            continue
        attr = target[0]
        if fields.get(attr) is not None:
            problems.add(where, f"{attr} given more than once (only the first is kept)")
        else:
            fields[attr] = value


def _decode_entity(
    element: etree._Element,
    entry_uuid: str,
    spec: KindSpec,
    loose_classifications: Sequence[etree._Element],
    loose_identifiers: Sequence[etree._Element],
    problems: _Problems,
) -> dict[str, Any]:
    """The fields of a DocumentEntry, SubmissionSet or Folder, driven by its ``KindSpec`` table."""
    parts = _split(element, entry_uuid, problems)
    fields = _common(element, entry_uuid, parts, problems)
    _entity_slots(parts.slots, spec, entry_uuid, fields, problems)
    classifications = _nested_then_loose(parts.classifications, loose_classifications)
    _entity_classifications(classifications, spec, entry_uuid, fields, problems)
    identifiers = _nested_then_loose(parts.identifiers, loose_identifiers)
    _entity_identifiers(identifiers, spec, entry_uuid, fields, problems)
    return fields


def _decode_association(
    element: etree._Element,
    entry_uuid: str,
    loose_classifications: Sequence[etree._Element],
    loose_identifiers: Sequence[etree._Element],
    problems: _Problems,
) -> Association:
    parts = _split(element, entry_uuid, problems)
    fields = _common(element, entry_uuid, parts, problems)
    documentation: Code | None = None
    nested = _nested_then_loose(parts.classifications, loose_classifications)
    for index, (classification, is_nested) in enumerate(nested, 1):
        where = _classification_location(entry_uuid, classification, index)
        if is_nested and not _owned(classification, "classifiedObject", entry_uuid, where, problems):
            continue
        scheme = classification.get("classificationScheme")
        if scheme != ClassificationScheme.ASSOCIATION_DOCUMENTATION:
            problems.add(
                where,
                f"Classification {scheme or classification.get('classificationNode')!r} "
                "is not defined for an Association (not kept)",
            )
        elif documentation is not None:
            problems.add(where, "association documentation given more than once (only the first is kept)")
        else:
            documentation = _code(classification, where, problems)
    for index, identifier in enumerate([*parts.identifiers, *loose_identifiers], 1):
        problems.add(
            f"{entry_uuid}: ExternalIdentifier {identifier.get('id') or f'#{index}'}",
            "an Association has no ExternalIdentifier (not kept)",
        )
    return Association(
        **fields,
        association_type=element.get("associationType", ""),
        source=element.get("sourceObject", ""),
        target=element.get("targetObject", ""),
        slots=tuple(_slots(parts.slots, entry_uuid, problems)),
        documentation=documentation,
    )


def _package_kind(
    element: etree._Element, entry_uuid: str, loose: Sequence[etree._Element], problems: _Problems
) -> KindSpec | None:
    """SubmissionSet or Folder, from the classificationNode(s) that classify this package."""
    nodes: set[str] = set()
    for classification in _elements(element):
        if classification.tag == T_CLASSIFICATION and classification.get("classifiedObject") in (
            None,
            entry_uuid,
        ):
            nodes.add(classification.get("classificationNode") or "")
    nodes.update(c.get("classificationNode") or "" for c in loose)
    is_ss = ClassificationNode.SUBMISSION_SET.value in nodes
    is_folder = ClassificationNode.FOLDER.value in nodes
    if is_ss and is_folder:
        problems.add(
            f"{entry_uuid}: Classification", "RegistryPackage classified both as SubmissionSet and Folder"
        )
        return None
    if not (is_ss or is_folder):
        problems.add(
            f"{entry_uuid}: Classification",
            "RegistryPackage is neither a SubmissionSet nor a Folder (no SS/Folder classificationNode)",
        )
        return None
    return SUBMISSION_SET if is_ss else FOLDER


def _object_list(element: etree._Element, problems: _Problems) -> etree._Element | None:
    if element.tag == T_REGISTRY_OBJECT_LIST:
        return element
    if element.tag == T_PROVIDE_AND_REGISTER:  # ITI-41 body: the metadata is its SubmitObjectsRequest
        request = element.find(T_SUBMIT_OBJECTS_REQUEST)
        if request is None:
            problems.add("ProvideAndRegisterDocumentSetRequest", "lcm:SubmitObjectsRequest missing")
            return None
        element = request
    if element.tag != T_SUBMIT_OBJECTS_REQUEST:
        problems.add(
            local_name(element),
            f"expected lcm:SubmitObjectsRequest or rim:RegistryObjectList, got {element.tag}",
        )
        return None
    lists: list[etree._Element] = []
    for child in _elements(element):
        if child.tag == T_REGISTRY_OBJECT_LIST:
            lists.append(child)
        elif child.tag != T_REQUEST_SLOT_LIST:
            problems.add(f"SubmitObjectsRequest: {local_name(child)}", f"unexpected element {child.tag}")
    if not lists:
        problems.add("SubmitObjectsRequest", "rim:RegistryObjectList missing")
        return None
    if len(lists) > 1:
        problems.add("SubmitObjectsRequest", "more than one rim:RegistryObjectList (only the first is read)")
    return lists[0]


_OBJECT_TAGS = frozenset({T_EXTRINSIC_OBJECT, T_REGISTRY_PACKAGE, T_ASSOCIATION})


def decode_submission(element: etree._Element) -> Submission:
    """Decode an ``lcm:SubmitObjectsRequest`` (also inside an ITI-41 request, or a bare
    ``rim:RegistryObjectList``); never raises: faults are ``Submission.problems``."""
    problems = _Problems()
    object_list = _object_list(element, problems)
    if object_list is None:
        return Submission(problems=tuple(problems.items))
    return _decode_list(_elements(object_list), problems)


def decode_objects(elements: Iterable[etree._Element]) -> Submission:
    """Decode loose registry objects (for example stored LeafClass XML) as if they formed one list."""
    return _decode_list(elements, _Problems())


def _decode_list(children: Iterable[etree._Element], problems: _Problems) -> Submission:
    # Pass 1: the objects, and top-level Classifications/ExternalIdentifiers keyed by the object they name.
    objects: list[tuple[etree._Element, str]] = []
    ids: set[str] = set()
    loose_classifications: dict[str, list[etree._Element]] = defaultdict(list)
    loose_identifiers: dict[str, list[etree._Element]] = defaultdict(list)
    for position, child in enumerate(children, 1):
        name = local_name(child)
        if child.tag in _OBJECT_TAGS:
            entry_uuid = child.get("id")
            if not entry_uuid:
                problems.add(f"{name}[{position}]: id", f"{name} without an id")
                entry_uuid = ""
            elif entry_uuid in ids:
                problems.add(f"{entry_uuid}: id", "two objects in the submission have this id")
            ids.add(entry_uuid)
            objects.append((child, entry_uuid))
        elif child.tag in (T_CLASSIFICATION, T_EXTERNAL_IDENTIFIER):
            attribute = "classifiedObject" if child.tag == T_CLASSIFICATION else "registryObject"
            target = child.get(attribute)
            if not target:
                problems.add(f"{name}[{position}]: {attribute}", f"top-level {name} without {attribute}")
            else:
                table = loose_classifications if child.tag == T_CLASSIFICATION else loose_identifiers
                table[target].append(child)
        elif child.tag == T_OBJECT_REF:
            pass  # a reference to an object already in the registry: carries no metadata
        else:
            problems.add(
                f"RegistryObjectList: {name}[{position}]", f"unexpected element {child.tag} (not kept)"
            )
    for table, attribute in (
        (loose_classifications, "classifiedObject"),
        (loose_identifiers, "registryObject"),
    ):
        for target, elements in table.items():
            if target not in ids:
                problems.add(
                    f"{target}: {local_name(elements[0])}",
                    f"{attribute} names an object that is not in this submission (not kept)",
                )

    # Pass 2: decode each object in document order.
    submission_sets: list[SubmissionSet] = []
    documents: list[DocumentEntry] = []
    folders: list[Folder] = []
    associations: list[Association] = []
    for element, entry_uuid in objects:
        classifications = loose_classifications.get(entry_uuid, [])
        identifiers = loose_identifiers.get(entry_uuid, [])
        if element.tag == T_EXTRINSIC_OBJECT:
            fields = _decode_entity(
                element, entry_uuid, DOCUMENT_ENTRY, classifications, identifiers, problems
            )
            documents.append(
                DocumentEntry(
                    **fields,
                    object_type=element.get("objectType", ""),
                    mime_type=element.get("mimeType", ""),
                )
            )
        elif element.tag == T_ASSOCIATION:
            associations.append(
                _decode_association(element, entry_uuid, classifications, identifiers, problems)
            )
        else:
            markers = [c for c in classifications if c.get("classificationNode") in _PACKAGE_NODES]
            spec = _package_kind(element, entry_uuid, markers, problems)
            if spec is None:
                continue
            rest = [c for c in classifications if c.get("classificationNode") not in _PACKAGE_NODES]
            fields = _decode_entity(element, entry_uuid, spec, rest, identifiers, problems)
            if spec is SUBMISSION_SET:
                submission_sets.append(SubmissionSet(**fields))
            else:
                folders.append(Folder(**fields))
    return Submission(
        submission_sets=tuple(submission_sets),
        documents=tuple(documents),
        folders=tuple(folders),
        associations=tuple(associations),
        problems=tuple(problems.items),
    )


__all__ = ["decode_objects", "decode_submission", "local_name"]
