"""registry_response / registry_error_list: ebRS 3.0 RegistryResponse with RegistryError entries."""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, Severity
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml import registry_error_list, registry_response, response_status
from xds_server.ebxml.namespaces import rs

ERROR = Issue(
    ErrorCode.UNKNOWN_PATIENT_ID, "patient 'P1^^^&1.2&ISO' is unknown", "SubmissionSet01: patientId"
)
WARNING = Issue(ErrorCode.EXTRA_METADATA_NOT_SAVED, "urn:x not saved", severity=Severity.WARNING)


class TestRegistryResponse:
    def test_success_without_errors(self) -> None:
        response = registry_response(ResponseStatus.SUCCESS, ())
        assert response.tag == rs("RegistryResponse")
        assert response.get("status") == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
        assert len(response) == 0

    def test_failure_lists_every_issue(self) -> None:
        response = registry_response(ResponseStatus.FAILURE, [ERROR, WARNING])
        (error_list,) = response
        assert error_list.tag == rs("RegistryErrorList")
        assert error_list.get("highestSeverity") == Severity.ERROR
        first, second = error_list
        assert first.tag == rs("RegistryError")
        assert dict(first.attrib) == {
            "errorCode": "XDSUnknownPatientId",
            "codeContext": "patient 'P1^^^&1.2&ISO' is unknown",
            "location": "SubmissionSet01: patientId",
            "severity": "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
        }
        assert second.get("severity") == Severity.WARNING
        assert second.get("location") is None  # empty location is left out

    def test_warnings_alone_keep_success(self) -> None:
        response = registry_response(ResponseStatus.SUCCESS, [WARNING])
        assert response.get("status") == ResponseStatus.SUCCESS
        assert response[0].get("highestSeverity") == Severity.WARNING

    def test_partial_success_may_carry_errors(self) -> None:
        response = registry_response(ResponseStatus.PARTIAL_SUCCESS, [ERROR])
        assert response.get("status") == "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"

    def test_success_with_an_error_is_refused(self) -> None:
        with pytest.raises(ValueError, match="Success"):
            registry_response(ResponseStatus.SUCCESS, [ERROR])

    def test_serialises_with_one_namespace_declaration(self) -> None:
        text = etree.tostring(registry_response(ResponseStatus.FAILURE, [ERROR]))
        assert text.count(b"xmlns") == 1


class TestRegistryErrorList:
    def test_standalone(self) -> None:
        error_list = registry_error_list([WARNING])
        assert error_list.tag == rs("RegistryErrorList")
        assert [e.get("errorCode") for e in error_list] == ["XDSExtraMetadataNotSaved"]

    def test_empty_has_no_severity(self) -> None:
        error_list = registry_error_list([])
        assert len(error_list) == 0 and error_list.get("highestSeverity") is None


class TestResponseStatus:
    def test_from_issues(self) -> None:
        assert response_status([]) is ResponseStatus.SUCCESS
        assert response_status([WARNING]) is ResponseStatus.SUCCESS
        assert response_status([WARNING, ERROR]) is ResponseStatus.FAILURE
