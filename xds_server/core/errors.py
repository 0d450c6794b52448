"""The error catalogue: every error the server reports carries its IHE (or DMP) code and a severity.

Adapters render these (RegistryError on SOAP, OperationOutcome on FHIR); nothing here knows HTTP.

    XdsError                      a request failed; carries one or more Issues
    ├── (raised by validation, use cases, query, policy; the adapters never raise their own codes)
    └── LimitExceeded             refused for its size before any work (counted by reason in /metrics)

An Issue is data, so a validator can collect every problem of a submission before failing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """IHE ITI TF-3 Table 4.2.4.1-2 error codes, plus the ebRS ones ITI-62 uses and our DMP policy codes."""

    REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
    REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
    MISSING_DOCUMENT = "XDSMissingDocument"
    MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
    UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
    PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
    DUPLICATE_UNIQUE_ID_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
    REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
    REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRepositoryDuplicateUniqueIdInMessage"
    NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
    NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
    REGISTRY_DEPRECATED_DOCUMENT_ERROR = "XDSRegistryDeprecatedDocumentError"
    EXTRA_METADATA_NOT_SAVED = "XDSExtraMetadataNotSaved"
    REGISTRY_ERROR = "XDSRegistryError"
    REPOSITORY_ERROR = "XDSRepositoryError"
    REGISTRY_BUSY = "XDSRegistryBusy"
    REGISTRY_OUT_OF_RESOURCES = "XDSRegistryOutOfResources"
    REPOSITORY_OUT_OF_RESOURCES = "XDSRepositoryOutOfResources"
    STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
    STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
    UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
    RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
    UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
    METADATA_UPDATE_ERROR = "XDSMetadataUpdateError"
    METADATA_VERSION_ERROR = "XDSMetadataVersionError"
    METADATA_UPDATE_OPERATION_ERROR = "XDSMetadataUpdateOperationError"
    METADATA_IDENTIFIER_ERROR = "XDSMetadataIdentifierError"
    UNRESOLVED_REFERENCE = "UnresolvedReferenceException"
    REFERENCES_EXIST = "ReferencesExistException"
    UNREFERENCED_OBJECT = "XDSUnreferencedObjectException"
    # DMP access rules (ours, documented in docs/errors.md once the policy lands)
    DMP_ACCESS_DENIED = "DMPAccessDenied"
    DMP_DOCUMENT_TYPE_NOT_ALLOWED = "DMPDocumentTypeNotAllowed"
    DMP_MASKING_CONFLICT = "DMPMaskingConflict"


class Severity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One RegistryError: code, human context (with the offending value), location (object and attribute)."""

    code: ErrorCode
    message: str
    location: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class XdsError(Exception):
    """A request that fails as a whole; every issue is reported together."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        if not self.issues:
            raise ValueError("XdsError needs at least one issue")
        super().__init__("; ".join(f"{i.code}: {i.message}" for i in self.issues))

    @classmethod
    def single(cls, code: ErrorCode, message: str, location: str = "") -> XdsError:
        return cls([Issue(code, message, location)])


class LimitExceeded(XdsError):
    """A request refused because it is larger than a configured bound (metadata size, stored-query
    parameters), before any work is done for it. ``reason`` names the bound for the refusal counters
    (``/metrics``): a fixed word chosen by the code."""

    def __init__(self, issues: Iterable[Issue], reason: str) -> None:
        super().__init__(issues)
        self.reason = reason


def raise_if_errors(issues: Iterable[Issue]) -> tuple[Issue, ...]:
    """Raise when any issue is an error; return the warnings otherwise."""
    collected = tuple(issues)
    if any(i.is_error for i in collected):
        raise XdsError(collected)
    return collected
