"""soap/envelope.py: the SOAP 1.2 processing checks, in order, and the response envelope."""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.soap.envelope import read_envelope, write_envelope
from xds_server.soap.faults import FaultCode, SoapFault
from xds_server.soap.namespaces import SOAP11, SOAP12, WSA, WSSE

ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-b"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"


def envelope(
    *,
    ns: str = SOAP12,
    action: str | None = ACTION,
    message_id: str | None = "urn:uuid:0f6bb3a4-6a86-4c5b-9d57-1b2f1c2a0001",
    extra_headers: str = "",
    body: str = f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}"/>',
) -> bytes:
    headers = []
    if action is not None:
        headers.append(f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>')
    if message_id is not None:
        headers.append(f"<wsa:MessageID>{message_id}</wsa:MessageID>")
    headers.append(extra_headers)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{ns}" xmlns:wsa="{WSA}">'
        f"<env:Header>{''.join(headers)}</env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault_of(data: bytes) -> SoapFault:
    with pytest.raises(SoapFault) as caught:
        read_envelope(data)
    return caught.value


class TestValidRequest:
    def test_reads_action_message_id_and_body(self) -> None:
        request = read_envelope(envelope())
        assert request.action == ACTION
        assert request.message_id == "urn:uuid:0f6bb3a4-6a86-4c5b-9d57-1b2f1c2a0001"
        assert request.body.tag == f"{{{LCM}}}SubmitObjectsRequest"
        assert not request.mtom

    def test_reads_to_and_reply_to(self) -> None:
        extra = (
            "<wsa:To>http://localhost/xds/registry</wsa:To>"
            "<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"
        )
        request = read_envelope(envelope(extra_headers=extra))
        assert request.to == "http://localhost/xds/registry"
        assert request.reply_to == "http://www.w3.org/2005/08/addressing/anonymous"

    def test_whitespace_around_action_is_ignored(self) -> None:
        assert read_envelope(envelope(action=f"\n  {ACTION}  \n")).action == ACTION

    def test_message_id_is_optional(self) -> None:
        assert read_envelope(envelope(message_id=None)).message_id is None


class TestMalformed:
    def test_malformed_xml_is_a_sender_fault(self) -> None:
        fault = fault_of(b"<env:Envelope xmlns:env='" + SOAP12.encode() + b"'><env:Body>")
        assert fault.code is FaultCode.SENDER
        assert fault.http_status == 400
        assert "malformed XML" in fault.reason

    def test_doctype_is_a_sender_fault(self) -> None:
        data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + envelope().split(b"?>", 1)[1]
        fault = fault_of(data)
        assert fault.code is FaultCode.SENDER
        assert "DOCTYPE" in fault.reason

    def test_empty_body_bytes_is_a_sender_fault(self) -> None:
        assert fault_of(b"").code is FaultCode.SENDER

    def test_root_other_than_envelope_is_a_sender_fault(self) -> None:
        fault = fault_of(f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}"/>'.encode())
        assert fault.code is FaultCode.SENDER

    def test_missing_body_is_a_sender_fault(self) -> None:
        data = (
            f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}">'
            f"<env:Header><wsa:Action>{ACTION}</wsa:Action></env:Header></env:Envelope>"
        )
        assert fault_of(data.encode()).code is FaultCode.SENDER

    def test_body_with_two_elements_is_a_sender_fault(self) -> None:
        fault = fault_of(envelope(body="<a/><b/>"))
        assert fault.code is FaultCode.SENDER
        assert "exactly one" in fault.reason


class TestVersionMismatch:
    def test_soap11_envelope(self) -> None:
        fault = fault_of(envelope(ns=SOAP11))
        assert fault.code is FaultCode.VERSION_MISMATCH
        assert fault.soap11
        assert fault.http_status == 500

    def test_unknown_envelope_namespace(self) -> None:
        fault = fault_of(envelope(ns="urn:example:not-soap"))
        assert fault.code is FaultCode.VERSION_MISMATCH
        assert not fault.soap11


