"""A document's content as the patient reads it on the portal: a CDA through a safe XSLT, text as text.

Safe means: the CDA is parsed by the hardened parser (``xmlparse.parse_xml``: no DTD, no entities, no
network); the stylesheet (``cda.xsl``, shipped with the package) runs under an ``XSLTAccessControl`` that
denies every file and network access, so no ``document()`` or ``xsl:include`` can load anything; its output
is then cleaned again here, keeping only an allow-list of elements with no attributes but ``scope`` and
``class`` (no script, no style, no link, no event handler, whatever the input did), and serialised by lxml,
which escapes all text. Jinja then inserts it as already-safe markup.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Final

from lxml import etree
from markupsafe import Markup

from xds_server.xmlparse import XmlRejected, parse_xml

CDA_NAMESPACE: Final = "urn:hl7-org:v3"
_ALLOWED: Final = frozenset(
    {
        "div", "section", "h3", "p", "br", "ul", "ol", "li", "strong", "span", "table", "caption",
        "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "pre",
    }
)  # fmt: skip
_ATTRIBUTES: Final = frozenset({"class", "scope"})
_MAX_BYTES: Final = 5 * 1024 * 1024
_local = threading.local()


def _transform() -> etree.XSLT:
    transform: etree.XSLT | None = getattr(_local, "transform", None)
    if transform is None:  # XSLT objects are not shared between threads
        source = resources.files("xds_server.portal").joinpath("cda.xsl").read_bytes()
        denied = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]  # missing from lxml-stubs
        transform = etree.XSLT(etree.fromstring(source), access_control=denied)
        _local.transform = transform
    return transform


def _clean(element: etree._Element) -> None:
    """Drop what is not on the allow-list (the element and its content), and every other attribute."""
    for child in list(element):
        if not isinstance(child.tag, str) or child.tag not in _ALLOWED:
            element.remove(child)  # comments, PIs and unknown elements go with their content
            continue
        for name in list(child.attrib):
            if name not in _ATTRIBUTES:
                del child.attrib[name]
        _clean(child)


def is_cda(data: bytes) -> bool:
    try:
        root = parse_xml(data[:_MAX_BYTES])
    except XmlRejected:
        return False
    return etree.QName(root).namespace == CDA_NAMESPACE and etree.QName(root).localname == "ClinicalDocument"


def render_cda(data: bytes) -> Markup | None:
    """The CDA as safe HTML, or None when ``data`` is no CDA the portal can show."""
    if len(data) > _MAX_BYTES:
        return None
    try:
        root = parse_xml(data)
    except XmlRejected:
        return None
    if etree.QName(root).namespace != CDA_NAMESPACE or etree.QName(root).localname != "ClinicalDocument":
        return None
    try:
        result = _transform()(etree.ElementTree(root))
    except etree.XSLTError:
        return None
    top = result.getroot()
    if top is None or top.tag != "div":
        return None
    top.attrib.clear()
    top.set("class", "cda")
    _clean(top)
    html = etree.tostring(top, method="html", encoding="unicode")
    return Markup(html)


def render_text(data: bytes, charset: str = "utf-8") -> str:
    """Plain text for the page (Jinja escapes it)."""
    return data[:_MAX_BYTES].decode(charset, errors="replace")


__all__ = ["is_cda", "render_cda", "render_text"]
