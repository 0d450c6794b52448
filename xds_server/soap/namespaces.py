"""XML namespaces of the SOAP layer: SOAP 1.2, SOAP 1.1 (for VersionMismatch only), WS-Addressing 1.0,
WS-Security, XOP."""

from __future__ import annotations

from typing import Final

SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
WSA: Final = "http://www.w3.org/2005/08/addressing"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XOP: Final = "http://www.w3.org/2004/08/xop/include"

#: WS-Addressing 1.0 SOAP binding: [action] of faults the WS-A layer raises, and of any other SOAP fault.
WSA_FAULT_ACTION: Final = f"{WSA}/fault"
SOAP_FAULT_ACTION: Final = f"{WSA}/soap/fault"
WSA_ANONYMOUS: Final = f"{WSA}/anonymous"

#: SOAP 1.2 roles a header block may target that this node plays (SOAP 1.2 part 1, 2.2).
ROLE_NEXT: Final = f"{SOAP12}/role/next"
ROLE_ULTIMATE_RECEIVER: Final = f"{SOAP12}/role/ultimateReceiver"

PREFIXES: Final = {"env": SOAP12, "wsa": WSA}


def qname(namespace: str, local: str) -> str:
    """Clark notation, as lxml spells tags: ``{namespace}local``."""
    return f"{{{namespace}}}{local}"


__all__ = [
    "PREFIXES",
    "ROLE_NEXT",
    "ROLE_ULTIMATE_RECEIVER",
    "SOAP11",
    "SOAP12",
    "SOAP_FAULT_ACTION",
    "WSA",
    "WSA_ANONYMOUS",
    "WSA_FAULT_ACTION",
    "WSSE",
    "XOP",
    "qname",
]