class TestMustUnderstand:
    def test_unknown_header_with_must_understand_true(self) -> None:
        extra = '<x:Custom xmlns:x="urn:example" env:mustUnderstand="true"/>'
        fault = fault_of(envelope(extra_headers=extra))
        assert fault.code is FaultCode.MUST_UNDERSTAND
        assert fault.not_understood == ("{urn:example}Custom",)
        assert fault.http_status == 500
        assert fault.relates_to == "urn:uuid:0f6bb3a4-6a86-4c5b-9d57-1b2f1c2a0001"

    def test_must_understand_one_counts_too(self) -> None:
        extra = '<x:Custom xmlns:x="urn:example" env:mustUnderstand="1"/>'
        assert fault_of(envelope(extra_headers=extra)).code is FaultCode.MUST_UNDERSTAND

    def test_unknown_header_without_must_understand_is_ignored(self) -> None:
        extra = '<x:Custom xmlns:x="urn:example" env:mustUnderstand="false"/><y:Other xmlns:y="urn:y"/>'
        assert read_envelope(envelope(extra_headers=extra)).action == ACTION

    def test_header_for_another_role_is_not_ours(self) -> None:
        extra = (
            '<x:Custom xmlns:x="urn:example" env:mustUnderstand="true" '
            'env:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>'
        )
        assert read_envelope(envelope(extra_headers=extra)).action == ACTION

    def test_header_for_ultimate_receiver_is_ours(self) -> None:
        extra = (
            '<x:Custom xmlns:x="urn:example" env:mustUnderstand="true" '
            'env:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"/>'
        )
        assert fault_of(envelope(extra_headers=extra)).code is FaultCode.MUST_UNDERSTAND

    def test_ws_security_and_addressing_are_understood(self) -> None:
        extra = (
            f'<wsse:Security xmlns:wsse="{WSSE}" env:mustUnderstand="true"/>'
            '<wsa:To env:mustUnderstand="1">x</wsa:To>'
        )
        request = read_envelope(envelope(extra_headers=extra))
        assert len(request.header_blocks(WSSE, "Security")) == 1

    def test_must_understand_comes_before_the_action_check(self) -> None:
        extra = '<x:Custom xmlns:x="urn:example" env:mustUnderstand="true"/>'
        assert fault_of(envelope(action=None, extra_headers=extra)).code is FaultCode.MUST_UNDERSTAND


class TestAddressing:
    def test_missing_action_is_a_sender_fault_with_wsa_subcode(self) -> None:
        fault = fault_of(envelope(action=None))
        assert fault.code is FaultCode.SENDER
        assert fault.subcode is not None
        assert (fault.subcode.namespace, fault.subcode.local) == (WSA, "MessageAddressingHeaderRequired")
        assert fault.relates_to == "urn:uuid:0f6bb3a4-6a86-4c5b-9d57-1b2f1c2a0001"

    def test_non_anonymous_reply_to_is_refused(self) -> None:
        extra = "<wsa:ReplyTo><wsa:Address>http://client.example/callback</wsa:Address></wsa:ReplyTo>"
        fault = fault_of(envelope(extra_headers=extra))
        assert fault.code is FaultCode.SENDER
        assert fault.subcode is not None and fault.subcode.local == "OnlyAnonymousAddressSupported"

    def test_no_header_at_all(self) -> None:
        data = f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><a/></env:Body></env:Envelope>'
        assert fault_of(data.encode()).code is FaultCode.SENDER


class TestWriteEnvelope:
    def test_response_carries_action_relates_to_and_a_fresh_message_id(self) -> None:
        body = etree.Element("{urn:example}Answer")
        data = write_envelope("urn:example:Response", body, relates_to="urn:uuid:request")
        root = etree.fromstring(data)
        assert root.tag == f"{{{SOAP12}}}Envelope"
        header = root.find(f"{{{SOAP12}}}Header")
        assert header is not None
        assert header.findtext(f"{{{WSA}}}Action") == "urn:example:Response"
        assert header.findtext(f"{{{WSA}}}RelatesTo") == "urn:uuid:request"
        message_id = header.findtext(f"{{{WSA}}}MessageID")
        assert message_id is not None and message_id.startswith("urn:uuid:")
        assert root.find(f"{{{SOAP12}}}Body/{{urn:example}}Answer") is not None

    def test_round_trip_through_read_envelope(self) -> None:
        body = etree.Element(f"{{{LCM}}}SubmitObjectsRequest")
        request = read_envelope(write_envelope(ACTION, body, relates_to=None))
        assert request.action == ACTION
        assert request.body.tag == body.tag
