"""SOAP 1.2 + WS-Addressing requests (plain or MTOM/XOP) and response decoding.

A `SecurityHeader` hook, when given, returns one serialized header block (e.g. a `wsse:Security` element)
for an action; it is inserted into every request the runner sends, including the verbatim testkit bodies
(PnrXop), so an identity layer can be switched on without touching the rest of the runner.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import unquote

from lxml import etree

from .xmlutil import SOAP12, WSA, XDSB, XOP, children, descendants, local, parse_xml, text_of, to_bytes

SecurityHeader = Callable[[str], bytes | None]

ACTION_NOT_SUPPORTED = "ActionNotSupported"


@dataclass(frozen=True)
class Request:
    content_type: str
    body: bytes


def envelope(action: str, to: str, body: etree._Element, security: bytes | None = None) -> etree._Element:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soapenv": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    act = etree.SubElement(header, f"{{{WSA}}}Action")
    act.set(f"{{{SOAP12}}}mustUnderstand", "true")
    act.text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    reply = etree.SubElement(header, f"{{{WSA}}}ReplyTo")
    etree.SubElement(reply, f"{{{WSA}}}Address").text = "http://www.w3.org/2005/08/addressing/anonymous"
    dest = etree.SubElement(header, f"{{{WSA}}}To")
    dest.set(f"{{{SOAP12}}}mustUnderstand", "true")
    dest.text = to
    if security:
        header.append(parse_xml(security))
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(body)
    return env


def plain_request(action: str, env: etree._Element) -> Request:
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + to_bytes(env)
    return Request(f'application/soap+xml; charset=UTF-8; action="{action}"', xml)


def mtom_request(action: str, env: etree._Element, attachments: dict[str, tuple[str, bytes]]) -> Request:
    """`attachments`: content id -> (media type, bytes); the envelope already holds the xop:Includes."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_id = f"root.{uuid.uuid4().hex}@conformance.local"
    parts = [
        f"--{boundary}\r\n"
        f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        f"Content-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n".encode(),
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + to_bytes(env) + b"\r\n",
    ]
    for cid, (media, data) in attachments.items():
        parts.append(
            f"--{boundary}\r\nContent-Type: {media}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{cid}>\r\n\r\n".encode()
        )
        parts.append(data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    ctype = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<{root_id}>"; '
        f'start-info="application/soap+xml"; action="{action}"'
    )
    return Request(ctype, b"".join(parts))


def xop_document(doc_id: str, cid: str) -> etree._Element:
    el = etree.Element(f"{{{XDSB}}}Document", nsmap={"xdsb": XDSB})
    el.set("id", doc_id)
    inc = etree.SubElement(el, f"{{{XOP}}}Include", nsmap={"xop": XOP})
    inc.set("href", f"cid:{cid}")
    return el


_HEADER_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Header\b[^>]*>")
_BODY_OPEN = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Body\b[^>]*>")


def insert_header_block(soap_xml: bytes, block: bytes) -> bytes:
    """Insert a header block into a verbatim SOAP message (text-level, so the bytes stay as written)."""
    m = _HEADER_OPEN.search(soap_xml)
    if m:
        return soap_xml[: m.end()] + block + soap_xml[m.end() :]
    b = _BODY_OPEN.search(soap_xml)
    if not b:
        return soap_xml
    prefix = b.group(1)
    header = b"<" + prefix + b"Header>" + block + b"</" + prefix + b"Header>"
    return soap_xml[: b.start()] + header + soap_xml[b.start() :]


# ---------------------------------------------------------------------------------------------- responses


@dataclass
class Response:
    http_status: int
    body: etree._Element | None  # first child of soap:Body
    attachments: dict[str, bytes] = field(default_factory=dict)
    fault_codes: tuple[str, ...] = ()
    fault_reason: str = ""
    error: str = ""  # transport or decoding problem

    @property
    def is_fault(self) -> bool:
        return bool(self.fault_codes or self.fault_reason)

    @property
    def action_not_supported(self) -> bool:
        return any(c.endswith(ACTION_NOT_SUPPORTED) for c in self.fault_codes) or (
            ACTION_NOT_SUPPORTED in self.fault_reason
        )

    def status(self) -> str | None:
        """Success / Failure / PartialSuccess from the (nested) response status attribute."""
        if self.body is None:
            return None
        el = self.body
        if local(el) == "RetrieveDocumentSetResponse":
            rr = [c for c in el if isinstance(c.tag, str) and local(c) == "RegistryResponse"]
            el = rr[0] if rr else el
        raw = el.get("status")
        return raw.rsplit(":", 1)[-1] if raw else None

    def errors(self) -> list[dict[str, str]]:
        if self.body is None:
            return []
        out = []
        for e in descendants(self.body, "RegistryError"):
            out.append(
                {
                    "errorCode": e.get("errorCode", ""),
                    "codeContext": e.get("codeContext", "") or text_of(e),
                    "severity": e.get("severity", "").rsplit(":", 1)[-1],
                    "location": e.get("location", ""),
                }
            )
        return out


def _split_multipart(content_type: str, data: bytes) -> tuple[bytes, dict[str, bytes]]:
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data)
    parts = list(msg.iter_parts()) if msg.is_multipart() else []
    if not parts:
        raise ValueError("multipart response without parts")
    start = msg.get_param("start")
    root = None
    attachments: dict[str, bytes] = {}
    for p in parts:
        cid = (p.get("Content-ID") or "").strip().strip("<>")
        payload = p.get_payload(decode=True)
        data_bytes = payload if isinstance(payload, bytes) else b""
        if root is None and (not start or cid == str(start).strip("<>")):
            root = data_bytes
        else:
            attachments[cid] = data_bytes
    if root is None:
        root = parts[0].get_payload(decode=True) or b""  # type: ignore[assignment]
    return bytes(root), attachments  # type: ignore[arg-type]


def decode_response(http_status: int, content_type: str, data: bytes) -> Response:
    try:
        if content_type.lower().startswith("multipart/"):
            xml, attachments = _split_multipart(content_type, data)
        else:
            xml, attachments = data, {}
        env = parse_xml(xml)
    except Exception as exc:  # any undecodable answer is a result to report, not a crash
        snippet = data[:200].decode("utf-8", "replace")
        return Response(
            http_status, None, error=f"undecodable response (HTTP {http_status}): {exc}: {snippet}"
        )
    if local(env) != "Envelope":
        return Response(http_status, None, error=f"not a SOAP envelope (HTTP {http_status}): <{local(env)}>")
    body = next((c for c in env if isinstance(c.tag, str) and local(c) == "Body"), None)
    first = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if first is not None and local(first) == "Fault":
        codes = tuple(text_of(v) for v in descendants(first, "Value"))
        reason = " ".join(text_of(t) for t in descendants(first, "Text"))
        return Response(http_status, first, attachments, codes or ("Fault",), reason)
    return Response(http_status, first, attachments)


def document_bytes(resp: Response, doc_el: etree._Element) -> bytes:
    """The bytes of an xdsb:Document: its xop:Include attachment or its base64 text."""
    import base64

    inc = children(doc_el, "Include")
    if inc:
        cid = unquote(inc[0].get("href", "")[4:]).strip("<>")
        return resp.attachments.get(cid, b"")
    return base64.b64decode("".join((doc_el.text or "").split()) or b"")
