"""Size bounds of submitted metadata, checked on the parsed envelope before anything is decoded, stored or
spooled (issue 14, item 7): one ITI-41 with 200 000 Slots used to be decoded and stored (16 s, +340 MB).

One pass over the ``rim:RegistryObjectList`` counts registry objects, Slots per object, Values per Slot and
the metadata's bytes (text and attribute values), and stops at the first bound exceeded: the request is
refused with XDSRegistryMetadataError naming the bound and its setting (``LimitExceeded``, counted as
``metadata_limits`` in /metrics). The bounds are settings (``XDS_MAX_METADATA_*``) whose defaults are far
above any real submission (a DMP submission holds a few documents of some 20 Slots each).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, LimitExceeded
from xds_server.ebxml.namespaces import RIM

__all__ = ["MetadataLimits", "check_metadata_limits"]

_SLOT = f"{{{RIM}}}Slot"
_VALUE_LIST = f"{{{RIM}}}ValueList"
_OBJECTS = frozenset(
    f"{{{RIM}}}{name}"
    for name in (
        "ExtrinsicObject",
        "RegistryPackage",
        "Association",
        "Classification",
        "ExternalIdentifier",
        "ObjectRef",
    )
)


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    max_objects: int = 10_000
    max_slots_per_object: int = 256
    max_values_per_slot: int = 1_000
    max_bytes: int = 16 * 1024 * 1024


def _refuse(message: str, setting: str) -> LimitExceeded:
    issue = Issue(ErrorCode.REGISTRY_METADATA_ERROR, f"{message} (limit set by {setting})", "metadata")
    return LimitExceeded([issue], "metadata_limits")


def check_metadata_limits(element: etree._Element, limits: MetadataLimits) -> None:
    """Raise ``LimitExceeded`` when the metadata under ``element`` (a SubmitObjectsRequest, or the ITI-41
    request holding one) exceeds a bound; cost: one walk, stopped at the first bound exceeded.

    The walk visits only the elements it counts (objects, Slots, ValueLists: lxml filters the others in C).
    The byte bound needs every text and attribute: it is counted only when the serialised metadata is
    larger than the bound, since the serialisation (escaped text and attributes, plus markup) is never
    shorter than what it counts."""
    _check_counts(element, limits)
    if len(etree.tostring(element, encoding="utf-8")) > limits.max_bytes:
        _check_size(element, limits)


def _check_counts(element: etree._Element, limits: MetadataLimits) -> None:
    objects = 0
    slots: dict[etree._Element, int] = {}
    for node in element.iter(*_OBJECTS, _SLOT, _VALUE_LIST):
        if node.tag == _SLOT:
            owner = node.getparent()
            if owner is None:
                continue
            count = slots[owner] = slots.get(owner, 0) + 1
            if count > limits.max_slots_per_object:
                raise _refuse(
                    f"{_owner_name(owner)} has more than {limits.max_slots_per_object} Slots",
                    "XDS_MAX_METADATA_SLOTS",
                )
        elif node.tag == _VALUE_LIST:
            if len(node) > limits.max_values_per_slot:
                slot = node.getparent()
                name = slot.get("name", "?") if slot is not None else "?"
                raise _refuse(
                    f"Slot {name!r} has more than {limits.max_values_per_slot} Values",
                    "XDS_MAX_METADATA_VALUES",
                )
        else:
            objects += 1
            if objects > limits.max_objects:
                raise _refuse(
                    f"the submission holds more than {limits.max_objects} registry objects",
                    "XDS_MAX_METADATA_OBJECTS",
                )


def _check_size(element: etree._Element, limits: MetadataLimits) -> None:
    size = 0
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        size += len(node.text or "") + len(node.tail or "") + sum(len(v) for v in node.attrib.values())
        if size > limits.max_bytes:
            raise _refuse(f"the metadata is larger than {limits.max_bytes} bytes", "XDS_MAX_METADATA_BYTES")


def _owner_name(owner: etree._Element | None) -> str:
    if owner is None:
        return "an object"
    # Slots sit on the object itself, or in a SlotList (RequestSlotList)
    name = etree.QName(owner).localname
    return f"{name} {owner.get('id')!r}" if owner.get("id") else name
