"""SOAP 1.2 envelopes with WS-Addressing 1.0: read a request, write a response.

Theory of operation. ``read_envelope`` applies the SOAP 1.2 processing model (part 1, 2.6) in its order, so
the fault a client gets is the one the spec names for the first problem:

1. the bytes go through the hardened parser (``xds_server.xmlparse``): malformed XML, DOCTYPE, entities ->
   Sender;
2. the root must be ``{soap-envelope 1.2}Envelope``: a SOAP 1.1 envelope (or any other Envelope namespace)
   -> VersionMismatch, anything else -> Sender;
3. every header block targeted at this node (no role, ``next`` or ``ultimateReceiver``) carrying
   ``mustUnderstand="true"|"1"`` must be understood: WS-Addressing and WS-Security blocks are, others
   -> MustUnderstand with one ``env:NotUnderstood`` per block;
4. ``wsa:Action`` is required (Sender, subcode wsa:MessageAddressingHeaderRequired); the router checks it is
   known (Sender, subcode wsa:ActionNotSupported); a ``wsa:ReplyTo`` must be anonymous (Sender, subcode
   wsa:OnlyAnonymousAddressSupported): answers always come back on the HTTP response;
5. ``env:Body`` holds exactly one element, the transaction's request.

Faults raised after the MessageID is known carry it, so that the fault answers with ``wsa:RelatesTo``.
A response is written by ``write_envelope``: ``wsa:Action`` = the transaction's response action,
``wsa:RelatesTo`` = the request MessageID, a fresh ``wsa:MessageID``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from xds_server.core.policy import AccessContext
from xds_server.soap.faults import HEADER_REQUIRED, ONLY_ANONYMOUS, FaultCode, SoapFault
from xds_server.soap.mtom import MultipartMessage
from xds_server.soap.namespaces import (
    ROLE_NEXT,
    ROLE_ULTIMATE_RECEIVER,
    SOAP11,
    SOAP12,
    WSA,
    WSA_ANONYMOUS,
    WSSE,
    qname,
)
from xds_server.xmlparse import XmlRejected, parse_xml

_ENVELOPE = qname(SOAP12, "Envelope")
_HEADER = qname(SOAP12, "Header")
_BODY = qname(SOAP12, "Body")
_MUST_UNDERSTAND = qname(SOAP12, "mustUnderstand")
_ROLE = qname(SOAP12, "role")
_OUR_ROLES = frozenset({ROLE_NEXT, ROLE_ULTIMATE_RECEIVER})

#: Header namespaces this node understands whatever the transaction: WS-Addressing (processed here) and
#: WS-Security (its assertion is read by the identity layer; an absent or invalid one is a policy matter).
UNDERSTOOD_NAMESPACES: frozenset[str] = frozenset({WSA, WSSE})


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A SOAP 1.2 request that passed the envelope checks; handlers read ``body`` (the single Body child)."""

    action: str
    message_id: str | None
    body: etree._Element
    header: etree._Element | None = None
    to: str | None = None
    reply_to: str | None = None
    #: the MTOM/XOP multipart/related message the envelope came in (None for plain application/soap+xml);
    #: handlers resolve ``xop:Include/@href`` with ``multipart.resolve(href)``
    multipart: MultipartMessage | None = None
    #: who is asking: set by the router from the verified wsse:Security assertion (soap.security) before
    #: any handler runs; None only for a request no handler has seen
    actor: AccessContext | None = None
    #: the subject (RFC 4514) of the TLS client certificate the request came with (``xds-server serve
    #: --tls-client-ca``; xds_server/transport.py), None over plain HTTP or without one: for handlers and the
    #: audit record, next to (never instead of) the WS-Security identity in ``actor``
    transport_subject: str | None = None

    @property
    def mtom(self) -> bool:
        """The request came as MTOM: the answer uses the same packaging."""
        return self.multipart is not None

    def header_blocks(self, namespace: str, local: str) -> list[etree._Element]:
        """The header blocks with this name (e.g. wsse:Security), in document order."""
        if self.header is None:
            return []
        return [child for child in self.header if child.tag == qname(namespace, local)]


