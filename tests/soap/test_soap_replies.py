"""soap.replies: every outcome of a write transaction is a RegistryResponse (Success with warnings, Failure
with every RegistryError, Failure with one generic error for the unexpected: its details stay in the log)."""

from __future__ import annotations

import logging

import pytest
from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, Severity, XdsError
from xds_server.soap.replies import internal_registry_error, registry_reply, require_submit_objects

RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
INTERNAL = internal_registry_error("nothing was done")


def errors(response: etree._Element) -> list[tuple[str, str, str]]:
    return [
        (e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", "").rsplit(":", 1)[-1])
        for e in response.iter(f"{{{RS}}}RegistryError")
    ]


class TestRegistryReply:
    def test_warnings_make_a_success(self) -> None:
        warning = Issue(ErrorCode.REGISTRY_METADATA_ERROR, "odd but fine", "Document01", Severity.WARNING)
        response = registry_reply("ITI-42", lambda: (warning,), INTERNAL)
        assert response.get("status") == f"{STATUS}Success"
        assert errors(response) == [("XDSRegistryMetadataError", "odd but fine", "Warning")]

    def test_xds_error_lists_every_issue(self) -> None:
        issues = [Issue(ErrorCode.UNKNOWN_PATIENT_ID, "one"), Issue(ErrorCode.REGISTRY_BUSY, "two")]

        def run() -> tuple[Issue, ...]:
            raise XdsError(issues)

        response = registry_reply("ITI-42", run, INTERNAL)
        assert response.get("status") == f"{STATUS}Failure"
        assert errors(response) == [
            ("XDSUnknownPatientId", "one", "Error"),
            ("XDSRegistryBusy", "two", "Error"),
        ]

    def test_unexpected_error_is_one_generic_issue_and_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        def run() -> tuple[Issue, ...]:
            raise RuntimeError("disk on fire: secret detail")

        with caplog.at_level(logging.ERROR, logger="xds_server.soap.replies"):
            response = registry_reply("ITI-57", run, INTERNAL)
        assert response.get("status") == f"{STATUS}Failure"
        assert errors(response) == [
            ("XDSRegistryError", "internal registry error; nothing was done", "Error")
        ]
        assert b"secret" not in etree.tostring(response)
        (record,) = caplog.records
        assert "ITI-57 failed unexpectedly" in record.getMessage() and record.exc_info is not None


class TestRequireSubmitObjects:
    def test_submit_objects_request_passes(self) -> None:
        require_submit_objects(
            "ITI-42", etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest")
        )

    def test_anything_else_is_a_metadata_error_naming_the_transaction(self) -> None:
        body = etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryObjectList")
        with pytest.raises(XdsError) as error:
            require_submit_objects("ITI-57", body)
        (issue,) = error.value.issues
        assert issue.code is ErrorCode.REGISTRY_METADATA_ERROR
        assert (
            issue.message
            == "ITI-57 expects lcm:SubmitObjectsRequest in the SOAP Body, found RegistryObjectList"
        )
