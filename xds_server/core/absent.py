"""What the registry and the repository answer for an object they do not know.

Why these answers live in one module: the DMP access rules answer a reference to a document the caller may
not see (or to an object of another record) with the very RegistryError the registry gives for an absent
object (soap/access.py), so that no code, location or text tells "hidden" from "absent". The use cases
(core/submission.py, core/metadata_update.py, core/usecases/retrieve.py) and the access rules therefore
build these issues with the same functions; tests/e2e/test_dmp_policy.py compares both answers end to end.
"""

from __future__ import annotations

from typing import Literal

from xds_server.core.errors import ErrorCode, Issue
from xds_server.core.metadata import Association
from xds_server.core.validation.context import issue


def unknown_association_end(association: Association, end: Literal["sourceObject", "targetObject"]) -> Issue:
    """ITI-42 / ITI-41: an association end that names neither an object of the submission nor one of the
    registry (located at the association's id, ``source->target`` when it has none)."""
    name = association.entry_uuid or f"{association.source}->{association.target}"
    ref = association.source if end == "sourceObject" else association.target
    return issue(
        ErrorCode.REGISTRY_METADATA_ERROR,
        name,
        end,
        f"{end} {ref} is neither in the submission nor in the registry",
    )


def unknown_logical_id(object_id: str, lid: str) -> Issue:
    """ITI-57: a new version of a logical id the registry does not know."""
    return issue(
        ErrorCode.METADATA_VERSION_ERROR, object_id, "lid", f"no object with logical id {lid} in the registry"
    )


def unknown_status_target(operation: Association, index: int) -> Issue:
    """ITI-57: an availability-status change of an object the registry does not know (located at the
    UpdateAvailabilityStatus association's id, ``UpdateAvailabilityStatus[index]`` when it has none)."""
    return issue(
        ErrorCode.METADATA_UPDATE_ERROR,
        status_operation_name(operation, index),
        "targetObject",
        f"{operation.target} is not in the registry",
    )


def status_operation_name(operation: Association, index: int) -> str:
    """How ITI-57 names its ``index``-th UpdateAvailabilityStatus association (1-based) in errors."""
    return operation.entry_uuid or f"UpdateAvailabilityStatus[{index}]"


def unknown_object(object_id: str) -> Issue:
    """ITI-62: a RemoveObjectsRequest naming no registry object."""
    return Issue(ErrorCode.UNRESOLVED_REFERENCE, f"{object_id} is not an object of the registry", object_id)


def unknown_document(unique_id: str) -> Issue:
    """ITI-43: a DocumentRequest naming a uniqueId this repository does not hold."""
    return Issue(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, f"no document with uniqueId {unique_id!r}", unique_id)


__all__ = [
    "status_operation_name",
    "unknown_association_end",
    "unknown_document",
    "unknown_logical_id",
    "unknown_object",
    "unknown_status_target",
]