def read_envelope(xml: bytes, *, multipart: MultipartMessage | None = None) -> SoapRequest:
    """Check ``xml`` as a SOAP 1.2 + WS-Addressing request (module docstring); raise ``SoapFault``."""
    try:
        root = parse_xml(xml)
    except XmlRejected as error:
        raise SoapFault.sender(f"the request is not acceptable XML: {error}") from None
    _check_envelope(root)

    header = root.find(_HEADER)
    message_id = _wsa_text(header, "MessageID")
    try:
        if header is not None:
            _check_must_understand(header)
        action = _wsa_text(header, "Action")
        if not action:
            raise SoapFault.sender("the wsa:Action header is required", HEADER_REQUIRED)
        reply_to = _reply_to(header)
        body = _single_body_child(root)
    except SoapFault as fault:
        raise fault.with_relates_to(message_id) from None
    return SoapRequest(
        action=action,
        message_id=message_id,
        body=body,
        header=header,
        to=_wsa_text(header, "To"),
        reply_to=reply_to,
        multipart=multipart,
    )


def write_envelope(action: str, body: etree._Element, *, relates_to: str | None) -> bytes:
    """The response envelope around ``body`` (serialised UTF-8, with XML declaration)."""
    env = etree.Element(_ENVELOPE, nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, _HEADER)
    action_el = etree.SubElement(header, qname(WSA, "Action"))
    action_el.set(_MUST_UNDERSTAND, "true")
    action_el.text = action
    message_id = etree.SubElement(header, qname(WSA, "MessageID"))
    message_id.text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to:
        relates = etree.SubElement(header, qname(WSA, "RelatesTo"))
        relates.text = relates_to
    etree.SubElement(env, _BODY).append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _check_envelope(root: etree._Element) -> None:
    if not isinstance(root.tag, str):
        raise SoapFault.sender("the request is not a SOAP envelope")
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "Envelope":
        raise SoapFault.sender(f"the request root is {local!r}, not a SOAP 1.2 Envelope")
    if namespace == SOAP11:
        raise SoapFault(
            FaultCode.VERSION_MISMATCH, "SOAP 1.1 is not supported: send a SOAP 1.2 envelope", soap11=True
        )
    if namespace != SOAP12:
        raise SoapFault(FaultCode.VERSION_MISMATCH, f"unsupported envelope namespace {namespace!r}")


def _check_must_understand(header: etree._Element) -> None:
    not_understood = []
    for block in header:
        if not isinstance(block.tag, str):
            continue  # comments, processing instructions
        if block.get(_MUST_UNDERSTAND, "false").strip() not in ("true", "1"):
            continue
        if block.get(_ROLE, ROLE_ULTIMATE_RECEIVER) not in _OUR_ROLES:
            continue  # targeted at another node: not ours to understand
        if etree.QName(block).namespace not in UNDERSTOOD_NAMESPACES:
            not_understood.append(block.tag)
    if not_understood:
        names = ", ".join(etree.QName(tag).localname for tag in not_understood)
        raise SoapFault(
            FaultCode.MUST_UNDERSTAND,
            f"header block(s) not understood: {names}",
            not_understood=tuple(not_understood),
        )


def _reply_to(header: etree._Element | None) -> str | None:
    # The answer always travels back on the HTTP response (ITI TF-2x V.3.2: synchronous exchange), so a
    # ReplyTo can only be the anonymous address (WS-Addressing 1.0 SOAP binding, 6.4.1).
    if header is None:
        return None
    address = header.findtext(f"{qname(WSA, 'ReplyTo')}/{qname(WSA, 'Address')}")
    if address is None or not address.strip():
        return None
    address = address.strip()
    if address != WSA_ANONYMOUS:
        raise SoapFault(
            FaultCode.SENDER,
            f"wsa:ReplyTo must be the anonymous address (synchronous exchange only), got {address!r}",
            subcode=ONLY_ANONYMOUS,
        )
    return address


def _single_body_child(root: etree._Element) -> etree._Element:
    body = root.find(_BODY)
    if body is None:
        raise SoapFault.sender("the envelope has no env:Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapFault.sender(f"env:Body must hold exactly one element, found {len(children)}")
    return children[0]


def _wsa_text(header: etree._Element | None, local: str) -> str | None:
    if header is None:
        return None
    text = header.findtext(qname(WSA, local))
    return text.strip() if text and text.strip() else None


#: The WS-Addressing header text (the router reads the action of a header parsed ahead of its body).
wsa_text = _wsa_text

__all__ = ["UNDERSTOOD_NAMESPACES", "SoapRequest", "read_envelope", "write_envelope", "wsa_text"]
