"""SOAP faults: what the envelope layer raises when it cannot hand a message to a transaction handler.

Transaction-level failures (metadata errors, unknown patients ...) are not faults: they are a RegistryResponse
with status Failure inside a normal 200 answer. A fault means the message itself was unusable:

    SoapFault                     raised by envelope.py / router.py, rendered by ``render_fault``
    ├── env:VersionMismatch       not a SOAP 1.2 envelope (a SOAP 1.1 one is answered in SOAP 1.1)
    ├── env:MustUnderstand        a mustUnderstand header block this node does not understand
    ├── env:Sender                malformed XML, DOCTYPE, no Body, missing or unknown wsa:Action (subcode)
    └── env:Receiver              the server failed (no details leave the server)

HTTP status follows the SOAP 1.2 HTTP binding (part 2, table 20): env:Sender -> 400, every other fault -> 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from xds_server.soap.namespaces import SOAP11, SOAP12, SOAP_FAULT_ACTION, WSA, WSA_FAULT_ACTION, qname


class FaultCode(StrEnum):
    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"
    DATA_ENCODING_UNKNOWN = "DataEncodingUnknown"
    SENDER = "Sender"
    RECEIVER = "Receiver"


@dataclass(frozen=True, slots=True)
class Subcode:
    """A fault subcode QName, e.g. ``wsa:ActionNotSupported``."""

    namespace: str
    local: str
    prefix: str


ACTION_NOT_SUPPORTED = Subcode(WSA, "ActionNotSupported", "wsa")
HEADER_REQUIRED = Subcode(WSA, "MessageAddressingHeaderRequired", "wsa")
INVALID_HEADER = Subcode(WSA, "InvalidAddressingHeader", "wsa")
ONLY_ANONYMOUS = Subcode(WSA, "OnlyAnonymousAddressSupported", "wsa")

SOAP12_CONTENT_TYPE = "application/soap+xml; charset=UTF-8"
SOAP11_CONTENT_TYPE = "text/xml; charset=UTF-8"


class SoapFault(Exception):
    """A message the server cannot process; ``render_fault`` turns it into the answer."""

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        *,
        subcode: Subcode | None = None,
        relates_to: str | None = None,
        problem_action: str | None = None,
        not_understood: tuple[str, ...] = (),
        soap11: bool = False,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.relates_to = relates_to
        #: the unsupported wsa:Action, echoed in wsa:ProblemAction
        self.problem_action = problem_action
        #: Clark-notation names of the header blocks not understood (env:NotUnderstood)
        self.not_understood = not_understood
        #: answer in SOAP 1.1 (only for a VersionMismatch caused by a SOAP 1.1 request)
        self.soap11 = soap11

    @property
    def http_status(self) -> int:
        return 400 if self.code is FaultCode.SENDER else 500

    def with_relates_to(self, message_id: str | None) -> SoapFault:
        """The same fault answering the given request MessageID."""
        self.relates_to = message_id
        return self

    @classmethod
    def sender(cls, reason: str, subcode: Subcode | None = None) -> SoapFault:
        return cls(FaultCode.SENDER, reason, subcode=subcode)


def render_fault(fault: SoapFault) -> tuple[bytes, str]:
    """The fault envelope and its Content-Type."""
    if fault.soap11:
        return _render_soap11_version_mismatch(fault), SOAP11_CONTENT_TYPE
    env = etree.Element(qname(SOAP12, "Envelope"), nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, qname(SOAP12, "Header"))
    wsa_fault = fault.subcode is not None and fault.subcode.namespace == WSA
    _text(header, qname(WSA, "Action"), WSA_FAULT_ACTION if wsa_fault else SOAP_FAULT_ACTION)
    if fault.relates_to:
        _text(header, qname(WSA, "RelatesTo"), fault.relates_to)
    if fault.code is FaultCode.VERSION_MISMATCH:
        header.append(_upgrade_block())
    for index, name in enumerate(fault.not_understood):
        namespace, local = name[1:].split("}", 1) if name.startswith("{") else ("", name)
        prefix = f"nu{index}"
        block = etree.SubElement(header, qname(SOAP12, "NotUnderstood"), nsmap={prefix: namespace})
        block.set("qname", f"{prefix}:{local}" if namespace else local)

    body = etree.SubElement(env, qname(SOAP12, "Body"))
    node = etree.SubElement(body, qname(SOAP12, "Fault"))
    code = etree.SubElement(node, qname(SOAP12, "Code"))
    _text(code, qname(SOAP12, "Value"), f"env:{fault.code.value}")
    if fault.subcode is not None:
        sub = etree.SubElement(code, qname(SOAP12, "Subcode"))
        value = etree.SubElement(
            sub, qname(SOAP12, "Value"), nsmap={fault.subcode.prefix: fault.subcode.namespace}
        )
        value.text = f"{fault.subcode.prefix}:{fault.subcode.local}"
    reason = etree.SubElement(node, qname(SOAP12, "Reason"))
    text = _text(reason, qname(SOAP12, "Text"), fault.reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    if fault.problem_action is not None:
        detail = etree.SubElement(node, qname(SOAP12, "Detail"))
        problem = etree.SubElement(detail, qname(WSA, "ProblemAction"))
        _text(problem, qname(WSA, "Action"), fault.problem_action)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8"), SOAP12_CONTENT_TYPE


def _render_soap11_version_mismatch(fault: SoapFault) -> bytes:
    # SOAP 1.2 part 1, appendix A: answer a SOAP 1.1 sender in SOAP 1.1, with an Upgrade header naming 1.2.
    env = etree.Element(qname(SOAP11, "Envelope"), nsmap={"soap": SOAP11})
    header = etree.SubElement(env, qname(SOAP11, "Header"))
    header.append(_upgrade_block())
    body = etree.SubElement(env, qname(SOAP11, "Body"))
    node = etree.SubElement(body, qname(SOAP11, "Fault"))
    _text(node, "faultcode", "soap:VersionMismatch")
    _text(node, "faultstring", fault.reason)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _upgrade_block() -> etree._Element:
    upgrade = etree.Element(qname(SOAP12, "Upgrade"), nsmap={"env": SOAP12})
    supported = etree.SubElement(upgrade, qname(SOAP12, "SupportedEnvelope"))
    supported.set("qname", "env:Envelope")
    return upgrade


def _text(parent: etree._Element, tag: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = value
    return element


__all__ = [
    "ACTION_NOT_SUPPORTED",
    "HEADER_REQUIRED",
    "INVALID_HEADER",
    "ONLY_ANONYMOUS",
    "SOAP11_CONTENT_TYPE",
    "SOAP12_CONTENT_TYPE",
    "FaultCode",
    "SoapFault",
    "Subcode",
    "render_fault",
]
