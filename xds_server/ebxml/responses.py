"""ebRS 3.0 responses: ``rs:RegistryResponse`` and its ``rs:RegistryErrorList`` (ITI TF-3 4.2.4).

Each core ``Issue`` becomes one ``rs:RegistryError``: errorCode = the IHE code, codeContext = the human text
(with the offending value), location = object and attribute, severity = the ebRS severity URN. The status is
the caller's decision; warnings alone never turn a Success into a Failure, and a Success that carries an
error is a programming mistake, refused here.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from xds_server.core.errors import Issue, Severity
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.namespaces import RS, rs


def response_status(issues: Sequence[Issue]) -> ResponseStatus:
    """Failure when any issue is an error, Success otherwise (warnings only)."""
    return ResponseStatus.FAILURE if any(i.is_error for i in issues) else ResponseStatus.SUCCESS


def check_status(status: ResponseStatus, issues: Sequence[Issue]) -> None:
    """Refuse a Success that carries errors (a caller bug, never a client's)."""
    if status is ResponseStatus.SUCCESS and any(i.is_error for i in issues):
        raise ValueError("a Success response cannot carry errors (use Failure or PartialSuccess)")


def fill_error_list(error_list: etree._Element, issues: Sequence[Issue]) -> etree._Element:
    """Add ``highestSeverity`` and one ``rs:RegistryError`` per issue to an ``rs:RegistryErrorList``."""
    if issues:
        highest = Severity.ERROR if any(i.is_error for i in issues) else Severity.WARNING
        error_list.set("highestSeverity", highest.value)
    for issue in issues:
        error = etree.SubElement(error_list, rs("RegistryError"))
        error.set("errorCode", issue.code.value)
        error.set("codeContext", issue.message)
        if issue.location:
            error.set("location", issue.location)
        error.set("severity", issue.severity.value)
    return error_list


def registry_error_list(issues: Sequence[Issue]) -> etree._Element:
    """A standalone ``rs:RegistryErrorList`` (also used inside other responses, e.g. ITI-43)."""
    return fill_error_list(etree.Element(rs("RegistryErrorList"), nsmap={"rs": RS}), issues)


def registry_response(status: ResponseStatus, issues: Sequence[Issue] = ()) -> etree._Element:
    """``rs:RegistryResponse status=...`` with a RegistryErrorList when there are issues."""
    check_status(status, issues)
    response = etree.Element(rs("RegistryResponse"), nsmap={"rs": RS})
    response.set("status", status.value)
    if issues:
        fill_error_list(etree.SubElement(response, rs("RegistryErrorList")), issues)
    return response


__all__ = ["check_status", "fill_error_list", "registry_error_list", "registry_response", "response_status"]
