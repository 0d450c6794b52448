"""soap/faults.py: fault envelopes and their HTTP statuses (SOAP 1.2 part 2, HTTP binding)."""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.soap.faults import (
    ACTION_NOT_SUPPORTED,
    SOAP11_CONTENT_TYPE,
    SOAP12_CONTENT_TYPE,
    FaultCode,
    SoapFault,
    render_fault,
)
from xds_server.soap.namespaces import SOAP11, SOAP12, WSA

ENV = {"env": SOAP12, "wsa": WSA}


def rendered(fault: SoapFault) -> etree._Element:
    body, content_type = render_fault(fault)
    assert content_type == SOAP12_CONTENT_TYPE
    return etree.fromstring(body)


class TestHttpStatus:
    @pytest.mark.parametrize(
        ("code", "status"),
        [
            (FaultCode.SENDER, 400),
            (FaultCode.RECEIVER, 500),
            (FaultCode.VERSION_MISMATCH, 500),
            (FaultCode.MUST_UNDERSTAND, 500),
            (FaultCode.DATA_ENCODING_UNKNOWN, 500),
        ],
    )
    def test_status_per_soap12_http_binding(self, code: FaultCode, status: int) -> None:
        assert SoapFault(code, "x").http_status == status


class TestSoap12Fault:
    def test_code_reason_and_relates_to(self) -> None:
        root = rendered(SoapFault(FaultCode.SENDER, "bad request", relates_to="urn:uuid:1"))
        assert root.xpath("string(env:Body/env:Fault/env:Code/env:Value)", namespaces=ENV) == "env:Sender"
        assert root.xpath("string(env:Body/env:Fault/env:Reason/env:Text)", namespaces=ENV) == "bad request"
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=ENV) == "urn:uuid:1"
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=ENV) == f"{WSA}/soap/fault"

    def test_action_not_supported_subcode_and_problem_action(self) -> None:
        fault = SoapFault(
            FaultCode.SENDER, "unknown", subcode=ACTION_NOT_SUPPORTED, problem_action="urn:example:Unknown"
        )
        root = rendered(fault)
        value = root.xpath("env:Body/env:Fault/env:Code/env:Subcode/env:Value", namespaces=ENV)[0]
        prefix, local = value.text.split(":")
        assert (value.nsmap[prefix], local) == (WSA, "ActionNotSupported")
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=ENV) == f"{WSA}/fault"
        detail = "string(env:Body/env:Fault/env:Detail/wsa:ProblemAction/wsa:Action)"
        assert root.xpath(detail, namespaces=ENV) == "urn:example:Unknown"

    def test_must_understand_lists_not_understood_blocks(self) -> None:
        fault = SoapFault(FaultCode.MUST_UNDERSTAND, "no", not_understood=("{urn:example}Custom",))
        root = rendered(fault)
        block = root.xpath("env:Header/env:NotUnderstood", namespaces=ENV)[0]
        prefix, local = block.get("qname").split(":")
        assert (block.nsmap[prefix], local) == ("urn:example", "Custom")
        assert (
            root.xpath("string(env:Body/env:Fault/env:Code/env:Value)", namespaces=ENV)
            == "env:MustUnderstand"
        )

    def test_version_mismatch_in_soap12_has_an_upgrade_header(self) -> None:
        root = rendered(SoapFault(FaultCode.VERSION_MISMATCH, "wrong"))
        assert root.xpath("env:Header/env:Upgrade/env:SupportedEnvelope/@qname", namespaces=ENV) == [
            "env:Envelope"
        ]


class TestSoap11VersionMismatch:
    def test_answered_in_soap11(self) -> None:
        body, content_type = render_fault(SoapFault(FaultCode.VERSION_MISMATCH, "use 1.2", soap11=True))
        assert content_type == SOAP11_CONTENT_TYPE
        root = etree.fromstring(body)
        assert root.tag == f"{{{SOAP11}}}Envelope"
        ns = {"s": SOAP11, "env": SOAP12}
        assert root.xpath("string(s:Body/s:Fault/faultcode)", namespaces=ns) == "soap:VersionMismatch"
        assert root.xpath("string(s:Body/s:Fault/faultstring)", namespaces=ns) == "use 1.2"
        assert root.xpath("s:Header/env:Upgrade/env:SupportedEnvelope/@qname", namespaces=ns) == [
            "env:Envelope"
        ]
