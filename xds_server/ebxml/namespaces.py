"""XML namespaces of ebRIM/ebRS 3.0, XDS.b, XOP, SOAP 1.2 and WS-Addressing, and Clark-notation helpers.

Output elements declare only the prefixes they use (``RIM_NSMAP`` for a stored object, ``NSMAP`` for whole
messages), so a stored object's XML stays small and identical wherever it is embedded.
"""

from __future__ import annotations

from typing import Final

RIM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB: Final = "urn:ihe:iti:xds-b:2007"
RMD: Final = "urn:ihe:iti:rmd:2017"
XOP: Final = "http://www.w3.org/2004/08/xop/include"
SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://www.w3.org/2005/08/addressing"
XML: Final = "http://www.w3.org/XML/1998/namespace"

#: Prefixes used on output (input may use any prefix).
NSMAP: Final[dict[str, str]] = {
    "rim": RIM,
    "rs": RS,
    "lcm": LCM,
    "query": QUERY,
    "xdsb": XDSB,
}
RIM_NSMAP: Final[dict[str, str]] = {"rim": RIM}


def rim(local: str) -> str:
    """``{rim-namespace}local``: the tag lxml uses for a rim element."""
    return f"{{{RIM}}}{local}"


def rs(local: str) -> str:
    return f"{{{RS}}}{local}"


def lcm(local: str) -> str:
    return f"{{{LCM}}}{local}"


def query(local: str) -> str:
    return f"{{{QUERY}}}{local}"


XML_LANG: Final = f"{{{XML}}}lang"

__all__ = [
    "LCM",
    "NSMAP",
    "QUERY",
    "RIM",
    "RIM_NSMAP",
    "RMD",
    "RS",
    "SOAP12",
    "WSA",
    "XDSB",
    "XML",
    "XML_LANG",
    "XOP",
    "lcm",
    "query",
    "rim",
    "rs",
]
