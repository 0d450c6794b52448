"""Errors of the FHIR face -> OperationOutcome + HTTP status (the one place the FHIR face renders errors).

    FhirError                 an HTTP status and the OperationOutcome issues to send
      from_xds_error()        core errors (XdsError: IHE codes) -> status picked from the first error's code
      from_identity_error()   no or bad credential -> 401 (the route adds ``WWW-Authenticate: Bearer``)

Each issue carries the IHE / XDS error code (``XDSUnknownPatientId``, ``PartialFolderContentNotProcessed``
...) in ``details.coding`` (system ``ERROR_CODE_SYSTEM``) and the message in ``diagnostics``, so a client can
act on the code and a person can read the text. The core never names an HTTP status (style.md habit 2):
the table below is the FHIR face's reading of the IHE codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.identity import IdentityError

#: The code system of the XDS / MHD error codes in ``OperationOutcome.issue.details.coding``. IHE publishes
#: no FHIR CodeSystem for the XDS error codes; this URN names the ebRS error code list they come from.
ERROR_CODE_SYSTEM: Final = "urn:oasis:names:tc:ebxml-regrep:ErrorCode"

#: HTTP status per IHE error code (the first error of an XdsError decides). Unlisted codes: 400.
_STATUS: Final[dict[str, int]] = {
    ErrorCode.UNKNOWN_PATIENT_ID: 404,
    ErrorCode.DMP_ACCESS_DENIED: 403,
    ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED: 403,
    ErrorCode.DMP_MASKING_CONFLICT: 409,
    ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY: 409,
    ErrorCode.REGISTRY_BUSY: 503,
    ErrorCode.REGISTRY_OUT_OF_RESOURCES: 503,
    ErrorCode.REPOSITORY_OUT_OF_RESOURCES: 503,
    ErrorCode.TOO_MANY_RESULTS: 422,
    ErrorCode.REGISTRY_ERROR: 500,
    ErrorCode.REPOSITORY_ERROR: 500,
    ErrorCode.METADATA_VERSION_ERROR: 409,
    ErrorCode.UNRESOLVED_REFERENCE: 422,
    ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR: 422,
}

#: FHIR issue-type per IHE code (http://hl7.org/fhir/issue-type); unlisted: ``invalid``.
_ISSUE_TYPE: Final[dict[str, str]] = {
    ErrorCode.UNKNOWN_PATIENT_ID: "not-found",
    ErrorCode.DMP_ACCESS_DENIED: "forbidden",
    ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED: "forbidden",
    ErrorCode.DMP_MASKING_CONFLICT: "conflict",
    ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY: "duplicate",
    ErrorCode.REGISTRY_BUSY: "transient",
    ErrorCode.REGISTRY_OUT_OF_RESOURCES: "transient",
    ErrorCode.REPOSITORY_OUT_OF_RESOURCES: "transient",
    ErrorCode.TOO_MANY_RESULTS: "too-costly",
    ErrorCode.REGISTRY_ERROR: "exception",
    ErrorCode.REPOSITORY_ERROR: "exception",
    ErrorCode.METADATA_VERSION_ERROR: "conflict",
}


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue``: FHIR severity and issue-type, the text, and the IHE code if any."""

    code: str
    diagnostics: str
    severity: str = "error"
    error_code: str | None = None
    expression: str | None = None

    def as_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.error_code:
            issue["details"] = {
                "coding": [{"system": ERROR_CODE_SYSTEM, "code": self.error_code}],
                "text": self.error_code,
            }
        if self.diagnostics:
            issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


class FhirError(Exception):
    """An answer that is an OperationOutcome: ``status`` and the issues (at least one)."""

    def __init__(
        self, status: int, issues: Sequence[OutcomeIssue], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.status = status
        self.issues = tuple(issues)
        self.headers = dict(headers or {})

    @classmethod
    def single(
        cls,
        status: int,
        code: str,
        diagnostics: str,
        *,
        error_code: str | None = None,
        expression: str | None = None,
    ) -> FhirError:
        return cls(status, [OutcomeIssue(code, diagnostics, error_code=error_code, expression=expression)])

    @classmethod
    def not_found(cls, diagnostics: str) -> FhirError:
        return cls.single(404, "not-found", diagnostics)

    @classmethod
    def invalid(cls, diagnostics: str, *, error_code: str | None = None, status: int = 400) -> FhirError:
        return cls.single(status, "invalid", diagnostics, error_code=error_code)


def outcome_json(issues: Iterable[OutcomeIssue]) -> dict[str, Any]:
    """The OperationOutcome resource (FHIR R4 JSON shape)."""
    return {"resourceType": "OperationOutcome", "issue": [i.as_json() for i in issues]}


def issue_of(issue: Issue) -> OutcomeIssue:
    """A core issue as an OperationOutcome issue (warnings stay warnings)."""
    return OutcomeIssue(
        _ISSUE_TYPE.get(issue.code, "invalid"),
        issue.message,
        severity="error" if issue.is_error else "warning",
        error_code=str(issue.code),
        expression=issue.location or None,
    )


def status_of(issues: Sequence[Issue]) -> int:
    errors = [i for i in issues if i.is_error] or list(issues)
    return _STATUS.get(errors[0].code, 400) if errors else 400


def from_xds_error(error: XdsError) -> FhirError:
    issues = list(error.issues)
    return FhirError(status_of(issues), [issue_of(i) for i in issues])


def from_identity_error(error: IdentityError) -> FhirError:
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750: ``invalid_token`` when a token was sent)."""
    return FhirError(
        401,
        [OutcomeIssue("login", error.message, error_code=error.fault.local_name)],
        headers={"WWW-Authenticate": 'Bearer realm="xds-server", error="invalid_token"'},
    )


__all__ = [
    "ERROR_CODE_SYSTEM",
    "FhirError",
    "OutcomeIssue",
    "from_identity_error",
    "from_xds_error",
    "issue_of",
    "outcome_json",
    "status_of",
]
