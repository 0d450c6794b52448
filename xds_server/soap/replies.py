"""The RegistryResponse of a write transaction (ITI-41, ITI-42, ITI-57, ITI-62), whatever happens in it.

A handler hands ``registry_reply`` the work of the request (decode, then the use case inside its database
transaction) as a callable returning the warnings. Every outcome is a RegistryResponse, never a fault:

    returns warnings         Success, the warnings as RegistryErrors of severity Warning
    raises XdsError          Failure listing every RegistryError (the transaction block rolled back)
    raises anything else     Failure with ONE generic RegistryError (XDSRegistryError, or XDSRepositoryError
                             for ITI-41); the traceback is logged here and never sent
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from lxml import etree

from xds_server import metrics
from xds_server.core.errors import ErrorCode, Issue, LimitExceeded, XdsError
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.limits import MetadataLimits, check_metadata_limits
from xds_server.ebxml.namespaces import LCM
from xds_server.ebxml.responses import registry_response
from xds_server.wiring import Services

log = logging.getLogger(__name__)

_SUBMIT_OBJECTS_REQUEST = f"{{{LCM}}}SubmitObjectsRequest"


def registry_reply(transaction: str, run: Callable[[], Sequence[Issue]], internal: Issue) -> etree._Element:
    """The rs:RegistryResponse of ``run()`` (see the module docstring); ``internal`` is the one issue an
    unexpected exception becomes (it says what was not done: "internal registry error; nothing was ...")."""
    try:
        warnings = run()
    except XdsError as error:
        if isinstance(error, LimitExceeded):
            metrics.refused(error.reason)
        return failure(error.issues)
    except Exception:
        log.exception("%s failed unexpectedly; answered %r", transaction, internal.message)
        return failure([internal])
    return registry_response(ResponseStatus.SUCCESS, list(warnings))


def failure(issues: Sequence[Issue]) -> etree._Element:
    return registry_response(ResponseStatus.FAILURE, list(issues))


def internal_registry_error(nothing_done: str) -> Issue:
    """The generic XDSRegistryError of an unexpected failure, e.g. ``nothing was registered``."""
    return Issue(ErrorCode.REGISTRY_ERROR, f"internal registry error; {nothing_done}")


def metadata_limits(services: Services) -> MetadataLimits:
    settings = services.settings
    return MetadataLimits(
        max_objects=settings.max_metadata_objects,
        max_slots_per_object=settings.max_metadata_slots,
        max_values_per_slot=settings.max_metadata_values,
        max_bytes=settings.max_metadata_bytes,
    )


def check_submission_size(services: Services, body: etree._Element) -> None:
    """The metadata size bounds (ebxml.limits), before anything is decoded or stored."""
    check_metadata_limits(body, metadata_limits(services))


def require_submit_objects(transaction: str, body: etree._Element) -> None:
    """ITI-42 and ITI-57 carry an ``lcm:SubmitObjectsRequest`` in the SOAP Body; XdsError otherwise (the
    decoder alone would also accept a bare RegistryObjectList)."""
    if body.tag != _SUBMIT_OBJECTS_REQUEST:
        raise XdsError.single(
            ErrorCode.REGISTRY_METADATA_ERROR,
            f"{transaction} expects lcm:SubmitObjectsRequest in the SOAP Body, found "
            f"{etree.QName(body).localname}",
        )


__all__ = [
    "check_submission_size",
    "failure",
    "internal_registry_error",
    "metadata_limits",
    "registry_reply",
    "require_submit_objects",
]
