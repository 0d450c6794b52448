"""Hardened XML parsing: every byte that reaches the codecs from the network goes through ``parse_xml``.

Theory of operation. XDS messages never need a DTD, so any document type declaration is refused outright:
that closes entity-expansion bombs ("billion laughs"), external entities (XXE, file and network reads) and
DTD-driven default attributes in one rule. Two layers:

1. Before lxml sees the bytes, the prolog (XML declaration, comments, processing instructions, whitespace)
   is skimmed; a ``<!DOCTYPE`` there is rejected without being parsed. This covers ASCII-compatible
   encodings and UTF-16/32, within the first 64 KiB.
2. The lxml parser itself never resolves entities, never loads a DTD, never touches the network and keeps
   libxml2's size limits (``huge_tree=False``); after parsing, a tree that still carries a DTD (an encoding
   the skim could not read) is rejected as well.

lxml parsers are not safe to share between threads, so each thread builds its own.
"""

from __future__ import annotations

import codecs
import threading

from lxml import etree


class XmlRejected(Exception):
    """The input is not acceptable XML; ``reason`` says why in words a client can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_local = threading.local()


def hardened_parser() -> etree.XMLParser:
    """This thread's parser: no entities, no DTD, no network, default libxml2 limits."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            remove_pis=False,
        )
        _local.parser = parser
    return parser


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


#: How much of the input the prolog skim reads. A longer prolog (comments, PIs) is left to the backstop.
_PROLOG_WINDOW = 64 * 1024


#: The first, usual window: an XML declaration and the root's start tag fit in far less.
_FIRST_WINDOW = 1024


def _prolog_text(data: bytes, window: int = _PROLOG_WINDOW) -> str:
    """The start of the document as text, enough to skim the prolog (BOM-aware, else ASCII-compatible)."""
    head = data[: window * 4]
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="ignore")
    if head[:2] in (b"\x00<", b"<\x00"):  # UTF-16 without a BOM
        return head.decode("utf-16-be" if head[0] == 0 else "utf-16-le", errors="ignore")
    return head[:window].decode("latin-1")  # markup characters are ASCII in all such encodings


def _declares_doctype(data: bytes) -> bool:
    """The prolog skim on the first KiB, and on the whole window only when the prolog runs past it: decoding
    the 64 KiB window of every message was 2 % of a submission's CPU."""
    found = _has_doctype(_prolog_text(data, _FIRST_WINDOW))
    if found is None:
        found = _has_doctype(_prolog_text(data))
    return bool(found)


def _has_doctype(text: str) -> bool | None:
    """Walk the prolog (whitespace, XML declaration, comments, PIs) and report a document type declaration;
    None when the text ends inside the prolog (a longer window may tell)."""
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char in " \t\r\n":
            pos += 1
        elif text.startswith("<?", pos):
            close = text.find("?>", pos + 2)
            if close < 0:
                return None  # unterminated here: a longer window, else the parser reports it as malformed
            pos = close + 2
        elif text.startswith("<!--", pos):
            close = text.find("-->", pos + 4)
            if close < 0:
                return None
            pos = close + 3
        elif len(text) - pos < len("<!DOCTYPE") and "<!DOCTYPE".startswith(text[pos:]):
            return None  # cut inside what may be the keyword
        else:
            return text.startswith("<!DOCTYPE", pos)
    return None


def parse_xml(data: bytes) -> etree._Element:
    """Parse ``data`` into its root element, or raise ``XmlRejected`` (DOCTYPE, malformed, empty)."""
    if not data or data.isspace():
        raise XmlRejected("empty document: an XML message body was expected")
    if _declares_doctype(data):
        raise XmlRejected("document type declarations (DOCTYPE) are not accepted in XDS messages")
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"malformed XML: {exc.msg}") from exc
    if root is None:  # lxml returns None for some recoverable empties; we never recover
        raise XmlRejected("empty document: no root element")
    docinfo = root.getroottree().docinfo
    doctype: str = docinfo.doctype  # type: ignore[union-attr]  # lxml-stubs 0.5 lacks DocInfo.doctype
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected("document type declarations (DOCTYPE) are not accepted in XDS messages")
    return root


__all__ = ["XmlRejected", "hardened_parser", "parse_xml"]
