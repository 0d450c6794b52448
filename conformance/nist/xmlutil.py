"""Hardened XML parsing and the namespaces the runner speaks.

Every XML byte string the runner reads (testkit files, server responses) goes through `parse_xml`: no entity
expansion, no DTD loading, no network access.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XOP = "http://www.w3.org/2004/08/xop/include"
XDSB = "urn:ihe:iti:xds-b:2007"
RIM3 = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS3 = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM3 = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY3 = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM21 = "urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1"
RS21 = "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


class XmlError(ValueError):
    """A document could not be parsed."""


def parse_xml(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlError(str(exc)) from exc
    if root is None:
        raise XmlError("empty document")
    return root


def local(el: etree._Element) -> str:
    tag = el.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def ns(el: etree._Element) -> str:
    tag = el.tag
    return etree.QName(tag).namespace or "" if isinstance(tag, str) else ""


def children(el: etree._Element, name: str) -> list[etree._Element]:
    """Child elements with that local name, whatever their namespace."""
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def descendants(el: etree._Element, name: str) -> list[etree._Element]:
    return [d for d in el.iter() if isinstance(d.tag, str) and local(d) == name]


def text_of(el: etree._Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def xml_escape(value: str) -> str:
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def to_bytes(el: etree._Element) -> bytes:
    return etree.tostring(el, encoding="UTF-8", xml_declaration=False)
