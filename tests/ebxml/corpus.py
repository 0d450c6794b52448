"""NIST testkit files (the copy inside the repository) and a normal form for comparing ebRIM in meaning."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from xds_server.ebxml.namespaces import LCM, QUERY, RIM, XML_LANG, lcm, rim
from xds_server.xmlparse import XmlRejected, parse_xml

TESTKIT = Path(__file__).resolve().parents[2] / "conformance" / "nist-testkit" / "tests"


@cache
def testkit_files(tag: str) -> tuple[Path, ...]:
    """Request files of the testkit whose root element is ``tag`` (Clark name), sorted by path."""
    namespace = etree.QName(tag).namespace or ""
    found: list[Path] = []
    for path in sorted(TESTKIT.rglob("*.xml")):
        data = path.read_bytes()
        if namespace.encode() not in data:  # cheap filter: 2.1-syntax files never mention the 3.0 namespaces
            continue
        try:
            root = parse_xml(data)
        except XmlRejected:
            continue
        if root.tag == tag:
            found.append(path)
    return tuple(found)


def rim3_submissions() -> tuple[Path, ...]:
    return testkit_files(lcm("SubmitObjectsRequest")) + testkit_files(rim("RegistryObjectList"))


def query_requests() -> tuple[Path, ...]:
    return testkit_files(f"{{{QUERY}}}AdhocQueryRequest")


def remove_requests() -> tuple[Path, ...]:
    return testkit_files(f"{{{LCM}}}RemoveObjectsRequest")


def relative(path: Path) -> str:
    return str(path.relative_to(TESTKIT))


# --- normal form -------------------------------------------------------------------------------------------
# What ebRIM means, without what it lets vary: child order between kinds (Slots, Classifications and
# ExternalIdentifiers are compared as multisets; values inside a Slot keep their order), ids of
# Classifications and ExternalIdentifiers, whether a Classification is nested or at the top of the list,
# empty Name/Description elements, and ObjectRefs.


def _slots(element: etree._Element) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for slot in element.iterchildren(rim("Slot")):
        values = tuple(
            v.text or "" for vl in slot.iterchildren(rim("ValueList")) for v in vl.iterchildren(rim("Value"))
        )
        out.append((slot.get("name") or "", values))
    return tuple(sorted(out))


def _text(element: etree._Element, tag: str) -> tuple[tuple[str | None, str | None, str], ...] | None:
    holder = element.find(tag)
    if holder is None:
        return None
    strings = tuple(
        (s.get(XML_LANG), s.get("charset"), s.get("value") or "")
        for s in holder.iterchildren(rim("LocalizedString"))
    )
    return strings or None


def _classification(element: etree._Element) -> tuple[Any, ...]:
    return (
        element.get("classifiedObject"),
        element.get("classificationScheme"),
        element.get("classificationNode"),
        element.get("nodeRepresentation"),
        _slots(element),
        _text(element, rim("Name")),
    )


def _identifier(element: etree._Element) -> tuple[Any, ...]:
    return (
        element.get("registryObject"),
        element.get("identificationScheme"),
        element.get("value"),
        _text(element, rim("Name")),
    )


_OBJECTS = (rim("ExtrinsicObject"), rim("RegistryPackage"), rim("Association"))
_IGNORED_ATTRIBUTES = {"id"}


def normal_form(root: etree._Element) -> dict[str, dict[str, Any]]:
    """Object id -> its meaning (attributes, slots, names, version, classifications, identifiers)."""
    object_list = root if root.tag == rim("RegistryObjectList") else root.find(rim("RegistryObjectList"))
    assert object_list is not None
    loose_classifications: dict[str, list[etree._Element]] = defaultdict(list)
    loose_identifiers: dict[str, list[etree._Element]] = defaultdict(list)
    for child in object_list:
        if child.tag == rim("Classification"):
            loose_classifications[child.get("classifiedObject") or ""].append(child)
        elif child.tag == rim("ExternalIdentifier"):
            loose_identifiers[child.get("registryObject") or ""].append(child)
    objects: dict[str, dict[str, Any]] = {}
    for child in object_list:
        if child.tag not in _OBJECTS:
            continue
        entry_uuid = child.get("id") or ""
        version = child.find(rim("VersionInfo"))
        classifications = [*child.iterchildren(rim("Classification")), *loose_classifications[entry_uuid]]
        identifiers = [*child.iterchildren(rim("ExternalIdentifier")), *loose_identifiers[entry_uuid]]
        objects[entry_uuid] = {
            "tag": etree.QName(child).localname,
            "attributes": {k: v for k, v in child.attrib.items() if k not in _IGNORED_ATTRIBUTES},
            "slots": _slots(child),
            "name": _text(child, rim("Name")),
            "description": _text(child, rim("Description")),
            "version": version.get("versionName") if version is not None else None,
            "classifications": sorted(map(_classification, classifications), key=repr),
            "identifiers": sorted(map(_identifier, identifiers), key=repr),
        }
    return objects


__all__ = [
    "RIM",
    "TESTKIT",
    "normal_form",
    "query_requests",
    "relative",
    "remove_requests",
    "rim3_submissions",
]
