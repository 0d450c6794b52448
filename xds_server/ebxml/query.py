"""ITI-18 request and response bodies, and the ITI-62 RemoveObjectsRequest.

The request decoder only lifts the XML into data: each ``rim:Slot`` of the ``rim:AdhocQuery`` becomes one
``Slot(name, values)`` with the raw text of every ``rim:Value`` (quotes, parentheses and commas untouched).
Repeated Slots with one name stay separate entries, because that is how a stored query expresses AND
(ITI TF-2a 3.18.4.1.2.3.5); the parameter grammar belongs to the query engine.

The response encoder embeds the canonical XML the registry stored for each object (``encode_object_xml``).
All fragments are parsed in one call, wrapped in the RegistryObjectList, which keeps a LeafClass answer of
hundreds of objects within a few milliseconds; only what changes after registration is rewritten: the
``status`` attribute (Deprecated by a replacement, Metadata Update) and a Folder's ``lastUpdateTime``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.metadata import Slot
from xds_server.core.vocabulary import ResponseStatus, SlotName
from xds_server.ebxml.namespaces import QUERY, RIM, RS, lcm, query, rim, rs
from xds_server.ebxml.responses import check_status, fill_error_list
from xds_server.xmlparse import hardened_parser

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_RESPONSE_NSMAP: Final = {"query": QUERY, "rs": RS, "rim": RIM}
_WRAPPER_OPEN: Final = f'<rim:RegistryObjectList xmlns:rim="{RIM}">'
_WRAPPER_CLOSE: Final = "</rim:RegistryObjectList>"

T_SLOT = rim("Slot")
T_VALUE_LIST = rim("ValueList")
T_VALUE = rim("Value")


@dataclass(frozen=True, slots=True)
class AdhocQuery:
    """A stored-query request as received: query id, response options, raw parameter Slots in order."""

    query_id: str
    return_type: str
    return_composed_objects: bool
    home: str | None
    slots: tuple[Slot, ...]

    def slot_values(self, name: str) -> tuple[tuple[str, ...], ...]:
        """The values of every Slot named ``name``, one tuple per Slot (several Slots mean AND)."""
        return tuple(slot.values for slot in self.slots if slot.name == name)


def _malformed(message: str, location: str = "AdhocQueryRequest") -> XdsError:
    return XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, message, location)


_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}


def decode_adhoc_query(element: etree._Element) -> AdhocQuery:
    """Read a ``query:AdhocQueryRequest``; raise ``XdsError`` when it is not a usable request."""
    if element.tag != query("AdhocQueryRequest"):
        raise _malformed(f"expected query:AdhocQueryRequest, got {element.tag}")
    option = element.find(query("ResponseOption"))
    if option is None:
        raise _malformed("query:ResponseOption missing", "AdhocQueryRequest/ResponseOption")
    # ebRS 3.0 defaults (query.xsd ResponseOptionType); the query engine decides which are acceptable.
    return_type = option.get("returnType", "RegistryObject")
    composed_text = option.get("returnComposedObjects", "false").strip()
    composed = _BOOLEANS.get(composed_text)
    if composed is None:
        raise _malformed(
            f"returnComposedObjects must be true or false, got {composed_text!r}",
            "AdhocQueryRequest/ResponseOption",
        )
    adhoc = element.find(rim("AdhocQuery"))
    if adhoc is None:
        raise _malformed("rim:AdhocQuery missing", "AdhocQueryRequest/AdhocQuery")
    query_id = adhoc.get("id")
    if not query_id:
        raise XdsError.single(
            ErrorCode.UNKNOWN_STORED_QUERY, "rim:AdhocQuery has no id (stored query UUID)", "AdhocQuery/@id"
        )
    slots: list[Slot] = []
    for slot in adhoc.iterchildren(T_SLOT):
        name = slot.get("name")
        if not name:
            raise _malformed("a query parameter Slot has no name", f"AdhocQuery {query_id}: Slot")
        values = tuple(
            value.text or ""
            for value_list in slot.iterchildren(T_VALUE_LIST)
            for value in value_list.iterchildren(T_VALUE)
        )
        slots.append(Slot(name, values))
    return AdhocQuery(query_id, return_type, composed, adhoc.get("home"), tuple(slots))


def _set_slot(obj: etree._Element, name: str, value: str) -> None:
    """Replace the values of Slot ``name`` (or add it first: Slots lead in ebRIM child order)."""
    for slot in obj.iterchildren(T_SLOT):
        if slot.get("name") == name:
            for old in list(slot):
                slot.remove(old)
            break
    else:
        slot = etree.Element(T_SLOT, name=name)
        obj.insert(0, slot)
    etree.SubElement(etree.SubElement(slot, T_VALUE_LIST), T_VALUE).text = value


def _leaf_objects(leaf_xml: Sequence[str]) -> etree._Element:
    text = _WRAPPER_OPEN + "".join(leaf_xml) + _WRAPPER_CLOSE
    try:
        return etree.fromstring(text, hardened_parser())
    except etree.XMLSyntaxError as exc:  # our own stored XML: a broken row is an internal error
        raise XdsError.single(
            ErrorCode.REGISTRY_ERROR, f"stored metadata is not well-formed: {exc.msg}"
        ) from exc


def adhoc_query_response(
    status: ResponseStatus,
    issues: Sequence[Issue],
    *,
    object_refs: Sequence[str] = (),
    leaf_xml: Sequence[str] = (),
    status_overrides: Mapping[str, str] = _EMPTY,
    folder_last_update: Mapping[str, str] = _EMPTY,
) -> etree._Element:
    """``query:AdhocQueryResponse``: errors (if any), then the RegistryObjectList of LeafClass objects
    (stored XML, with current status and Folder lastUpdateTime) followed by ``rim:ObjectRef`` ids."""
    check_status(status, issues)
    response = etree.Element(query("AdhocQueryResponse"), nsmap=_RESPONSE_NSMAP)
    response.set("status", status.value)
    if issues:
        fill_error_list(etree.SubElement(response, rs("RegistryErrorList")), issues)
    if leaf_xml:
        object_list = _leaf_objects(leaf_xml)
        if status_overrides or folder_last_update:
            for obj in object_list:
                entry_uuid = obj.get("id") or ""
                new_status = status_overrides.get(entry_uuid)
                if new_status is not None:
                    obj.set("status", new_status)
                last_update = folder_last_update.get(entry_uuid)
                if last_update is not None:
                    _set_slot(obj, SlotName.LAST_UPDATE_TIME, last_update)
        response.append(object_list)
    else:
        object_list = etree.SubElement(response, rim("RegistryObjectList"))
    for entry_uuid in object_refs:
        etree.SubElement(object_list, rim("ObjectRef"), id=entry_uuid)
    return response


def decode_remove_objects(element: etree._Element) -> tuple[str, ...]:
    """The ids listed by an ``lcm:RemoveObjectsRequest`` (ITI-62), in document order."""
    if element.tag != lcm("RemoveObjectsRequest"):
        raise _malformed(f"expected lcm:RemoveObjectsRequest, got {element.tag}", "RemoveObjectsRequest")
    ref_list = element.find(rim("ObjectRefList"))
    if ref_list is None:
        raise _malformed(
            "rim:ObjectRefList missing (selection by AdhocQuery is not supported)", "RemoveObjectsRequest"
        )
    ids: list[str] = []
    for position, ref in enumerate(ref_list.iterchildren(rim("ObjectRef")), 1):
        entry_uuid = ref.get("id")
        if not entry_uuid:
            raise _malformed("rim:ObjectRef without an id", f"RemoveObjectsRequest: ObjectRef[{position}]")
        ids.append(entry_uuid)
    return tuple(ids)


__all__ = ["AdhocQuery", "adhoc_query_response", "decode_adhoc_query", "decode_remove_objects"]
